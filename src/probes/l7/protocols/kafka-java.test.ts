// The Kafka parser against the Java clients' traffic (kafka-clients 4.1.1 ↔ Kafka 4.1.1:
// the newest versions, flexible encoding with tagged fields in headers and bodies), recorded
// by testdata/kafka/record-java.ts. What the parser counts is compared with the Java
// NetworkClient's own debug log of the same run (testdata/kafka/java-log.jsonl).
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ErrorClass, type L7Record } from "../protocol.ts";
import { isFlexible } from "./kafka-apis.ts";
import { kafkaParser } from "./kafka.ts";
import { loadFixture, replay, tallyByApiWithNoResponse, type ApiTallyWithNoResponse } from "./test-replay.ts";

const dir = join(import.meta.dir, "testdata", "kafka");
const chunks = loadFixture(join(dir, "java-traffic.jsonl"));

interface Logged {
  kind: "request" | "response";
  api: string;
  version: number;
  correlationId: number;
  acks?: number;
  errorCode?: number;
}
const logged = readFileSync(join(dir, "java-log.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as Logged);

/** The Java enum's name (FIND_COORDINATOR) as the protocol spells it (FindCoordinator). */
const protocolName = (javaName: string) => javaName.split("_").map((w) => w[0] + w.slice(1).toLowerCase()).join("");

/** The codes the brokers answered in this recording and how the parser must class them. */
const CODE_CLASS: Record<number, ErrorClass> = {
  0: ErrorClass.None,
  3: ErrorClass.Client, // UNKNOWN_TOPIC_OR_PARTITION (Metadata, DescribeTopicPartitions)
  15: ErrorClass.Server, // COORDINATOR_NOT_AVAILABLE (FindCoordinator)
  36: ErrorClass.Client, // TOPIC_ALREADY_EXISTS (CreateTopics)
  79: ErrorClass.Client, // MEMBER_ID_REQUIRED (JoinGroup)
};

type Tally = Record<string, ApiTallyWithNoResponse>;

const tally = tallyByApiWithNoResponse;

function expected(): Tally {
  const entries: { api: string; noResponse?: boolean; error: ErrorClass }[] = [];
  for (const l of logged) {
    if (l.kind === "request" && l.acks === 0) entries.push({ api: protocolName(l.api), noResponse: true, error: ErrorClass.None });
    if (l.kind !== "response") continue;
    const error = CODE_CLASS[l.errorCode ?? 0];
    if (error === undefined) throw new Error(`the broker answered error code ${l.errorCode}, which this test does not class`);
    entries.push({ api: protocolName(l.api), error });
  }
  return tally(entries);
}

const stats = (sessions: ReturnType<typeof replay>["sessions"]) =>
  sessions.reduce((a, s) => ({ resyncs: a.resyncs + s.stats.resyncs, dropped: a.dropped + s.stats.unansweredDropped, unmatched: a.unmatched + s.stats.unmatchedResponses }), { resyncs: 0, dropped: 0, unmatched: 0 });

describe("kafka parser on recorded Java client ↔ Kafka 4.1.1 traffic (flexible versions)", () => {
  const want = expected();

  test("the recording uses flexible versions of the common APIs and carries errors of both classes", () => {
    const versions = new Map(logged.filter((l) => l.kind === "request").map((l) => [protocolName(l.api), l.version]));
    for (const [api, key] of [["Produce", 0], ["Fetch", 1], ["Metadata", 3], ["FindCoordinator", 10], ["JoinGroup", 11], ["ApiVersions", 18], ["CreateTopics", 19]] as const) {
      expect(isFlexible(key, versions.get(api)!)).toBe(true);
    }
    expect(want.Produce!.noResponse).toBe(5);
    expect(want.Metadata!.client).toBeGreaterThan(0);
    expect(want.DescribeTopicPartitions!.client).toBe(1);
    expect(want.FindCoordinator!.server).toBe(1);
  });

  for (const [label, o] of [
    ["as recorded", {}],
    ["split into 1-byte reads", { split: 1 }],
    ["split into 13-byte reads", { split: 13 }],
    ["captured up to 4096 bytes per read", { cap: 4096 }],
  ] as const) {
    test(`counts per API and errors equal the Java client's (${label})`, () => {
      const { records, sessions } = replay(kafkaParser, chunks, o);
      expect(tally(records)).toEqual(want);
      expect(stats(sessions)).toEqual({ resyncs: 0, dropped: 0, unmatched: 0 });
      for (const r of records as L7Record[]) expect(r.respEndNs).toBeGreaterThanOrEqual(r.reqStartNs);
    });
  }
});

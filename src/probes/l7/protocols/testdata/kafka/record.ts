// Records the Kafka fixture from real traffic: kafkajs (this repo's dependency) against the
// real Apache Kafka broker the Kafka tests start (test/kafka/broker.ts), through the recording
// proxy (../record.ts). The broker advertises the proxy's port, so the client's reconnections
// after Metadata stay on the proxy.
//
//   bun src/probes/l7/protocols/testdata/kafka/record.ts
//
// Writes traffic.jsonl (every connection kafkajs opened) and kafkajs-log.jsonl: kafkajs's own
// debug log of each request it sent and each response it decoded (API, correlation id,
// whether it expected a response, the protocol error it raised): the independent count the
// tests compare with. Workload: topic creation (and a second, failing one), Metadata, Produce
// with acks=1 and acks=0, a consumer group fetching everything, and a producer writing to a
// topic that does not exist (auto-creation off: Metadata answers UNKNOWN_TOPIC_OR_PARTITION).
import { join } from "node:path";
import { writeFileSync } from "node:fs";
import { Kafka, logLevel, type LogEntry } from "kafkajs";
import { withRecordedBroker } from "./recording.ts";

const here = import.meta.dir;
const traffic = join(here, "traffic.jsonl");
const logFile = join(here, "kafkajs-log.jsonl");

interface Logged {
  kind: "request" | "response";
  api: string;
  correlationId: number;
  broker: string;
  expectResponse?: boolean;
  error?: string;
}
const logged: Logged[] = [];
const logCreator = () => (e: LogEntry) => {
  const m = /^(Request|Response) (\w+)\(key: \d+, version: \d+\)$/.exec(e.log.message);
  if (!m || e.namespace !== "Connection") return;
  const entry = e.log as unknown as { correlationId: number; broker: string; expectResponse?: boolean; error?: string };
  // kafkajs logs a failed response twice (error level, then debug with the payload): keep one.
  if (m[1] === "Response" && e.level === logLevel.ERROR) return;
  logged.push({
    kind: m[1] === "Request" ? "request" : "response",
    api: m[2]!,
    correlationId: entry.correlationId,
    broker: entry.broker,
    ...(m[1] === "Request" ? { expectResponse: entry.expectResponse } : {}),
    ...(entry.error !== undefined ? { error: entry.error } : {}),
  });
};

const topic = "l7_orders";
await withRecordedBroker(traffic, async (bootstrap) => {
  const kafka = new Kafka({ clientId: "l7-record", brokers: [bootstrap], logLevel: logLevel.DEBUG, logCreator });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 2 }], waitForLeaders: true });
  // Creating it again: CreateTopics answers TOPIC_ALREADY_EXISTS.
  await admin.createTopics({ topics: [{ topic }] }).catch(() => undefined);
  await admin.fetchTopicMetadata({ topics: [topic] });

  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  for (let i = 0; i < 10; i++) {
    await producer.send({ topic, acks: 1, messages: [{ key: `k${i}`, value: `order ${i}` }, { key: `k${i}b`, value: `order ${i}b` }] });
  }
  for (let i = 0; i < 5; i++) await producer.send({ topic, acks: 0, messages: [{ key: `z${i}`, value: `fire and forget ${i}` }] });
  // In flight together on one connection: several sends without waiting.
  await Promise.all(Array.from({ length: 6 }, (_, i) => producer.send({ topic, acks: 1, messages: [{ key: `p${i}`, value: `parallel ${i}` }] })));

  const want = 20 + 5 + 6;
  const consumer = kafka.consumer({ groupId: "l7-record-group", maxWaitTimeInMs: 100 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  let got = 0;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`consumed ${got} of ${want} messages in 60 s`)), 60_000);
    void consumer.run({
      eachMessage: async () => {
        if (++got === want) {
          clearTimeout(timer);
          // A few more (empty) fetches and heartbeats before leaving the group.
          setTimeout(resolve, 1500);
        }
      },
    });
  });
  await consumer.disconnect();

  const strict = kafka.producer({ allowAutoTopicCreation: false, retry: { retries: 2, initialRetryTime: 50 } });
  await strict.connect();
  await strict.send({ topic: "l7_no_such_topic", messages: [{ value: "lost" }] }).then(
    () => {
      throw new Error("producing to a missing topic succeeded");
    },
    () => undefined,
  );
  await strict.disconnect();
  await producer.disconnect();
  await admin.disconnect();
});
writeFileSync(logFile, logged.map((l) => JSON.stringify(l)).join("\n") + "\n");
const requests = logged.filter((l) => l.kind === "request").length;
console.error(`recorded ${requests} requests (${logged.filter((l) => l.error).length} failed responses) into ${traffic} and ${logFile}`);

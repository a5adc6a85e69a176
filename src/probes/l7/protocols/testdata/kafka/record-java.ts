// Records the second Kafka fixture from real traffic: the Java clients of kafka-clients 4.1.1
// (JavaClients.java: the newest protocol versions, flexible encoding with tagged fields)
// against the real broker, through the recording proxy (recording.ts). Broker-side topic
// auto-creation is off, so the missing topic stays missing.
//
//   bun src/probes/l7/protocols/testdata/kafka/record-java.ts
//
// Writes java-traffic.jsonl and java-log.jsonl: the Java NetworkClient's own debug log of each
// request it sent (API, version, correlation id, acks of a Produce) and each response it
// received with the first non-zero errorCode in it: the independent count the tests compare with.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cacheDir, KAFKA_VERSION } from "../../../../../../test/kafka/broker.ts";
import { withRecordedBroker } from "./recording.ts";

const here = import.meta.dir;
const lib = join(cacheDir(), KAFKA_VERSION, "lib", "*");
const work = mkdtempSync(join(tmpdir(), "l7-kafka-java-"));
const run = (cmd: string[]) => {
  const r = Bun.spawnSync(cmd, { stdout: "inherit", stderr: "inherit" });
  if (r.exitCode !== 0) throw new Error(`${cmd[0]} failed with ${r.exitCode}`);
};
try {
  run(["javac", "-d", work, "-cp", lib, join(here, "JavaClients.java")]);
  const clientLog = join(work, "client.log");
  writeFileSync(
    join(work, "log4j.properties"),
    [
      "log4j.rootLogger=WARN, file",
      "log4j.logger.org.apache.kafka.clients.NetworkClient=DEBUG",
      "log4j.appender.file=org.apache.log4j.FileAppender",
      `log4j.appender.file.File=${clientLog}`,
      "log4j.appender.file.layout=org.apache.log4j.PatternLayout",
      "log4j.appender.file.layout.ConversionPattern=%p %m%n",
    ].join("\n") + "\n",
  );
  await withRecordedBroker(
    join(here, "java-traffic.jsonl"),
    async (bootstrap) => {
      run(["java", `-Dlog4j.configuration=file:${join(work, "log4j.properties")}`, "-cp", `${work}:${lib}`, "JavaClients", bootstrap]);
    },
    { "auto.create.topics.enable": "false" },
  );
  const entries: object[] = [];
  const header = /RequestHeader\(apiKey=(\w+), apiVersion=(\d+), clientId=([^,]*), correlationId=(-?\d+)/;
  for (const line of readFileSync(clientLog, "utf8").split("\n")) {
    const sent = /^DEBUG \[[^\]]*\] Sending \w+ request with header (.*)$/.exec(line);
    const got = /^DEBUG \[[^\]]*\] Received \w+ response from node \S+ for request with header (.*)$/.exec(line);
    const h = header.exec((sent ?? got)?.[1] ?? "");
    if (!h) continue;
    const base = { api: h[1], version: Number(h[2]), clientId: h[3], correlationId: Number(h[4]) };
    if (sent) entries.push({ kind: "request", ...base, ...(h[1] === "PRODUCE" ? { acks: Number(/[({, ]acks=(-?\d+)/.exec(line)?.[1]) } : {}) });
    else entries.push({ kind: "response", ...base, errorCode: Number([...line.matchAll(/[eE]rrorCode=(-?\d+)/g)].map((m) => m[1]).find((c) => c !== "0") ?? 0) });
  }
  writeFileSync(join(here, "java-log.jsonl"), entries.map((e) => JSON.stringify(e)).join("\n") + "\n");
  console.error(`recorded ${entries.length} log entries`);
} finally {
  rmSync(work, { recursive: true, force: true });
}

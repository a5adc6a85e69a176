import { describe, expect, test } from "bun:test";
import { Partitioners, type PartitionMetadata } from "kafkajs";
import { Registry } from "prom-client";
import { defaultConfig } from "../config/defaults.ts";
import type { Logger } from "../log/logger.ts";
import { nicTable } from "../probes/baseinfo/tables.ts";
import type { StoredRow } from "../store/store.ts";
import {
  KafkaOutput,
  RateLimitedLog,
  compressionFor,
  formatKafkajsLog,
  kafkaFromConfig,
  parseBrokers,
  stickyOnRetry,
  type KafkaOutputOptions,
  type KafkaTransport,
} from "./kafka.ts";
import { SinkSet } from "./sink.ts";

function memLog(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const l = (lvl: string) => (m: string) => void lines.push(`${lvl} ${m}`);
  const log = { debug: l("DEBUG"), info: l("INFO"), warn: l("WARN"), error: l("ERROR"), child: () => log, lines };
  return log;
}

/** A broker stand-in: up or down, records what it acknowledged, optional per-send failure. */
class FakeBroker implements KafkaTransport {
  up = true;
  delivered: { topic: string; value: string }[] = [];
  requests = 0;
  failWith: ((values: number) => unknown) | undefined;
  sendDelayMs = 0;
  async connect() {
    if (!this.up) throw Object.assign(new Error("connect ECONNREFUSED"), { type: undefined });
  }
  async send(topics: readonly { topic: string; values: readonly string[] }[]) {
    this.requests++;
    if (this.sendDelayMs) await Bun.sleep(this.sendDelayMs);
    if (!this.up) throw new Error("Connection error: ECONNREFUSED");
    const n = topics.reduce((a, t) => a + t.values.length, 0);
    const err = this.failWith?.(n);
    if (err) throw err;
    for (const t of topics) for (const value of t.values) this.delivered.push({ topic: t.topic, value });
  }
  async disconnect() {}
}

function output(broker: KafkaTransport, o: Partial<KafkaOutputOptions> = {}) {
  const log = memLog();
  const registry = new Registry();
  const out = new KafkaOutput({
    transport: broker,
    target: "fake:9092",
    log,
    maxMessages: 1000,
    maxBytes: 1 << 20,
    batchMessages: 100,
    lingerMs: 1,
    backoffMs: { min: 5, max: 20 },
    flushTimeoutMs: 300,
    registry,
    ...o,
  });
  return { out, log, registry };
}

const until = async (f: () => boolean, ms = 5000) => {
  const end = Date.now() + ms;
  while (!f()) {
    if (Date.now() > end) throw new Error("timed out");
    await Bun.sleep(5);
  }
};

describe("KafkaOutput", () => {
  test("send() returns at once even when the broker never answers", async () => {
    const hung: KafkaTransport = { connect: () => new Promise(() => undefined), send: async () => undefined, disconnect: async () => undefined };
    const { out } = output(hung, { maxMessages: 10_000 });
    const t0 = performance.now();
    for (let i = 0; i < 10_000; i++) out.send("t", `message ${i}`);
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(out.stats().queueMessages).toBe(10_000);
    await out.close();
    expect(out.stats()).toMatchObject({ queued: 10_000, sent: 0, dropped: 10_000, queueMessages: 0 });
    expect(out.stats().droppedBy.shutdown).toBe(10_000);
  });

  test("delivers in order per topic, in batches", async () => {
    const b = new FakeBroker();
    const { out } = output(b, { batchMessages: 7 });
    for (let i = 0; i < 50; i++) out.send(i % 2 ? "odd" : "even", String(i));
    await until(() => b.delivered.length === 50);
    expect(b.delivered.filter((m) => m.topic === "even").map((m) => Number(m.value))).toEqual([...Array(25).keys()].map((i) => i * 2));
    expect(b.delivered.filter((m) => m.topic === "odd").map((m) => Number(m.value))).toEqual([...Array(25).keys()].map((i) => i * 2 + 1));
    expect(b.requests).toBeGreaterThanOrEqual(8);
    expect(out.stats()).toMatchObject({ queued: 50, sent: 50, dropped: 0, failed: 0, queueMessages: 0, connected: true });
    await out.close();
  });

  test("broker down: messages wait, are retried and arrive in order when it is back; the log says so once each way", async () => {
    const b = new FakeBroker();
    b.up = false;
    const { out, log, registry } = output(b);
    for (let i = 0; i < 300; i++) out.send("t", String(i));
    await Bun.sleep(100);
    expect(b.delivered).toEqual([]);
    expect(out.stats().connected).toBe(false);
    b.up = true;
    await until(() => b.delivered.length === 300);
    expect(b.delivered.map((m) => Number(m.value))).toEqual([...Array(300).keys()]);
    // Down while connected: the failed batch goes back to the head.
    b.up = false;
    for (let i = 300; i < 400; i++) out.send("t", String(i));
    await Bun.sleep(100);
    b.up = true;
    await until(() => b.delivered.length === 400);
    expect(b.delivered.map((m) => Number(m.value))).toEqual([...Array(400).keys()]);
    const s = out.stats();
    expect(s).toMatchObject({ queued: 400, sent: 400, dropped: 0 });
    expect(s.failed).toBeGreaterThan(0);
    expect(log.lines.filter((l) => l.startsWith("WARN kafka: cannot deliver to fake:9092"))).toHaveLength(2);
    expect(log.lines.filter((l) => l.includes("reachable again"))).toHaveLength(2);
    const text = await registry.metrics();
    expect(text).toContain('gala_gopher_agent_kafka_sent_total{topic="t"} 400');
    expect(text).toContain('gala_gopher_agent_kafka_dropped_total{topic="t",reason="queue_full"} 0');
    expect(text).toContain("gala_gopher_agent_kafka_queue_messages 0");
    expect(text).toContain("gala_gopher_agent_kafka_connected 1");
    await out.close();
  });

  test("a full queue drops the oldest; dropped = queued - sent exactly, and the newest survive in order", async () => {
    const b = new FakeBroker();
    b.up = false;
    const { out, registry } = output(b, { maxMessages: 10 });
    for (let i = 0; i < 25; i++) out.send("t", String(i));
    let text = await registry.metrics();
    expect(text).toContain('gala_gopher_agent_kafka_dropped_total{topic="t",reason="queue_full"} 15');
    expect(text).toContain("gala_gopher_agent_kafka_queue_messages 10");
    expect(text).toContain("gala_gopher_agent_kafka_queue_limit_messages 10");
    b.up = true;
    await until(() => out.stats().queueMessages === 0);
    expect(b.delivered.map((m) => Number(m.value))).toEqual([15, 16, 17, 18, 19, 20, 21, 22, 23, 24]);
    const s = out.stats();
    expect(s.dropped).toBe(s.queued - s.sent);
    text = await registry.metrics();
    expect(text).toContain('gala_gopher_agent_kafka_queued_total{topic="t"} 25');
    await out.close();
  });

  test("byte cap (queue_buffering_max_kbytes) drops the oldest with reason queue_bytes", async () => {
    const b = new FakeBroker();
    b.up = false;
    const { out } = output(b, { maxBytes: 1024 });
    for (let i = 0; i < 10; i++) out.send("t", "x".repeat(200));
    expect(out.stats().droppedBy.queue_bytes).toBe(5);
    expect(out.stats().queueBytes).toBe(1000);
    await out.close();
  });

  test("too large for the broker: the batch is split; a single message too large is dropped; refused topics are dropped", async () => {
    const b = new FakeBroker();
    b.failWith = (n) => (n > 3 ? { type: "MESSAGE_TOO_LARGE", cause: undefined } : undefined);
    const { out, log } = output(b);
    for (let i = 0; i < 20; i++) out.send("t", `v${i}`);
    await until(() => out.stats().queueMessages === 0);
    expect(b.delivered.map((m) => m.value)).toEqual([...Array(20).keys()].map((i) => `v${i}`));
    expect(log.lines.some((l) => l.includes("refused a batch of"))).toBe(true);
    b.failWith = () => new Error("wrapped", { cause: { type: "RECORD_LIST_TOO_LARGE" } });
    out.send("t", "big");
    await until(() => out.stats().queueMessages === 0);
    expect(out.stats().droppedBy.too_large).toBe(1);
    b.failWith = () => ({ type: "TOPIC_AUTHORIZATION_FAILED" });
    out.send("secret", "a");
    await until(() => out.stats().queueMessages === 0);
    expect(out.stats().droppedBy.rejected).toBe(1);
    expect(log.lines.some((l) => l.startsWith("ERROR kafka: the broker refused 1 message(s) for topic(s) secret"))).toBe(true);
    const s = out.stats();
    expect(s.dropped).toBe(s.queued - s.sent);
    await out.close();
  });

  test("close() flushes what it can within the timeout, then drops the rest as shutdown", async () => {
    const b = new FakeBroker();
    const { out } = output(b);
    for (let i = 0; i < 50; i++) out.send("t", String(i));
    await out.close();
    expect(b.delivered).toHaveLength(50);
    out.send("t", "late");
    expect(out.stats().droppedBy.shutdown).toBe(1);

    const down = new FakeBroker();
    down.up = false;
    const o2 = output(down, { flushTimeoutMs: 100 }).out;
    for (let i = 0; i < 5; i++) o2.send("t", String(i));
    const t0 = Date.now();
    await o2.close();
    expect(Date.now() - t0).toBeLessThan(1500);
    expect(o2.stats()).toMatchObject({ sent: 0, dropped: 5, queueMessages: 0 });
  });

  test("a message above the broker's default maximum is dropped at once as too_large", async () => {
    const b = new FakeBroker();
    const { out } = output(b, { maxBytes: 4 << 20 });
    out.send("t", "x".repeat(1_000_001));
    expect(out.stats().droppedBy.too_large).toBe(1);
    await out.close();
  });
});

describe("channels and configuration", () => {
  const uuid = "4c4c4544-0042-3510-8052-b4c04f4d4e32";
  const row = (values: Record<string, string | number>): StoredRow => ({ labels: "", labelPairs: [], values, updatedAt: 0, cycle: 0, owner: "x" });

  test("no channel on kafka: no producer", () => {
    expect(kafkaFromConfig({ cfg: defaultConfig(), uuid, log: memLog() })).toBeUndefined();
  });

  test("one output for all three channels; messages go to their topics unchanged; close flushes", async () => {
    const cfg = defaultConfig();
    cfg.metric.outChannel = "kafka";
    cfg.event.outChannel = "kafka";
    cfg.meta.outChannel = "kafka";
    cfg.kafka.kafkaBroker = "k1:9092,k2";
    const b = new FakeBroker();
    const log = memLog();
    const k = kafkaFromConfig({ cfg, uuid, log, transport: b, registry: new Registry() })!;
    expect(log.lines[0]).toContain("kafka: producer for k1:9092,k2:9092 (metric → gala_gopher, event → gala_gopher_event, meta → gala_gopher_metadata)");
    const set = new SinkSet([k.sink]);
    expect(set.hasRows).toBe(true);
    set.rows([{ table: nicTable, rows: [row({ dev_name: "eth0", status: "UP", rx_bytes: 5 })] }], 1700000060500);
    set.event('{"Timestamp":1,"x":"y"}');
    set.meta('{"timestamp": 1, "meta_name": "nic"}');
    await set.close();
    expect(b.delivered.map((m) => m.topic)).toEqual(["gala_gopher", "gala_gopher_event", "gala_gopher_metadata"]);
    expect(b.delivered[0]!.value).toStartWith(`{"timestamp": 1700000060000, "machine_id": "${uuid}", "entity_name": "nic", "dev_name": "eth0", "status": "UP", "rx_bytes": "5", "rx_packets": "(null)"`);
    expect(b.delivered[1]!.value).toBe('{"Timestamp":1,"x":"y"}');
    expect(b.delivered[2]!.value).toBe('{"timestamp": 1, "meta_name": "nic"}');
  });

  test("only the channels on kafka get methods: no rows are collected for Kafka when metrics go elsewhere", () => {
    const cfg = defaultConfig();
    cfg.event.outChannel = "kafka";
    const registry = new Registry();
    const k = kafkaFromConfig({ cfg, uuid, log: memLog(), transport: new FakeBroker(), registry })!;
    expect(k.sink.rows).toBeUndefined();
    expect(k.sink.meta).toBeUndefined();
    expect(typeof k.sink.event).toBe("function");
    expect(new SinkSet([k.sink]).hasRows).toBe(false);
    void k.output.close();
  });

  test("zero-valued counters exist per configured topic from the start", async () => {
    const cfg = defaultConfig();
    cfg.meta.outChannel = "kafka";
    const registry = new Registry();
    const k = kafkaFromConfig({ cfg, uuid, log: memLog(), transport: new FakeBroker(), registry })!;
    const text = await registry.metrics();
    expect(text).toContain('gala_gopher_agent_kafka_dropped_total{topic="gala_gopher_metadata",reason="shutdown"} 0');
    expect(text).toContain('gala_gopher_agent_kafka_queued_total{topic="gala_gopher_metadata"} 0');
    await k.output.close();
  });

  test("broker lists and compression codecs", () => {
    expect(parseBrokers("")).toEqual(["localhost:9092"]);
    expect(parseBrokers("a:1, b ,[::1]:9093,[::2],::3")).toEqual(["a:1", "b:9092", "[::1]:9093", "[::2]:9092", "[::3]:9092"]);
    expect(compressionFor("none")).toEqual({ compression: "none" });
    expect(compressionFor("gzip")).toEqual({ compression: "gzip" });
    expect(compressionFor("ZSTD")).toEqual({ compression: "zstd" });
    expect(compressionFor("snappy").compression).toBe("gzip");
    expect(compressionFor("lz4").note).toContain("using gzip");
    expect(compressionFor("brotli")).toMatchObject({ compression: "none" });
  });
});

describe("kafkajs logs", () => {
  test("one line per entry, details without stacks", () => {
    expect(
      formatKafkajsLog({
        namespace: "Connection",
        log: { timestamp: "t", logger: "kafkajs", message: "Connection error: connect ECONNREFUSED", broker: "127.0.0.1:9", stack: "Error…", clientId: "gala-gopher" },
      }),
    ).toBe("kafkajs [Connection] Connection error: connect ECONNREFUSED (broker=127.0.0.1:9, clientId=gala-gopher)");
  });

  test("rate-limited: a burst per window, then one line with the number suppressed", () => {
    let now = 0;
    const log = memLog();
    const r = new RateLimitedLog(log, 3, 60_000, () => now);
    for (let i = 0; i < 100; i++) r.write("error", `e${i}`);
    expect(log.lines).toEqual(["ERROR e0", "ERROR e1", "ERROR e2"]);
    now = 60_000;
    r.write("warn", "later");
    expect(log.lines.slice(3)).toEqual(["WARN kafkajs: 97 more log line(s) suppressed in the last 60 s", "WARN later"]);
  });
});

describe("partitioning of retried requests", () => {
  const partitions = (n: number): PartitionMetadata[] =>
    [...Array(n).keys()].map((partitionId) => ({ partitionId, leader: 1, replicas: [1], isr: [1], partitionErrorCode: 0 }));

  test("a message keeps its first partition when kafkajs retries it; new messages still go round-robin", () => {
    const choose = stickyOnRetry(Partitioners.DefaultPartitioner)();
    const meta = partitions(3);
    // Four messages over three partitions: a plain round-robin would shift each by one on the retry.
    const messages = [...Array(4).keys()].map((i) => ({ value: `m${i}` }));
    const first = messages.map((message) => choose({ topic: "t", partitionMetadata: meta, message }));
    // Round-robin over the three partitions.
    expect(new Set(first).size).toBe(3);
    // The retry (kafkajs re-partitions the same message objects): exactly the same partitions.
    expect(messages.map((message) => choose({ topic: "t", partitionMetadata: meta, message }))).toEqual(first);
    // A fresh message continues the rotation instead of repeating the last partition.
    const next = choose({ topic: "t", partitionMetadata: meta, message: { value: "new" } });
    expect(next).toBe((first[3]! + 1) % 3);
  });

  test("a partition gone from the metadata is chosen again", () => {
    const choose = stickyOnRetry(Partitioners.DefaultPartitioner)();
    const message = { value: "x" };
    const p = choose({ topic: "t", partitionMetadata: partitions(4), message });
    const fewer = partitions(4).filter((x) => x.partitionId !== p);
    const again = choose({ topic: "t", partitionMetadata: fewer, message });
    expect(again).not.toBe(p);
    expect(fewer.map((x) => x.partitionId)).toContain(again);
  });
});

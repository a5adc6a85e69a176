// Kafka egress against a real single-node Apache Kafka broker (test/kafka/broker.ts):
// message contents against /metrics on the bare-metal fixture host, a 30 s broker outage
// with nothing lost, and exact drop counting with a tiny queue while the broker is down.
// Needs java (17+) and mvn (or the cached jars); skipped with the reason otherwise.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Kafka, logLevel } from "kafkajs";
import { Registry } from "prom-client";
import { startAgent, type RunningAgent } from "../../src/daemon.ts";
import { formatEvent } from "../../src/egress/events.ts";
import { KafkaOutput, kafkajsTransport } from "../../src/egress/kafka.ts";
import { metadataMessage } from "../../src/egress/metadata.ts";
import type { Logger } from "../../src/log/logger.ts";
import { baseinfoCpuMemTables } from "../../src/probes/baseinfo/tables.ts";
import type { TableDef } from "../../src/store/table.ts";
import { agentFiles, copyFixture, put, rmrf, scrape, waitFor, which, agentOptions } from "../harness.ts";
import { KafkaBroker, brokerUnavailable } from "../kafka/broker.ts";

const UUID = "4c4c4544-0042-3510-8052-b4c04f4d4e32";
const MID = `${UUID}-192.168.1.20`;

const unavailable = brokerUnavailable();
if (unavailable) console.warn(`[kafka e2e] skipped: ${unavailable}`);
const noOpenssl = unavailable ? undefined : which("openssl") ? undefined : "openssl is not installed (needed for the test CA)";
if (noOpenssl) console.warn(`[kafka e2e] TLS/SASL test skipped: ${noOpenssl}`);

interface Topics {
  metric: string;
  event: string;
  meta: string;
}

let seq = 0;
function topics(tag: string): Topics {
  const t = `${tag}_${Date.now().toString(36)}_${seq++}`;
  return { metric: `m_${t}`, event: `e_${t}`, meta: `x_${t}` };
}

async function startKafkaAgent(bootstrap: string, t: Topics, kafkaExtra = "") {
  const host = copyFixture("bare-metal");
  const files = await agentFiles({
    metricChannel: "kafka",
    eventChannel: "kafka",
    metaChannel: "kafka",
    eventTimeout: 0,
    extra: `kafka = { kafka_broker = "${bootstrap}"; batch_num_messages = 10000; compression_codec = "none"; queue_buffering_max_ms = 5; ${kafkaExtra} };`,
  });
  const conf = readFileSync(files.conf, "utf8")
    .replace('kafka_topic = "gala_gopher";', `kafka_topic = "${t.metric}";`)
    .replace('kafka_topic = "gala_gopher_event";', `kafka_topic = "${t.event}";`)
    .replace('kafka_topic = "gala_gopher_metadata";', `kafka_topic = "${t.meta}";`);
  writeFileSync(files.conf, conf);
  const agent = await startAgent(agentOptions(files, host),
    { GOPHER_LOG_STDERR: "0" },
  );
  return {
    agent,
    files,
    async stop() {
      await agent.stop();
      rmrf(host);
      rmrf(files.dir);
    },
  };
}

/** Every message of a single-partition topic up to its current end, in offset order. */
async function readTopic(bootstrap: string, topic: string, timeoutMs = 30_000): Promise<string[]> {
  const kafka = new Kafka({ clientId: "gg-test-reader", brokers: [bootstrap], logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  const offsets = await admin.fetchTopicOffsets(topic);
  await admin.disconnect();
  const want = offsets.reduce((n, o) => n + Number(o.high) - Number(o.low), 0);
  const got: { partition: number; offset: bigint; value: string }[] = [];
  if (want === 0) return [];
  const consumer = kafka.consumer({ groupId: `gg-test-${topic}-${Math.random().toString(36).slice(2)}`, maxWaitTimeInMs: 100 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ partition, message }) => {
      got.push({ partition, offset: BigInt(message.offset), value: message.value?.toString() ?? "" });
    },
  });
  try {
    await waitFor(`${want} messages on ${topic}`, () => got.length >= want || undefined, timeoutMs, 50);
  } finally {
    await consumer.disconnect();
  }
  got.sort((a, b) => a.partition - b.partition || (a.offset < b.offset ? -1 : a.offset > b.offset ? 1 : 0));
  return got.map((m) => m.value);
}

/** `name{labels} value` of an exposition text as a map (comments skipped). */
/** Waits until the agent's Kafka queue is empty; returns that scrape. */
function queueDrained(metricsPort: number): Promise<string> {
  return waitFor(
    "queue drained",
    async () => {
      const s = await scrape(metricsPort);
      return s.includes("gala_gopher_agent_kafka_queue_messages 0") ? s : undefined;
    },
    30_000,
    200,
  );
}

function seriesOf(text: string, filter: (name: string) => boolean): Map<string, string> {
  const out = new Map<string, string>();
  for (const l of text.split("\n")) {
    if (!l || l.startsWith("#")) continue;
    const sp = l.lastIndexOf(" ");
    const key = l.slice(0, sp);
    if (filter(key)) out.set(key, l.slice(sp + 1));
  }
  return out;
}

function counter(text: string, name: string, labels: string): number {
  const v = seriesOf(text, (k) => k === `${name}{${labels}}`).get(`${name}{${labels}}`);
  if (v === undefined) throw new Error(`no ${name}{${labels}} in /metrics`);
  return Number(v);
}

/** The Prometheus series a Kafka metric message stands for (outputs.md §2.3 for tables without tgid). */
function seriesOfMessage(msg: Record<string, string>, tables: readonly TableDef[]): Map<string, string> {
  const fields = Object.keys(msg).filter((k) => !["timestamp", "machine_id", "entity_name"].includes(k));
  const table = tables.find((t) => t.entity === msg.entity_name && t.fields.length === fields.length && t.fields.every((f) => f.name in msg));
  if (!table) throw new Error(`no table for ${JSON.stringify(msg)}`);
  const labels = table.fields
    .filter((f) => (f.type === "key" || f.type === "label") && msg[f.name] !== "(null)")
    .map((f) => `${f.name}="${msg[f.name]}"`)
    .concat(`machine_id="${MID}"`)
    .join(",");
  const out = new Map<string, string>();
  for (const f of table.fields) {
    if (f.type === "key" || f.type === "label" || msg[f.name] === "(null)") continue;
    out.set(`gala_gopher_${table.entity}_${f.name}{${labels}}`, msg[f.name]!);
  }
  return out;
}

const quietLog: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => quietLog };

describe.if(!unavailable)("Kafka egress against a real broker", () => {
  let broker: KafkaBroker;

  beforeAll(async () => {
    broker = await KafkaBroker.start({ secure: !noOpenssl, log: (s) => console.log(`[kafka e2e] ${s}`) });
  }, 240_000);

  afterAll(async () => {
    await broker?.destroy();
  });

  test("metric, metadata and event channels on Kafka: values equal /metrics, one metadata message per table, the mem event", async () => {
    const t = topics("content");
    const a = await startKafkaAgent(broker.bootstrap, t);
    try {
      // The metrics endpoint keeps serving in kafka mode (docs/compatibility.md).
      expect(a.agent.metricsPort).toBe(a.files.metricsPort);
      const r = await put(a.agent.restPort!, "baseinfo", {
        cmd: { probe: ["cpu", "mem"] },
        params: { report_event: 1, res_upper_thr: 1, report_period: 600 },
        state: "running",
      });
      expect(r.status).toBe(200);
      // One collection (report_period 600): wait until it is in /metrics and the queue is empty.
      const text = await waitFor(
        "first collection delivered",
        async () => {
          const s = await scrape(a.agent.metricsPort!);
          return s.includes("gala_gopher_mem_util{") && s.includes("gala_gopher_agent_kafka_queue_messages 0") && counter(s, "gala_gopher_agent_kafka_sent_total", `topic="${t.metric}"`) > 0
            ? s
            : undefined;
        },
        30_000,
        100,
      );

      // Metric messages: the same values as /metrics, series for series.
      const metricLines = await readTopic(broker.bootstrap, t.metric);
      expect(metricLines.length).toBe(counter(text, "gala_gopher_agent_kafka_queued_total", `topic="${t.metric}"`));
      const fromKafka = new Map<string, string>();
      for (const line of metricLines) {
        expect(line).toMatch(new RegExp(`^\\{"timestamp": \\d+000, "machine_id": "${UUID}", "entity_name": "(cpu|mem)", "`));
        for (const [k, v] of seriesOfMessage(JSON.parse(line), baseinfoCpuMemTables)) fromKafka.set(k, v);
      }
      const fromProm = seriesOf(text, (k) => k.startsWith("gala_gopher_") && !k.startsWith("gala_gopher_agent_"));
      expect(fromProm.size).toBeGreaterThan(20);
      expect(fromKafka).toEqual(fromProm);
      const mem = JSON.parse(metricLines.find((l) => l.includes('"infos": "/proc/meminfo"'))!);
      expect(mem).toMatchObject({ machine_id: UUID, entity_name: "mem", infos: "/proc/meminfo", total_kB: "16265432", util: "42.54" });

      // Metadata: exactly one message per table that reported, in upstream's layout.
      const metaLines = await readTopic(broker.bootstrap, t.meta);
      const reported = new Set(metricLines.map((l) => tableOf(JSON.parse(l))));
      expect(metaLines.map((l) => JSON.parse(l).meta_name).sort()).toEqual([...reported].sort());
      for (const l of metaLines) {
        const m = JSON.parse(l);
        const table = baseinfoCpuMemTables.find((x) => x.name === m.meta_name)!;
        expect(l).toBe(metadataMessage(table, m.timestamp));
      }

      // Events: the mem event, byte-identical to what the event log would hold.
      const eventLines = await readTopic(broker.bootstrap, t.event);
      const memEvent = eventLines.find((l) => l.includes('"metric":"gala_gopher_mem_util"'));
      expect(memEvent).toBeDefined();
      const ev = JSON.parse(memEvent!);
      expect(memEvent).toBe(formatEvent({ entity: "mem", key: "/proc/meminfo", metric: "util", message: "Too high mem utilization(42.54%)." }, MID, ev.Timestamp));
      expect(ev.Attributes.entity_id).toBe(`${MID}_mem_:proc:meminfo`);

      expect(counter(text, "gala_gopher_agent_kafka_dropped_total", `topic="${t.metric}",reason="queue_full"`)).toBe(0);
    } finally {
      await a.stop();
    }
  }, 90_000);

  test.if(!noOpenssl)("TLS with client certificates and SASL PLAIN (additions): delivered; a wrong password is logged and messages stay queued", async () => {
    const sec = broker.secure!;
    const t = topics("secure");
    const keys = (password: string) =>
      `tls = true; ca_file = "${sec.caFile}"; cert_file = "${sec.certFile}"; key_file = "${sec.keyFile}"; ` +
      `sasl_mechanism = "PLAIN"; sasl_username = "${sec.username}"; sasl_password = "${password}";`;
    const bad = await startKafkaAgent(sec.bootstrap, topics("badpw"), keys("wrong"));
    try {
      await put(bad.agent.restPort!, "baseinfo", { cmd: { probe: ["mem"] }, params: { report_period: 600 }, state: "running" });
      const text = await waitFor("a failed attempt", async () => {
        const s = await scrape(bad.agent.metricsPort!);
        return s.includes("gala_gopher_agent_kafka_connected 0") && s.includes("gala_gopher_mem_util{") ? s : undefined;
      }, 20_000, 200);
      expect(Number(seriesOf(text, (k) => k === "gala_gopher_agent_kafka_queue_messages").get("gala_gopher_agent_kafka_queue_messages"))).toBeGreaterThan(0);
      const log = await waitFor("log line", () => {
        const l = readFileSync(join(bad.files.logDir, "debug", "gopher.log"), "utf8");
        return l.includes(`kafka: cannot deliver to ${sec.bootstrap}`) ? l : undefined;
      });
      expect(log).toMatch(/SASL|[Aa]uthentication/);
      expect(log).not.toContain("wrong");
    } finally {
      await bad.stop();
    }

    const a = await startKafkaAgent(sec.bootstrap, t, keys(sec.password));
    try {
      await put(a.agent.restPort!, "baseinfo", { cmd: { probe: ["mem"] }, params: { report_period: 600 }, state: "running" });
      await waitFor("delivered over SASL_SSL", async () => {
        const s = await scrape(a.agent.metricsPort!);
        return s.includes("gala_gopher_agent_kafka_queue_messages 0") && counter(s, "gala_gopher_agent_kafka_sent_total", `topic="${t.metric}"`) >= 2 ? s : undefined;
      }, 20_000, 100);
      const lines = await readTopic(broker.bootstrap, t.metric);
      expect(lines.some((l) => l.includes('"infos": "/proc/meminfo", "total_kB": "16265432"'))).toBe(true);
    } finally {
      await a.stop();
    }
  }, 60_000);

  test("broker stopped for 30 s: the agent keeps serving; every message produced meanwhile arrives, in order", async () => {
    const t = topics("outage");
    const a = await startKafkaAgent(broker.bootstrap, t);
    // Alongside the agent, a second producer sends a numbered message every 10 ms, to see order at volume.
    const seqTopic = `${t.metric}_seq`;
    const numbered = new KafkaOutput({
      transport: kafkajsTransport({ brokers: [broker.bootstrap], compression: "none", log: () => undefined }),
      target: broker.bootstrap,
      log: quietLog,
      maxMessages: 100_000,
      maxBytes: 64 << 20,
      batchMessages: 1000,
      lingerMs: 5,
      registry: new Registry(),
    });
    let n = 0;
    const ticker = setInterval(() => numbered.send(seqTopic, `${n++}`), 10);
    try {
      await put(a.agent.restPort!, "baseinfo", { cmd: { probe: ["cpu", "mem"] }, params: { report_event: 1, res_upper_thr: 1, report_period: 5 }, state: "running" });
      await waitFor("first delivery", async () => counter(await scrape(a.agent.metricsPort!), "gala_gopher_agent_kafka_sent_total", `topic="${t.metric}"`) > 0 || undefined, 20_000, 100);

      await broker.stop();
      const down = Date.now();
      let slowest = 0;
      let text = "";
      while (Date.now() - down < 30_000) {
        const t0 = performance.now();
        text = await scrape(a.agent.metricsPort!);
        const rest = await fetch(`http://127.0.0.1:${a.agent.restPort}/baseinfo`);
        expect(rest.status).toBe(200);
        slowest = Math.max(slowest, performance.now() - t0);
        await Bun.sleep(1000);
      }
      // Nothing stalls while the broker is away; the queue holds what was produced.
      expect(slowest).toBeLessThan(1000);
      expect(text).toContain("gala_gopher_agent_kafka_connected 0");
      expect(counter(text, "gala_gopher_agent_kafka_queued_total", `topic="${t.metric}"`)).toBeGreaterThan(counter(text, "gala_gopher_agent_kafka_sent_total", `topic="${t.metric}"`));
      const queuedDuringOutage = Number(seriesOf(text, (k) => k === "gala_gopher_agent_kafka_queue_messages").get("gala_gopher_agent_kafka_queue_messages"));
      expect(queuedDuringOutage).toBeGreaterThanOrEqual(5 * 7); // ≥ 5 collections of 7 rows, plus events

      await broker.start();
      await Bun.sleep(5000);
      await put(a.agent.restPort!, "baseinfo", { state: "stopped" });
      clearInterval(ticker);
      const final = await queueDrained(a.agent.metricsPort!);
      expect(await numbered.drained(30_000)).toBe(true);

      for (const topic of [t.metric, t.event, t.meta]) {
        const queued = counter(final, "gala_gopher_agent_kafka_queued_total", `topic="${topic}"`);
        const sent = counter(final, "gala_gopher_agent_kafka_sent_total", `topic="${topic}"`);
        expect(sent).toBe(queued);
        for (const reason of ["queue_full", "queue_bytes", "too_large", "rejected"]) {
          expect(counter(final, "gala_gopher_agent_kafka_dropped_total", `topic="${topic}",reason="${reason}"`)).toBe(0);
        }
        const lines = await readTopic(broker.bootstrap, topic);
        expect(new Set(lines).size).toBe(queued);
        if (topic === t.metric) {
          // Rows of one collection share a timestamp; collections arrive in order, across the outage.
          const stamps = lines.map((l) => JSON.parse(l).timestamp as number);
          expect(stamps).toEqual([...stamps].sort((x, y) => x - y));
          const during = stamps.filter((s) => s >= down && s < down + 30_000);
          expect(during.length).toBeGreaterThanOrEqual(5 * 7);
        }
      }
      expect(a.agent.metricsPort).toBeDefined();

      const values = await readTopic(broker.bootstrap, seqTopic);
      const seen = new Set<string>();
      const firsts = values.filter((v) => (seen.has(v) ? false : (seen.add(v), true)));
      if (firsts.length !== values.length) console.log(`[kafka e2e] ${values.length - firsts.length} duplicate(s) after the restart (at-least-once)`);
      expect(firsts).toEqual([...Array(n).keys()].map(String));
      expect(numbered.stats()).toMatchObject({ queued: n, sent: n, dropped: 0 });
      console.log(`[kafka e2e] outage: ${n} numbered messages and ${queuedDuringOutage} agent messages queued at the 30 s mark, all delivered`);
    } finally {
      clearInterval(ticker);
      await numbered.close();
      await a.stop();
      if (!broker.running) await broker.start();
    }
  }, 120_000);

  test("agent started with the broker down and a tiny queue: it serves metrics, and drops are counted exactly", async () => {
    const t = topics("tiny");
    await broker.stop();
    const a = await startKafkaAgent(broker.bootstrap, t, "queue_buffering_max_messages = 10;");
    try {
      expect((await scrape(a.agent.metricsPort!)).includes("gala_gopher_agent_kafka_queue_limit_messages 10")).toBe(true);
      await put(a.agent.restPort!, "baseinfo", { cmd: { probe: ["cpu", "mem"] }, params: { report_event: 1, res_upper_thr: 1, report_period: 5 }, state: "running" });
      // Three collections (t = 0, 5, 10 s) of 7 rows, an event each and 4 metadata messages: far more than 10.
      await Bun.sleep(11_000);
      const before = await scrape(a.agent.metricsPort!);
      expect(before).toContain("gala_gopher_agent_kafka_queue_messages 10");
      expect(before).toContain("gala_gopher_mem_util{");
      const stoppedAt = Date.now();
      await put(a.agent.restPort!, "baseinfo", { state: "stopped" });
      await broker.start();
      const final = await queueDrained(a.agent.metricsPort!);
      let droppedAll = 0;
      let deliveredAll = 0;
      for (const topic of [t.metric, t.event, t.meta]) {
        const queued = counter(final, "gala_gopher_agent_kafka_queued_total", `topic="${topic}"`);
        const dropped = counter(final, "gala_gopher_agent_kafka_dropped_total", `topic="${topic}",reason="queue_full"`);
        const lines = await readTopic(broker.bootstrap, topic).catch(() => [] as string[]);
        const delivered = new Set(lines).size;
        expect(counter(final, "gala_gopher_agent_kafka_sent_total", `topic="${topic}"`)).toBe(delivered);
        expect(dropped).toBe(queued - delivered);
        droppedAll += dropped;
        deliveredAll += delivered;
      }
      // Exactly the queue's ten newest messages survived: the last collection's rows among them.
      expect(deliveredAll).toBe(10);
      expect(droppedAll).toBeGreaterThan(10);
      const metricLines = await readTopic(broker.bootstrap, t.metric);
      const lastStamp = Math.max(...metricLines.map((l) => JSON.parse(l).timestamp as number));
      // Anchored before the broker restart (which takes 5-11 s under load): the collection
      // at ~10 s, about a second before the stop, is among the survivors; the first one
      // (~11 s before the stop) would mean the oldest were kept instead.
      expect(lastStamp).toBeGreaterThan(stoppedAt - 8_000);
    } finally {
      await a.stop();
      if (!broker.running) await broker.start();
    }
  }, 90_000);
});

function tableOf(msg: Record<string, string>): string {
  const fields = Object.keys(msg).filter((k) => !["timestamp", "machine_id", "entity_name"].includes(k));
  return baseinfoCpuMemTables.find((t) => t.entity === msg.entity_name && t.fields.length === fields.length && t.fields.every((f) => f.name in msg))!.name;
}

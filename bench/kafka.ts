// Benchmark of the Kafka egress (src/egress/kafka.ts) against a real local broker
// (test/kafka/broker.ts): the agent's Kafka sink formats metric rows and delivers them.
//   bun bench/kafka.ts [--seconds 30] [--codecs none,gzip,zstd] [--down-seconds 600]
//                      [--rate 2000] [--out FILE.json]
// 1. Throughput: per codec, rows are offered as fast as the sink takes them (the queue is
//    kept between 10k and 20k messages) for --seconds; reports messages/s acknowledged by
//    the broker, MB/s of JSON, CPU and RSS.
// 2. Broker down: the broker is stopped and rows are offered at --rate messages/s for
//    --down-seconds into the shipped queue (100,000 messages): the queue fills, the
//    oldest are dropped and counted, and RSS must stay flat. Then the broker is started
//    again and the time to deliver the queued messages is measured.
// Runs in this process (kafkajs + the sink, as inside the agent); exits 1 when RSS grew by
// more than 10 % between the queue filling up and the end of the outage.
import { writeFileSync } from "node:fs";
import { Registry } from "prom-client";
import { defaultConfig } from "../src/config/defaults.ts";
import { kafkaFromConfig } from "../src/egress/kafka.ts";
import { kafkaMetricMessage } from "../src/egress/kafka-format.ts";
import type { Logger } from "../src/log/logger.ts";
import { nicTable } from "../src/probes/baseinfo/tables.ts";
import type { StoredRow } from "../src/store/store.ts";
import { KafkaBroker, brokerUnavailable } from "../test/kafka/broker.ts";

interface Opts {
  seconds: number;
  codecs: string[];
  downSeconds: number;
  rate: number;
  out?: string;
}

function parseArgs(argv: string[]): Opts {
  const o: Opts = { seconds: 30, codecs: ["none", "gzip", "zstd"], downSeconds: 600, rate: 2000 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const num = () => {
      const v = Number(argv[++i]);
      if (!Number.isFinite(v) || v < 0) throw new Error(`${a} needs a non-negative number`);
      return v;
    };
    if (a === "--seconds") o.seconds = num();
    else if (a === "--down-seconds") o.downSeconds = num();
    else if (a === "--rate") o.rate = num();
    else if (a === "--codecs") o.codecs = (argv[++i] ?? "").split(",").filter(Boolean);
    else if (a === "--out") o.out = argv[++i];
    else if (a === "-h" || a === "--help") {
      console.log("usage: bun bench/kafka.ts [--seconds 30] [--codecs none,gzip,zstd] [--down-seconds 600] [--rate 2000] [--out FILE.json]");
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  return o;
}

const MiB = 1024 * 1024;
const rssMiB = () => process.memoryUsage().rss / MiB;
const heapMiB = () => process.memoryUsage().heapUsed / MiB;
const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => quiet };
const UUID = "4c4c4544-0042-3510-8052-b4c04f4d4e32";

/** `n` nic rows, as baseinfo would emit them, with changing counters. */
function rows(n: number, base: number): StoredRow[] {
  const out: StoredRow[] = [];
  for (let i = 0; i < n; i++) {
    const k = base + i;
    out.push({
      labels: "",
      labelPairs: [],
      updatedAt: 0,
      cycle: 0,
      owner: "bench",
      values: {
        dev_name: `eth${k % 64}`,
        status: "UP",
        rx_bytes: 58324993484 + k,
        rx_packets: 49590277 + k,
        rx_errs: 0,
        rx_dropped: k % 7,
        tx_bytes: 26857829724 + k,
        tx_packets: 19952463 + k,
        tx_errs: 0,
        tx_dropped: 0,
        rxspeed_KB: ((k % 10000) / 100).toFixed(2),
        txspeed_KB: ((k % 777) / 100).toFixed(2),
        tc_sent_drop: 0,
        tc_sent_overlimits: 0,
        tc_backlog: 0,
        tc_ecn_mark: 0,
      },
    });
  }
  return out;
}

function output(bootstrap: string, codec: string) {
  const cfg = defaultConfig(); // shipped queue and batch settings
  cfg.metric.outChannel = "kafka";
  cfg.metric.kafkaTopic = `bench_${codec}_${Date.now().toString(36)}`;
  cfg.kafka.kafkaBroker = bootstrap;
  cfg.kafka.compressionCodec = codec;
  const k = kafkaFromConfig({ cfg, uuid: UUID, log: quiet, registry: new Registry() })!;
  return { ...k, topic: cfg.metric.kafkaTopic };
}

interface Throughput {
  codec: string;
  seconds: number;
  messages: number;
  msgPerSec: number;
  jsonMBPerSec: number;
  cpuPctOfOneCore: number;
  rssMiBMax: number;
  rssMiBEnd: number;
}

async function throughput(bootstrap: string, codec: string, seconds: number): Promise<Throughput> {
  const { output: out, sink } = output(bootstrap, codec);
  // Warm-up: topic creation and the first connection are not part of the figure.
  sink.rows!([{ table: nicTable, rows: rows(100, 0) }], Date.now());
  await out.drained(30_000);
  const sent0 = out.stats().sent;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let base = 100;
  let rssMax = 0;
  let lastSample = 0;
  while (performance.now() - t0 < seconds * 1000) {
    if (out.stats().queueMessages < 10_000) {
      const batch = rows(500, base);
      base += 500;
      sink.rows!([{ table: nicTable, rows: batch }], Date.now());
    } else {
      await Bun.sleep(1);
    }
    if (performance.now() - lastSample > 1000) {
      lastSample = performance.now();
      rssMax = Math.max(rssMax, rssMiB());
    }
  }
  const elapsed = (performance.now() - t0) / 1000;
  const sent = out.stats().sent - sent0;
  const cpu = process.cpuUsage(cpu0);
  // Size of a typical message, for the MB/s figure.
  const bytes = Buffer.byteLength(kafkaMetricMessage(nicTable, rows(1, 12345)[0]!.values, UUID, Date.now()));
  const r: Throughput = {
    codec,
    seconds: Math.round(elapsed),
    messages: sent,
    msgPerSec: Math.round(sent / elapsed),
    jsonMBPerSec: Math.round(((sent * bytes) / 1e6 / elapsed) * 10) / 10,
    cpuPctOfOneCore: Math.round(((cpu.user + cpu.system) / 1e6 / elapsed) * 100),
    rssMiBMax: Math.round(rssMax),
    rssMiBEnd: Math.round(rssMiB()),
  };
  await out.close();
  return r;
}

interface Outage {
  seconds: number;
  rate: number;
  offered: number;
  dropped: number;
  queueAtEnd: number;
  queueLimit: number;
  rssMiB: { at: number; rss: number; heap: number; queue: number }[];
  rssMiBWhenFull: number;
  rssMiBEnd: number;
  rssMiBMax: number;
  growthPctAfterFull: number;
  drainSeconds: number;
  deliveredAfterRestart: number;
}

async function outage(broker: KafkaBroker, seconds: number, rate: number): Promise<Outage> {
  const { output: out, sink } = output(broker.bootstrap, "none");
  sink.rows!([{ table: nicTable, rows: rows(10, 0) }], Date.now());
  await out.drained(30_000);
  await broker.stop();
  const limit = defaultConfig().kafka.queueBufferingMaxMessages;
  const samples: Outage["rssMiB"] = [];
  const t0 = performance.now();
  let offered = 0;
  let base = 10;
  let fullAt: number | undefined;
  let nextSample = 0;
  const perTick = Math.max(1, Math.round(rate / 100)); // every 10 ms
  while (performance.now() - t0 < seconds * 1000) {
    const due = Math.floor(((performance.now() - t0) / 1000) * rate);
    if (due > offered) {
      const n = Math.min(due - offered, perTick * 10);
      sink.rows!([{ table: nicTable, rows: rows(n, base) }], Date.now());
      base += n;
      offered += n;
    }
    const s = out.stats();
    if (fullAt === undefined && s.queueMessages >= limit) fullAt = (performance.now() - t0) / 1000;
    const at = (performance.now() - t0) / 1000;
    if (at >= nextSample) {
      samples.push({ at: Math.round(at), rss: Math.round(rssMiB() * 10) / 10, heap: Math.round(heapMiB() * 10) / 10, queue: s.queueMessages });
      if (nextSample % 60 === 0) console.error(`[bench] outage ${Math.round(at)} s: queue ${s.queueMessages}, dropped ${s.dropped}, RSS ${rssMiB().toFixed(1)} MiB`);
      nextSample += 10;
    }
    await Bun.sleep(10);
  }
  const s = out.stats();
  const full = samples.find((x) => fullAt !== undefined && x.at >= fullAt + 10) ?? samples.at(-1)!;
  const end = samples.at(-1)!;
  const sentBefore = s.sent;
  const r0 = performance.now();
  await broker.start();
  await out.drained(300_000);
  const drainSeconds = Math.round((performance.now() - r0) / 100) / 10;
  const delivered = out.stats().sent - sentBefore;
  await out.close();
  return {
    seconds,
    rate,
    offered,
    dropped: s.dropped,
    queueAtEnd: s.queueMessages,
    queueLimit: limit,
    rssMiB: samples,
    rssMiBWhenFull: full.rss,
    rssMiBEnd: end.rss,
    rssMiBMax: Math.max(...samples.map((x) => x.rss)),
    growthPctAfterFull: Math.round(((end.rss - full.rss) / full.rss) * 1000) / 10,
    drainSeconds,
    deliveredAfterRestart: delivered,
  };
}

const opts = parseArgs(process.argv.slice(2));
const why = brokerUnavailable();
if (why) {
  console.error(`bench/kafka.ts needs a local broker: ${why}`);
  process.exit(2);
}
const broker = await KafkaBroker.start({ log: (s) => console.error(`[bench] ${s}`) });
let failed = false;
try {
  const results: { throughput: Throughput[]; outage?: Outage; bun: string; rssMiBStart: number } = {
    throughput: [],
    bun: Bun.version,
    rssMiBStart: Math.round(rssMiB()),
  };
  for (const codec of opts.codecs) {
    const r = await throughput(broker.bootstrap, codec, opts.seconds);
    console.error(`[bench] ${codec}: ${r.msgPerSec} msg/s (${r.jsonMBPerSec} MB/s of JSON), CPU ${r.cpuPctOfOneCore} % of a core, RSS max ${r.rssMiBMax} MiB`);
    results.throughput.push(r);
  }
  if (opts.downSeconds > 0) {
    const o = await outage(broker, opts.downSeconds, opts.rate);
    results.outage = o;
    console.error(
      `[bench] broker down ${o.seconds} s at ${o.rate} msg/s: ${o.offered} offered, ${o.dropped} dropped (counted), queue ${o.queueAtEnd}/${o.queueLimit}; ` +
        `RSS ${o.rssMiBWhenFull} MiB when full → ${o.rssMiBEnd} MiB at the end (${o.growthPctAfterFull} %), max ${o.rssMiBMax} MiB; ` +
        `${o.deliveredAfterRestart} delivered in ${o.drainSeconds} s after the restart`,
    );
    if (o.growthPctAfterFull > 10) failed = true;
  }
  const text = JSON.stringify(results, null, 2);
  console.log(text);
  if (opts.out) writeFileSync(opts.out, text + "\n");
} finally {
  await broker.destroy();
}
process.exit(failed ? 1 : 0);

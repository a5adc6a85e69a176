// Kafka egress (outputs.md §4): one producer (kafkajs) shared by the metric, event and
// metadata channels. Channels only append to a bounded in-memory queue and return at
// once; one sender loop drains the queue in order, in batches, and retries while the
// broker is unreachable. What does not fit the queue is dropped oldest-first and counted
// in gala_gopher_agent_kafka_* (DECISIONS.md: drops are counted, never silent).
import { readFileSync } from "node:fs";
import type { ConnectionOptions } from "node:tls";
import { CompressionCodecs, CompressionTypes, Kafka, Partitioners, logLevel as KafkaLogLevel, type ICustomPartitioner, type LogEntry, type Producer, type SASLOptions } from "kafkajs";
import { Counter, Gauge, Registry } from "./prom.ts";
import type { AgentConfig } from "../config/types.ts";
import type { Logger } from "../log/logger.ts";
import { kafkaMetricMessage } from "./kafka-format.ts";
import { BoundedQueue, DROP_REASONS, message, type DropReason, type QueuedMessage } from "./kafka-queue.ts";
import type { OutputSink, RowBatch } from "./sink.ts";
import { errorText } from "../log/error-text.ts";

// ---- transport ---------------------------------------------------------------------------

/** What the sender needs from a Kafka client; kafkajs in production, a fake in unit tests. */
export interface KafkaTransport {
  connect(): Promise<void>;
  /** Sends the messages of each topic in order; resolves when the broker acknowledged all. */
  send(topics: readonly { topic: string; values: readonly string[] }[]): Promise<void>;
  disconnect(): Promise<void>;
}

export type KafkaCompression = "none" | "gzip" | "zstd";

export interface KafkaClientOptions {
  brokers: string[];
  compression: KafkaCompression;
  ssl?: ConnectionOptions | boolean;
  sasl?: SASLOptions;
  clientId?: string;
  /** Agent log level: kafkajs logs at INFO when it is debug, else at WARN. */
  verbose?: boolean;
  /** kafkajs log lines go here (already rate-limited by the caller). */
  log: (level: "error" | "warn" | "info" | "debug", msg: string) => void;
}

let zstdRegistered = false;
/** Kafka's zstd is plain zstd frames; Bun has them natively. */
function registerZstd(): void {
  if (zstdRegistered) return;
  zstdRegistered = true;
  CompressionCodecs[CompressionTypes.ZSTD] = () => ({
    async compress(encoder: { buffer: Buffer }) {
      return Buffer.from(Bun.zstdCompressSync(encoder.buffer, { level: 3 }));
    },
    async decompress(buffer: Buffer) {
      return Buffer.from(Bun.zstdDecompressSync(buffer));
    },
  });
}

function kafkajsLevel(l: KafkaLogLevel): "error" | "warn" | "info" | "debug" {
  if (l === KafkaLogLevel.ERROR) return "error";
  if (l === KafkaLogLevel.WARN) return "warn";
  if (l === KafkaLogLevel.INFO) return "info";
  return "debug";
}

/** One kafkajs log entry as one agent log line: `kafkajs [Namespace] message (k=v, …)`. */
export function formatKafkajsLog(e: Pick<LogEntry, "namespace" | "log">): string {
  const { message: msg, timestamp: _t, logger: _l, stack: _s, ...extra } = e.log as Record<string, unknown>;
  const details = Object.entries(extra)
    .filter(([, v]) => v !== undefined && typeof v !== "object")
    .map(([k, v]) => `${k}=${String(v)}`);
  return `kafkajs${e.namespace ? ` [${e.namespace}]` : ""} ${String(msg)}${details.length ? ` (${details.join(", ")})` : ""}`;
}

/** Errors of InitProducerId from brokers that cannot (or may not) give an idempotent producer. */
const NO_IDEMPOTENCE = new Set(["UNSUPPORTED_VERSION", "CLUSTER_AUTHORIZATION_FAILED", "UNSUPPORTED_FOR_MESSAGE_FORMAT"]);
const LIMITED_RETRIES_WARNING = "Limiting retries for the idempotent producer may invalidate EoS guarantees";

/**
 * The partitioner, except that a message keeps the partition it got at its first attempt
 * when kafkajs retries the request: the broker's de-duplication of an idempotent producer
 * is per partition, so a retried message must go where its first attempt went.
 */
export function stickyOnRetry(base: ICustomPartitioner): ICustomPartitioner {
  return () => {
    const choose = base();
    const chosen = new WeakMap<object, number>();
    return (args) => {
      const had = chosen.get(args.message);
      if (had !== undefined && args.partitionMetadata.some((p) => p.partitionId === had)) return had;
      const p = choose(args);
      chosen.set(args.message, p);
      return p;
    };
  };
}

export function kafkajsTransport(o: KafkaClientOptions): KafkaTransport {
  if (o.compression === "zstd") registerZstd();
  const compression =
    o.compression === "gzip" ? CompressionTypes.GZIP : o.compression === "zstd" ? CompressionTypes.ZSTD : CompressionTypes.None;
  const kafka = new Kafka({
    clientId: o.clientId ?? "gala-gopher",
    brokers: o.brokers,
    ssl: o.ssl,
    sasl: o.sasl,
    connectionTimeout: 3000,
    requestTimeout: 10_000,
    // The sender loop retries on its own (with back-off and without a deadline).
    retry: { retries: 1, initialRetryTime: 100, maxRetryTime: 1000 },
    logLevel: o.verbose ? KafkaLogLevel.INFO : KafkaLogLevel.WARN,
    logCreator: () => (e) => {
      // Said at every producer creation; the bounded retries are deliberate (see the producer).
      if (e.log.message === LIMITED_RETRIES_WARNING) return;
      o.log(kafkajsLevel(e.level), formatKafkajsLog(e));
    },
  });
  let producer: Producer | undefined;
  // Idempotent unless the broker cannot do it (Kafka < 0.11, or < 2.8 without the
  // IdempotentWrite ACL): then plain at-least-once retries, said once in the log.
  let idempotent = true;
  const newProducer = () =>
    kafka.producer({
      allowAutoTopicCreation: true,
      createPartitioner: stickyOnRetry(Partitioners.DefaultPartitioner),
      // idempotent needs one request in flight and acks = all (both were already so).
      idempotent,
      maxInFlightRequests: 1,
      // kafkajs retries a failed request itself, with the same producer id and sequence
      // numbers, so the broker drops what it had already appended: a produce request that
      // fails on one partition (a topic's leader not ready yet after auto-creation) while
      // the others were written is completed without duplicates. ~2.5 s of retries, then
      // the sender loop's own retry (a new producer: at-least-once, docs/compatibility.md).
      retry: { retries: 5, initialRetryTime: 100, maxRetryTime: 1000 },
    });
  return {
    async connect() {
      // A fresh producer per attempt; the previous one (if any) is closed first.
      await producer?.disconnect().catch(() => undefined);
      for (;;) {
        const p = newProducer();
        producer = p;
        try {
          await p.connect();
          return;
        } catch (e) {
          producer = undefined;
          await p.disconnect().catch(() => undefined);
          if (idempotent && errorTypes(e).some((t) => NO_IDEMPOTENCE.has(t))) {
            idempotent = false;
            o.log("warn", `kafka: the broker refused an idempotent producer (${errorText(e)}); retried sends may duplicate messages`);
            continue;
          }
          throw e;
        }
      }
    },
    async send(topics) {
      if (!producer) throw new Error("not connected");
      await producer.sendBatch({
        acks: -1,
        timeout: 10_000,
        compression,
        topicMessages: topics.map((t) => ({ topic: t.topic, messages: t.values.map((value) => ({ value })) })),
      });
    },
    async disconnect() {
      const p = producer;
      producer = undefined;
      await p?.disconnect();
    },
  };
}

// ---- log rate limiting -------------------------------------------------------------------

/** At most `burst` lines per window; the number suppressed is logged when the next window opens. */
export class RateLimitedLog {
  private windowStart = -Infinity;
  private used = 0;
  private suppressed = 0;
  constructor(
    private readonly log: Logger,
    private readonly burst = 10,
    private readonly windowMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  write(level: "error" | "warn" | "info" | "debug", msg: string): void {
    const t = this.now();
    if (t - this.windowStart >= this.windowMs) {
      if (this.suppressed > 0) this.log.warn(`kafkajs: ${this.suppressed} more log line(s) suppressed in the last ${Math.round(this.windowMs / 1000)} s`);
      this.windowStart = t;
      this.used = 0;
      this.suppressed = 0;
    }
    if (this.used >= this.burst) {
      this.suppressed++;
      return;
    }
    this.used++;
    this.log[level](msg);
  }
}

// ---- the output --------------------------------------------------------------------------

/** Largest batch (uncompressed bytes) per request: stays under brokers' default message.max.bytes. */
export const MAX_BATCH_BYTES = 900_000;
/** Largest single message: brokers refuse larger ones with their default settings. */
export const MAX_MESSAGE_BYTES = 1_000_000;

export interface KafkaOutputOptions {
  transport: KafkaTransport;
  /** Human-readable target for log lines, e.g. "127.0.0.1:9092". */
  target: string;
  log: Logger;
  /** queue_buffering_max_messages */
  maxMessages: number;
  /** queue_buffering_max_kbytes × 1024 */
  maxBytes: number;
  /** batch_num_messages: most messages per request. */
  batchMessages: number;
  /** queue_buffering_max_ms: how long a first message waits for company before a request. */
  lingerMs: number;
  maxBatchBytes?: number;
  /** Time close() spends delivering what is queued before dropping it. */
  flushTimeoutMs?: number;
  /** Retry back-off bounds while the broker is unreachable. */
  backoffMs?: { min: number; max: number };
  /** Where gala_gopher_agent_kafka_* are registered (a private registry when absent). */
  registry?: Registry;
}

interface TopicCounts {
  queued: number;
  sent: number;
  failed: number;
  dropped: Record<DropReason, number>;
}

export interface KafkaStats {
  queued: number;
  sent: number;
  failed: number;
  dropped: number;
  droppedBy: Record<DropReason, number>;
  queueMessages: number;
  queueBytes: number;
  connected: boolean;
  byTopic: ReadonlyMap<string, Readonly<TopicCounts>>;
}

const zeroDrops = (): Record<DropReason, number> => Object.fromEntries(DROP_REASONS.map((r) => [r, 0])) as Record<DropReason, number>;

/** Protocol errors for which a retry cannot help: the batch is dropped (or split when too large). */
const TOO_LARGE = new Set(["MESSAGE_TOO_LARGE", "RECORD_LIST_TOO_LARGE"]);
const REJECTED = new Set(["INVALID_TOPIC_EXCEPTION", "TOPIC_AUTHORIZATION_FAILED", "INVALID_RECORD", "CORRUPT_MESSAGE"]);

function errorTypes(e: unknown): string[] {
  const out: string[] = [];
  const seen = new Set<unknown>();
  const walk = (x: unknown) => {
    if (!x || typeof x !== "object" || seen.has(x)) return;
    seen.add(x);
    const o = x as { type?: unknown; cause?: unknown; errors?: unknown; originalError?: unknown };
    if (typeof o.type === "string") out.push(o.type);
    walk(o.cause);
    walk(o.originalError);
    if (Array.isArray(o.errors)) o.errors.forEach(walk);
  };
  walk(e);
  return out;
}

export class KafkaOutput {
  private readonly queue: BoundedQueue;
  private readonly topics = new Map<string, TopicCounts>();
  private inflight: readonly QueuedMessage[] = [];
  private inflightBytes = 0;
  private connected = false;
  /** Set once a connection or send failed, until the next success (for the log). */
  private downSince: number | undefined;
  private droppedWhileDown = 0;
  private everConnected = false;
  private closing = false;
  private abandon = false;
  private wake: (() => void) | undefined;
  private wakeTimer: ReturnType<typeof setTimeout> | undefined;
  private batchBytesLimit: number;
  private readonly loopDone: Promise<void>;
  private readonly m: {
    queued: Counter<"topic">;
    sent: Counter<"topic">;
    failed: Counter<"topic">;
    dropped: Counter<"topic" | "reason">;
  };

  constructor(private readonly o: KafkaOutputOptions) {
    this.batchBytesLimit = o.maxBatchBytes ?? MAX_BATCH_BYTES;
    this.queue = new BoundedQueue(o.maxMessages, Math.min(o.maxBytes, Number.MAX_SAFE_INTEGER), (msg, reason) => this.dropped(msg, reason));
    const registers = [o.registry ?? new Registry()];
    this.m = {
      queued: new Counter({ name: "gala_gopher_agent_kafka_queued_total", help: "messages handed to the Kafka output, by topic; each is later sent, dropped or still queued", labelNames: ["topic"], registers }),
      sent: new Counter({ name: "gala_gopher_agent_kafka_sent_total", help: "messages the Kafka broker acknowledged, by topic", labelNames: ["topic"], registers }),
      failed: new Counter({
        name: "gala_gopher_agent_kafka_failed_total",
        help: "messages of send attempts that failed; they stay queued and are retried, so one message can count more than once",
        labelNames: ["topic"],
        registers,
      }),
      dropped: new Counter({
        name: "gala_gopher_agent_kafka_dropped_total",
        help: "messages dropped without delivery, by topic and reason (queue_full, queue_bytes, too_large, rejected, shutdown)",
        labelNames: ["topic", "reason"],
        registers,
      }),
    };
    // Gauges are computed when the registry is rendered.
    const self = this;
    new Gauge({
      name: "gala_gopher_agent_kafka_queue_messages",
      help: "messages waiting in the Kafka send queue, including the batch being sent",
      registers,
      collect() {
        this.set(self.queue.length + self.inflight.length);
      },
    });
    new Gauge({
      name: "gala_gopher_agent_kafka_queue_bytes",
      help: "bytes of the messages waiting in the Kafka send queue, including the batch being sent",
      registers,
      collect() {
        this.set(self.queue.bytes + self.inflightBytes);
      },
    });
    new Gauge({ name: "gala_gopher_agent_kafka_queue_limit_messages", help: "queue_buffering_max_messages", registers }).set(o.maxMessages);
    new Gauge({ name: "gala_gopher_agent_kafka_queue_limit_bytes", help: "queue_buffering_max_kbytes, in bytes", registers }).set(this.queue.maxBytes);
    new Gauge({
      name: "gala_gopher_agent_kafka_connected",
      help: "1 while the last connection or send to the Kafka broker succeeded",
      registers,
      collect() {
        this.set(self.connected ? 1 : 0);
      },
    });
    this.loopDone = this.loop();
  }

  private counts(topic: string): TopicCounts {
    let c = this.topics.get(topic);
    if (!c) {
      this.topics.set(topic, (c = { queued: 0, sent: 0, failed: 0, dropped: zeroDrops() }));
      // Export zeros from the start so rate() and alerts see the series.
      this.m.queued.inc({ topic }, 0);
      this.m.sent.inc({ topic }, 0);
      this.m.failed.inc({ topic }, 0);
      for (const reason of DROP_REASONS) this.m.dropped.inc({ topic, reason }, 0);
    }
    return c;
  }

  /** Declares a topic up front so its counters are exported as zeros before any message. */
  declareTopic(topic: string): void {
    this.counts(topic);
  }

  private dropped(msg: QueuedMessage, reason: DropReason): void {
    this.counts(msg.topic).dropped[reason]++;
    this.m.dropped.inc({ topic: msg.topic, reason });
    if (this.downSince !== undefined) this.droppedWhileDown++;
  }

  /** Queues one message; never blocks, never throws. */
  send(topic: string, value: string): void {
    const msg = message(topic, value);
    this.counts(topic).queued++;
    this.m.queued.inc({ topic });
    if (this.closing) {
      this.dropped(msg, "shutdown");
      return;
    }
    if (msg.bytes > MAX_MESSAGE_BYTES) {
      this.dropped(msg, "too_large");
      return;
    }
    this.queue.push(msg);
    this.poke();
  }

  stats(): KafkaStats {
    let queued = 0;
    let sent = 0;
    let failed = 0;
    const droppedBy = zeroDrops();
    for (const c of this.topics.values()) {
      queued += c.queued;
      sent += c.sent;
      failed += c.failed;
      for (const r of DROP_REASONS) droppedBy[r] += c.dropped[r];
    }
    return {
      queued,
      sent,
      failed,
      dropped: DROP_REASONS.reduce((n, r) => n + droppedBy[r], 0),
      droppedBy,
      queueMessages: this.queue.length + this.inflight.length,
      queueBytes: this.queue.bytes + this.inflightBytes,
      connected: this.connected,
      byTopic: this.topics,
    };
  }

  /** Resolves once everything queued so far has been sent or dropped (tests, bench). */
  async drained(timeoutMs = 30_000): Promise<boolean> {
    const end = Date.now() + timeoutMs;
    while (this.queue.length + this.inflight.length > 0) {
      if (Date.now() > end) return false;
      await Bun.sleep(10);
    }
    return true;
  }

  /** Delivers what is queued for up to flushTimeoutMs, drops the rest (reason shutdown), disconnects. */
  async close(): Promise<void> {
    if (this.closing) return this.loopDone;
    this.closing = true;
    this.poke(true);
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([this.loopDone, new Promise<void>((r) => (timer = setTimeout(r, this.o.flushTimeoutMs ?? 2000)))]);
    clearTimeout(timer);
    this.abandon = true;
    this.poke(true);
    // A batch still in flight gets a moment to settle; its messages are then counted as sent or dropped.
    await Promise.race([this.loopDone, Bun.sleep(500)]);
    this.queue.clear("shutdown");
    clearTimeout(this.wakeTimer);
    try {
      await this.o.transport.disconnect();
    } catch {
      /* already gone */
    }
  }

  // ---- sender loop ----

  private poke(now = false): void {
    if (!this.wake) return;
    const full = this.queue.length >= this.o.batchMessages || this.queue.bytes >= this.batchBytesLimit;
    if (now || full || this.o.lingerMs <= 0) {
      clearTimeout(this.wakeTimer);
      this.wakeTimer = undefined;
      const w = this.wake;
      this.wake = undefined;
      w();
    } else if (!this.wakeTimer) {
      this.wakeTimer = setTimeout(() => {
        this.wakeTimer = undefined;
        const w = this.wake;
        this.wake = undefined;
        w?.();
      }, this.o.lingerMs);
    }
  }

  /** Sleeps until poked (new data, close) or `ms` elapse. */
  private pause(ms?: number): Promise<void> {
    return new Promise<void>((resolve) => {
      let t: ReturnType<typeof setTimeout> | undefined;
      this.wake = () => {
        clearTimeout(t);
        resolve();
      };
      if (ms !== undefined) {
        t = setTimeout(() => {
          this.wake = undefined;
          resolve();
        }, ms);
      }
    });
  }

  private async loop(): Promise<void> {
    let failures = 0;
    const backoff = this.o.backoffMs ?? { min: 100, max: 2000 };
    while (!this.abandon) {
      if (this.queue.length === 0) {
        if (this.closing) break;
        await this.pause();
        continue;
      }
      if (!this.connected) {
        try {
          await this.o.transport.connect();
          this.connected = true;
        } catch (e) {
          failures++;
          this.noteFailure(e);
          if (this.abandon) break;
          await this.pause(Math.min(backoff.max, backoff.min * 2 ** Math.min(failures - 1, 10)));
          continue;
        }
      }
      const batch = this.queue.take(this.o.batchMessages, this.batchBytesLimit);
      this.inflight = batch;
      this.inflightBytes = batch.reduce((n, m) => n + m.bytes, 0);
      let outcome: "sent" | "retry" | "split" | "dropped";
      let err: unknown;
      try {
        await this.o.transport.send(group(batch));
        outcome = "sent";
      } catch (e) {
        err = e;
        const types = errorTypes(e);
        if (types.some((t) => TOO_LARGE.has(t))) outcome = batch.length > 1 ? "split" : "dropped";
        else if (types.some((t) => REJECTED.has(t))) outcome = "dropped";
        else outcome = "retry";
      }
      this.inflight = [];
      this.inflightBytes = 0;
      if (outcome === "sent") {
        failures = 0;
        for (const m of batch) {
          this.counts(m.topic).sent++;
          this.m.sent.inc({ topic: m.topic });
        }
        this.noteSuccess();
        continue;
      }
      if (outcome === "split") {
        // Halve the request size until the broker takes it (its message.max.bytes is lower than ours).
        this.batchBytesLimit = Math.max(1, Math.floor(batch.reduce((n, m) => n + m.bytes, 0) / 2));
        this.o.log.warn(`kafka: the broker refused a batch of ${batch.length} messages as too large; sending at most ${this.batchBytesLimit} bytes per request`);
        this.queue.requeue(batch);
        continue;
      }
      if (outcome === "dropped") {
        const reason: DropReason = errorTypes(err).some((t) => TOO_LARGE.has(t)) ? "too_large" : "rejected";
        this.o.log.error(`kafka: the broker refused ${batch.length} message(s) for topic(s) ${[...new Set(batch.map((m) => m.topic))].join(", ")}: ${errorText(err)}; dropped`);
        for (const m of batch) this.dropped(m, reason);
        continue;
      }
      for (const m of batch) {
        this.counts(m.topic).failed++;
        this.m.failed.inc({ topic: m.topic });
      }
      this.queue.requeue(batch);
      failures++;
      this.noteFailure(err);
      try {
        await this.o.transport.disconnect();
      } catch {
        /* the connection is gone anyway */
      }
      if (this.abandon) break;
      await this.pause(Math.min(backoff.max, backoff.min * 2 ** Math.min(failures - 1, 10)));
    }
    if (this.abandon) this.queue.clear("shutdown");
  }

  private noteFailure(e: unknown): void {
    this.connected = false;
    if (this.downSince !== undefined) {
      this.o.log.debug(`kafka: ${this.o.target} still unreachable: ${errorText(e)}`);
      return;
    }
    this.downSince = Date.now();
    this.droppedWhileDown = 0;
    this.o.log.warn(
      `kafka: cannot deliver to ${this.o.target}: ${errorText(e)}; messages wait in the queue ` +
        `(at most ${this.queue.maxMessages} messages / ${Math.round(this.queue.maxBytes / 1024)} KiB, oldest dropped first) and are retried`,
    );
  }

  private noteSuccess(): void {
    if (!this.everConnected) {
      this.everConnected = true;
      this.o.log.info(`kafka: delivering to ${this.o.target}`);
    }
    if (this.downSince === undefined) return;
    const secs = Math.round((Date.now() - this.downSince) / 1000);
    this.o.log.info(
      `kafka: ${this.o.target} reachable again after ${secs} s; ${this.queue.length} message(s) still queued, ${this.droppedWhileDown} dropped meanwhile`,
    );
    this.downSince = undefined;
  }
}

/** Groups a batch by topic, keeping each topic's order. */
function group(batch: readonly QueuedMessage[]): { topic: string; values: string[] }[] {
  const by = new Map<string, string[]>();
  for (const m of batch) {
    let l = by.get(m.topic);
    if (!l) by.set(m.topic, (l = []));
    l.push(m.value);
  }
  return [...by].map(([topic, values]) => ({ topic, values }));
}

// ---- channels ----------------------------------------------------------------------------

export interface KafkaTopics {
  metric?: string;
  event?: string;
  meta?: string;
}

/**
 * The OutputSink of the channels set to kafka. Only the methods of those channels exist,
 * so the probe manager does not collect rows for Kafka when the metric channel is elsewhere.
 */
export function kafkaSink(out: KafkaOutput, topics: KafkaTopics, uuid: string): OutputSink {
  const sink: OutputSink = { close: () => out.close() };
  const { metric, event, meta } = topics;
  if (metric !== undefined) {
    out.declareTopic(metric);
    sink.rows = (batches: readonly RowBatch[], nowMs: number) => {
      for (const b of batches) for (const r of b.rows) out.send(metric, kafkaMetricMessage(b.table, r.values, uuid, nowMs));
    };
  }
  if (event !== undefined) {
    out.declareTopic(event);
    sink.event = (line: string) => out.send(event, line);
  }
  if (meta !== undefined) {
    out.declareTopic(meta);
    sink.meta = (line: string) => out.send(meta, line);
  }
  return sink;
}

// ---- configuration -----------------------------------------------------------------------

/** `a:1, b ,[::1]:9093` → ["a:1", "b:9092", "[::1]:9093"]; empty → localhost:9092 (the container default). */
export function parseBrokers(s: string): string[] {
  const out: string[] = [];
  for (const raw of s.split(",")) {
    const x = raw.trim();
    if (x === "") continue;
    if (x.startsWith("[")) out.push(/\]:\d+$/.test(x) ? x : `${x}:9092`);
    else if (!x.includes(":")) out.push(`${x}:9092`);
    else if (x.indexOf(":") === x.lastIndexOf(":")) out.push(x);
    else out.push(`[${x}]:9092`); // a bare IPv6 address
  }
  return out.length ? out : ["localhost:9092"];
}

/** compression_codec → what the producer uses, with a note when it differs. */
export function compressionFor(codec: string): { compression: KafkaCompression; note?: string } {
  const c = codec.trim().toLowerCase();
  if (c === "none" || c === "" || c === "inherit") return { compression: "none" };
  if (c === "gzip" || c === "zstd") return { compression: c };
  if (c === "snappy" || c === "lz4") return { compression: "gzip", note: `compression_codec "${codec}" is not available in this build; using gzip` };
  return { compression: "none", note: `unknown compression_codec "${codec}"; sending uncompressed` };
}

export interface KafkaFromConfig {
  cfg: AgentConfig;
  uuid: string;
  log: Logger;
  registry?: Registry;
  /** Overrides the kafkajs transport (tests). */
  transport?: KafkaTransport;
}

/** The shared Kafka output and the sink of the channels set to kafka; undefined when none is. */
export function kafkaFromConfig(o: KafkaFromConfig): { output: KafkaOutput; sink: OutputSink } | undefined {
  const { cfg, log } = o;
  const topics: KafkaTopics = {
    metric: cfg.metric.outChannel === "kafka" ? cfg.metric.kafkaTopic : undefined,
    event: cfg.event.outChannel === "kafka" ? cfg.event.kafkaTopic : undefined,
    meta: cfg.meta.outChannel === "kafka" ? cfg.meta.kafkaTopic : undefined,
  };
  if (topics.metric === undefined && topics.event === undefined && topics.meta === undefined) return undefined;
  const k = cfg.kafka;
  if (k.kafkaBroker.trim() === "") log.warn("kafka.kafka_broker is empty; using localhost:9092");
  const brokers = parseBrokers(k.kafkaBroker);
  const { compression, note } = compressionFor(k.compressionCodec);
  if (note) log.warn(`kafka: ${note}`);
  let ssl: ConnectionOptions | boolean | undefined;
  if (k.tls) {
    const t: ConnectionOptions = { rejectUnauthorized: true };
    if (k.caFile) t.ca = [readFileSync(k.caFile)];
    if (k.certFile) t.cert = readFileSync(k.certFile);
    if (k.keyFile) t.key = readFileSync(k.keyFile);
    ssl = t;
  }
  let sasl: SASLOptions | undefined;
  if (k.saslMechanism !== "") sasl = { mechanism: k.saslMechanism, username: k.saslUsername, password: k.saslPassword } as SASLOptions;
  const limited = new RateLimitedLog(log);
  const transport =
    o.transport ??
    kafkajsTransport({
      brokers,
      compression,
      ssl,
      sasl,
      verbose: cfg.global.logLevel === "debug",
      log: (level, msg) => limited.write(level, msg),
    });
  const output = new KafkaOutput({
    transport,
    target: brokers.join(","),
    log,
    maxMessages: k.queueBufferingMaxMessages,
    maxBytes: k.queueBufferingMaxKbytes * 1024,
    batchMessages: k.batchNumMessages,
    lingerMs: k.queueBufferingMaxMs,
    registry: o.registry,
  });
  const used = Object.entries(topics)
    .filter(([, t]) => t !== undefined)
    .map(([ch, t]) => `${ch} → ${t}`)
    .join(", ");
  log.info(
    `kafka: producer for ${brokers.join(",")} (${used}); compression ${compression}${k.tls ? ", TLS" : ""}${sasl ? `, SASL ${k.saslMechanism}` : ""}; ` +
      `queue ${k.queueBufferingMaxMessages} messages / ${k.queueBufferingMaxKbytes} KiB, batches of ${k.batchNumMessages}, linger ${k.queueBufferingMaxMs} ms`,
  );
  return { output, sink: kafkaSink(output, topics, o.uuid) };
}

// Kafka egress (outputs.md §4): one producer (kafkajs) shared by the metric, event and
// metadata channels. Channels only append to a bounded in-memory queue and return at
// once; one sender loop drains the queue in order, in batches, and retries while the
// broker is unreachable. What does not fit the queue is dropped oldest-first and counted
// in gala_gopher_agent_kafka_* (DECISIONS.md: drops are counted, never silent).
// The kafkajs client itself (options, idempotent producer, log lines) is ./kafka-transport.ts.
import { readFileSync } from "node:fs";
import type { ConnectionOptions } from "node:tls";
import type { SASLOptions } from "kafkajs";
import { Counter, Gauge, Registry } from "./prom.ts";
import type { AgentConfig } from "../config/types.ts";
import type { Logger } from "../log/logger.ts";
import { kafkaMetricMessage } from "./kafka-format.ts";
import { BoundedQueue, DROP_REASONS, message, type DropReason, type QueuedMessage } from "./kafka-queue.ts";
import type { OutputSink, RowBatch } from "./sink.ts";
import { errorText } from "../log/error-text.ts";
import { compressionFor, errorTypes, kafkajsTransport, parseBrokers, RateLimitedLog, type KafkaTransport } from "./kafka-transport.ts";

export * from "./kafka-transport.ts";

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

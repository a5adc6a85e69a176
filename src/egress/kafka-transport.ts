// The kafkajs side of the Kafka egress (outputs.md §4): client options (TLS, SASL,
// compression), the idempotent producer and its fallback, partitions kept across retries,
// and kafkajs's own log lines, rate limited. ./kafka.ts holds the queue and sender loop.
import { readFileSync } from "node:fs";
import type { ConnectionOptions } from "node:tls";
import { CompressionCodecs, CompressionTypes, Kafka, Partitioners, logLevel as KafkaLogLevel, type ICustomPartitioner, type LogEntry, type Producer, type SASLOptions } from "kafkajs";
import type { Logger } from "../log/logger.ts";
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

/** The kafkajs error `type`s of an error and its causes (retries wrap the broker's error). */
export function errorTypes(e: unknown): string[] {
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

// Loads gala-gopher.conf (spec config.md §3), fills in shipped defaults for whatever is
// missing (DECISIONS.md: the agent runs without any file), validates with valibot and
// applies the container's GOPHER_* variables (§5.2) natively.

import { existsSync, readFileSync } from "node:fs";
import * as v from "valibot";
import { defaultConfig } from "./defaults.ts";
import { lookup, parseLibconfig, type LcGroup, type LcValue } from "./libconfig.ts";
import type { AgentConfig, EventChannel, KafkaSaslMechanism, LoadedConfig, LogLevel, MetricChannel, ServerConfig } from "./types.ts";

export class ConfigError extends Error {
  readonly code = "ECONFIG";
  /** File the bad value came from, or "environment" for a GOPHER_* variable. */
  readonly file: string;
  /** 1-based line of the setting; 0 for the environment or a whole file. */
  readonly line: number;
  /** `section.key`, a section name, or the environment variable's name. */
  readonly key: string;
  /** The message without the location prefix. */
  readonly reason: string;
  constructor(file: string, line: number, key: string, reason: string) {
    super(`${file}:${line}: ${key ? `${key}: ` : ""}${reason}`);
    this.name = "ConfigError";
    this.file = file;
    this.line = line;
    this.key = key;
    this.reason = reason;
  }
}

export interface LoadOptions {
  path: string;
  env: Record<string, string | undefined>;
  /** Returns the file's text, or null when it does not exist. Defaults to the file system. */
  readFile?: (path: string) => string | null;
  /** Existence check for TLS key/certificate/CA files. Defaults to fs.existsSync. */
  exists?: (path: string) => boolean;
}

export const LOG_LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error"];
export const METRIC_CHANNELS: readonly MetricChannel[] = ["web_server", "logs", "json", "kafka", ""];
export const EVENT_CHANNELS: readonly EventChannel[] = ["logs", "kafka", ""];
export const KAFKA_SASL_MECHANISMS: readonly KafkaSaslMechanism[] = ["", "plain", "scram-sha-256", "scram-sha-512"];
/** Keys this agent adds to upstream's sections: optional, never reported as missing. */
const ADDED_KEYS: Readonly<Record<string, readonly string[]>> = {
  kafka: ["tls", "ca_file", "cert_file", "key_file", "sasl_mechanism", "sasl_username", "sasl_password"],
};
/** Characters and sequences refused in metric_dir / event_dir (upstream's shell-safety check). */
export const UNSAFE_PATH_PARTS: readonly string[] =
  ["|", ";", "&", "$", ">", "<", "(", ")", "./", "/.", "?", "*", "'", "`", "[", "]", "\\", "!", "\n"];

const INT32_MAX = 2147483647;
const NAME_MAX = 31;

// ---- valibot schemas for the file ------------------------------------------------------

const intIn = (lo: number, hi: number, m = `must be an integer in [${lo}, ${hi}]`) =>
  v.pipe(v.number(m), v.integer(m), v.minValue(lo, m), v.maxValue(hi, m));
const posInt = intIn(1, INT32_MAX);
const str = v.string("must be a string");
const nonEmpty = v.pipe(v.string("must be a non-empty string"), v.nonEmpty("must be a non-empty string"));
const firstUnsafe = (s: string): string | undefined => UNSAFE_PATH_PARTS.find((u) => s.includes(u));
const safeDir = v.pipe(
  v.string("must be a non-empty path"),
  v.nonEmpty("must be a non-empty path"),
  v.check(
    (s) => firstUnsafe(s) === undefined,
    (issue) => `must not contain ${JSON.stringify(firstUnsafe(String(issue.input)))}`,
  ),
);
const fileName = v.pipe(
  v.string("must be a file name"),
  v.nonEmpty("must be a non-empty file name"),
  v.check((s) => !s.includes("/"), "must be a file name without '/'"),
);
const opt = v.optional;

const channelSchema = v.object({ out_channel: opt(str), kafka_topic: opt(str) });
const serverSchema = v.object({
  bind_addr: opt(str),
  port: opt(intIn(1024, 65535)),
  ssl_auth: opt(v.string('must be a string ("on" or "off")')),
  private_key: opt(str),
  cert_file: opt(str),
  ca_file: opt(str),
});

const SCHEMAS = {
  global: v.object({
    log_file_name: opt(fileName),
    log_level: opt(str),
    rest_api_on: opt(v.boolean("must be a boolean (true or false)")),
  }),
  kafka: v.object({
    kafka_broker: opt(str),
    batch_num_messages: opt(posInt),
    compression_codec: opt(str),
    queue_buffering_max_messages: opt(posInt),
    queue_buffering_max_kbytes: opt(posInt),
    queue_buffering_max_ms: opt(posInt),
    tls: opt(v.boolean("must be a boolean (true or false)")),
    ca_file: opt(str),
    cert_file: opt(str),
    key_file: opt(str),
    sasl_mechanism: opt(
      v.pipe(
        str,
        v.transform((x) => x.toLowerCase()),
        v.picklist(KAFKA_SASL_MECHANISMS, 'must be "plain", "scram-sha-256", "scram-sha-512" or "" (none)'),
      ),
    ),
    sasl_username: opt(str),
    sasl_password: opt(str),
  }),
  metric: channelSchema,
  imdb: v.object({
    max_tables_num: opt(intIn(1, 4096)),
    max_records_num: opt(posInt),
    max_metrics_num: opt(posInt),
    record_timeout: opt(intIn(-INT32_MAX - 1, INT32_MAX, "must be an integer")),
  }),
  web_server: serverSchema,
  rest_api_server: serverSchema,
  logs: v.object({
    metric_total_size: opt(posInt),
    metric_dir: opt(safeDir),
    event_dir: opt(safeDir),
    meta_dir: opt(nonEmpty),
    debug_dir: opt(nonEmpty),
  }),
  event: v.object({ ...channelSchema.entries, timeout: opt(intIn(0, INT32_MAX)) }),
  meta: channelSchema,
};

// ---- valibot schemas for the environment -----------------------------------------------

const envPort = v.pipe(
  v.string(),
  v.regex(/^[0-9]{1,6}$/, "must be a port number in [1024, 65535]"),
  v.transform(Number),
  v.minValue(1024, "must be a port number in [1024, 65535]"),
  v.maxValue(65535, "must be a port number in [1024, 65535]"),
);
const envWord = (what: string) => v.pipe(v.string(), v.regex(/^[^\s"\\]+$/, `must be ${what} without spaces or quotes`));
const envPath = v.pipe(
  v.string(),
  v.startsWith("/", "must be an absolute path"),
  v.maxLength(255, "must be shorter than 256 characters"),
  v.regex(/^[^\n"]*$/, "must not contain quotes or newlines"),
);
const ENV = {
  GOPHER_LOG_LEVEL: v.picklist(LOG_LEVELS, "must be one of debug, info, warn, error"),
  GOPHER_EVENT_CHANNEL: v.picklist(["logs", "kafka"] as const, 'must be "logs" or "kafka"'),
  GOPHER_META_CHANNEL: v.picklist(["logs", "kafka"] as const, 'must be "logs" or "kafka"'),
  kafkaServer: v.pipe(envWord("host or host:port"), v.transform((s) => (s.includes(":") ? s : `${s}:9092`))),
  addr: envWord("an address"),
  port: envPort,
  GOPHER_REST_AUTH: v.string(),
  path: envPath,
  GOPHER_METRIC_LOGS_TOTAL_SIZE: v.pipe(
    v.string(),
    v.regex(/^[0-9]+$/, "must be a positive integer (MiB)"),
    v.transform(Number),
    v.minValue(1, "must be a positive integer (MiB)"),
  ),
};

// ---- loading ---------------------------------------------------------------------------

type Raw = number | string | boolean | { other: LcValue["type"] };

function toRaw(value: LcValue): Raw {
  switch (value.type) {
    case "int":
    case "string":
    case "bool":
      return value.value;
    default:
      return { other: value.type }; // floats, groups, lists, arrays: never the right type here
  }
}

function got(value: LcValue): string {
  switch (value.type) {
    case "int":
    case "bool":
      return String(value.value);
    case "float":
      return Number.isInteger(value.value) && Math.abs(value.value) < 1e21 ? value.value.toFixed(1) : String(value.value);
    case "string":
      return JSON.stringify(value.value);
    case "group":
      return "a group";
    case "list":
      return "a list";
    case "array":
      return "an array";
  }
}

interface Where {
  file: string;
  line: number;
  /** Set when the value came from an environment variable. */
  env?: string;
}

function defaultRead(path: string): string | null {
  try {
    return readFileSync(path, "utf8");
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    if (code === "ENOENT" || code === "ENOTDIR") return null;
    throw new ConfigError(path, 0, "", `cannot read: ${(e as Error).message}`);
  }
}

const isOneOf = <T extends string>(xs: readonly T[], s: string): s is T => (xs as readonly string[]).includes(s);

/**
 * Reads, validates and merges the configuration. Throws LibconfigSyntaxError for
 * malformed files and ConfigError for bad values (file or environment).
 */
export function loadConfig(opts: LoadOptions): LoadedConfig {
  const read = opts.readFile ?? defaultRead;
  const exists = opts.exists ?? existsSync;
  const notes: string[] = [];
  const locs = new Map<string, Where>();
  const where = (key: string): Where =>
    locs.get(key) ?? locs.get(key.split(".")[0] ?? "") ?? { file: opts.path, line: 0 };
  const note = (key: string, text: string): void => {
    const at = where(key);
    notes.push(`${at.file}:${at.line}: ${key}: ${text}`);
  };

  const text = read(opts.path);
  const root: LcGroup | null = text === null ? null : parseLibconfig(text, { file: opts.path, readFile: read });
  if (!root) notes.push(`${opts.path}: no such file; using the shipped defaults`);

  function section<E extends v.ObjectEntries>(name: keyof typeof SCHEMAS, schema: v.ObjectSchema<E, undefined>) {
    const setting = root ? lookup(root, name) : undefined;
    if (root && !setting) notes.push(`${opts.path}: section '${name}' missing; using the shipped defaults`);
    if (!setting) return v.parse(schema, {});
    if (setting.value.type !== "group") {
      throw new ConfigError(setting.file, setting.line, name, `must be a group { ... }, got ${got(setting.value)}`);
    }
    const group = setting.value;
    locs.set(name, setting);
    const raw: Record<string, Raw> = {};
    for (const s of group.settings) {
      raw[s.name] = toRaw(s.value);
      locs.set(`${name}.${s.name}`, s);
    }
    const added = ADDED_KEYS[name] ?? [];
    const missing = Object.keys(schema.entries).filter((k) => !(k in raw) && !added.includes(k));
    if (missing.length > 0) note(name, `no ${missing.join(", ")}; using the shipped default${missing.length > 1 ? "s" : ""}`);
    const result = v.safeParse(schema, raw, { abortPipeEarly: true });
    if (result.success) return result.output;
    // Report the first bad setting in file order.
    const bad = result.issues
      .map((issue) => ({ issue, s: group.settings.find((s) => s.name === String(issue.path?.[0]?.key)) }))
      .sort((a, b) => (a.s?.line ?? 0) - (b.s?.line ?? 0))[0];
    const s = bad?.s ?? setting;
    throw new ConfigError(s.file, s.line, `${name}.${s.name}`, `${bad?.issue.message ?? "invalid"}, got ${got(s.value)}`);
  }

  const truncate = (key: string, s: string): string => {
    if (s.length <= NAME_MAX) return s;
    note(key, `longer than ${NAME_MAX} characters; truncated to ${JSON.stringify(s.slice(0, NAME_MAX))}`);
    return s.slice(0, NAME_MAX);
  };
  function channel<C extends string>(sec: string, allowed: readonly C[], off: C, value: string | undefined, fallback: C): C {
    if (value === undefined) return fallback;
    if (isOneOf(allowed, value)) return value;
    note(`${sec}.out_channel`, `unknown channel ${JSON.stringify(value)}; the ${sec} channel is off`);
    return off;
  }
  function server(sec: "web_server" | "rest_api_server", s: ServerConfig): void {
    const o = section(sec, SCHEMAS[sec]);
    s.bindAddr = o.bind_addr ?? s.bindAddr;
    s.port = o.port ?? s.port;
    if (o.ssl_auth !== undefined) s.sslAuth = o.ssl_auth === "on";
    s.privateKey = o.private_key ?? s.privateKey;
    s.certFile = o.cert_file ?? s.certFile;
    s.caFile = o.ca_file ?? s.caFile;
  }

  const cfg: AgentConfig = defaultConfig();
  // Processing order of upstream's config.c.
  const g = section("global", SCHEMAS.global);
  cfg.global.logFileName = g.log_file_name ?? cfg.global.logFileName;
  cfg.global.restApiOn = g.rest_api_on ?? cfg.global.restApiOn;
  if (g.log_level !== undefined) {
    if (isOneOf(LOG_LEVELS, g.log_level)) cfg.global.logLevel = g.log_level;
    else {
      note("global.log_level", `unknown level ${JSON.stringify(g.log_level)}; using debug`);
      cfg.global.logLevel = "debug";
    }
  }

  const k = section("kafka", SCHEMAS.kafka);
  if (k.kafka_broker !== undefined) cfg.kafka.kafkaBroker = truncate("kafka.kafka_broker", k.kafka_broker);
  if (k.compression_codec !== undefined) cfg.kafka.compressionCodec = truncate("kafka.compression_codec", k.compression_codec);
  cfg.kafka.batchNumMessages = k.batch_num_messages ?? cfg.kafka.batchNumMessages;
  cfg.kafka.queueBufferingMaxMessages = k.queue_buffering_max_messages ?? cfg.kafka.queueBufferingMaxMessages;
  cfg.kafka.queueBufferingMaxKbytes = k.queue_buffering_max_kbytes ?? cfg.kafka.queueBufferingMaxKbytes;
  cfg.kafka.queueBufferingMaxMs = k.queue_buffering_max_ms ?? cfg.kafka.queueBufferingMaxMs;
  cfg.kafka.tls = k.tls ?? cfg.kafka.tls;
  cfg.kafka.caFile = k.ca_file ?? cfg.kafka.caFile;
  cfg.kafka.certFile = k.cert_file ?? cfg.kafka.certFile;
  cfg.kafka.keyFile = k.key_file ?? cfg.kafka.keyFile;
  cfg.kafka.saslMechanism = k.sasl_mechanism ?? cfg.kafka.saslMechanism;
  cfg.kafka.saslUsername = k.sasl_username ?? cfg.kafka.saslUsername;
  cfg.kafka.saslPassword = k.sasl_password ?? cfg.kafka.saslPassword;

  const m = section("metric", SCHEMAS.metric);
  cfg.metric.outChannel = channel("metric", METRIC_CHANNELS, "", m.out_channel, cfg.metric.outChannel);
  if (m.kafka_topic !== undefined) cfg.metric.kafkaTopic = truncate("metric.kafka_topic", m.kafka_topic);

  const im = section("imdb", SCHEMAS.imdb);
  cfg.imdb.maxTablesNum = im.max_tables_num ?? cfg.imdb.maxTablesNum;
  cfg.imdb.maxRecordsNum = im.max_records_num ?? cfg.imdb.maxRecordsNum;
  cfg.imdb.maxMetricsNum = im.max_metrics_num ?? cfg.imdb.maxMetricsNum;
  if (cfg.imdb.maxMetricsNum > 128) {
    note("imdb.max_metrics_num", `${cfg.imdb.maxMetricsNum} is above the limit; using 128`);
    cfg.imdb.maxMetricsNum = 128;
  }
  if (im.record_timeout !== undefined) {
    if (im.record_timeout > 0) cfg.imdb.recordTimeout = im.record_timeout;
    else note("imdb.record_timeout", `${im.record_timeout} is not positive; using ${cfg.imdb.recordTimeout}`);
  }

  server("web_server", cfg.webServer);
  server("rest_api_server", cfg.restApiServer);

  const l = section("logs", SCHEMAS.logs);
  cfg.logs.metricTotalSize = l.metric_total_size ?? cfg.logs.metricTotalSize;
  cfg.logs.metricDir = l.metric_dir ?? cfg.logs.metricDir;
  cfg.logs.eventDir = l.event_dir ?? cfg.logs.eventDir;
  cfg.logs.metaDir = l.meta_dir ?? cfg.logs.metaDir;
  cfg.logs.debugDir = l.debug_dir ?? cfg.logs.debugDir;

  const e = section("event", SCHEMAS.event);
  cfg.event.outChannel = channel("event", EVENT_CHANNELS, "", e.out_channel, cfg.event.outChannel);
  if (e.kafka_topic !== undefined) cfg.event.kafkaTopic = truncate("event.kafka_topic", e.kafka_topic);
  cfg.event.timeout = e.timeout ?? cfg.event.timeout;

  const me = section("meta", SCHEMAS.meta);
  cfg.meta.outChannel = channel("meta", EVENT_CHANNELS, "", me.out_channel, cfg.meta.outChannel);
  if (me.kafka_topic !== undefined) cfg.meta.kafkaTopic = truncate("meta.kafka_topic", me.kafka_topic);

  // ---- GOPHER_* environment overrides (config.md §5.2) ----
  function fromEnv<T>(name: string, schema: v.GenericSchema<string, T>, key: string, apply: (value: T) => void): void {
    const raw = opts.env[name];
    if (raw === undefined || raw === "") return; // unset or empty: keep the file value
    const r = v.safeParse(schema, raw, { abortPipeEarly: true });
    if (!r.success) {
      throw new ConfigError("environment", 0, name, `${r.issues[0].message}, got ${JSON.stringify(raw)}`);
    }
    locs.set(key, { file: "environment", line: 0, env: name });
    apply(r.output);
    notes.push(`environment: ${name}=${JSON.stringify(raw)} overrides ${key}`);
  }
  fromEnv("GOPHER_LOG_LEVEL", ENV.GOPHER_LOG_LEVEL, "global.log_level", (x) => (cfg.global.logLevel = x));
  fromEnv("GOPHER_EVENT_CHANNEL", ENV.GOPHER_EVENT_CHANNEL, "event.out_channel", (x) => (cfg.event.outChannel = x));
  fromEnv("GOPHER_META_CHANNEL", ENV.GOPHER_META_CHANNEL, "meta.out_channel", (x) => (cfg.meta.outChannel = x));
  // Upstream's misspelled name first, so the correct spelling wins when both are set.
  for (const name of ["GOPHER_KAKFA_SERVER", "GOPHER_KAFKA_SERVER"]) {
    fromEnv(name, ENV.kafkaServer, "kafka.kafka_broker", (x) => (cfg.kafka.kafkaBroker = truncate("kafka.kafka_broker", x)));
  }
  fromEnv("GOPHER_METRIC_ADDR", ENV.addr, "web_server.bind_addr", (x) => (cfg.webServer.bindAddr = x));
  fromEnv("GOPHER_METRIC_PORT", ENV.port, "web_server.port", (x) => (cfg.webServer.port = x));
  fromEnv("GOPHER_REST_ADDR", ENV.addr, "rest_api_server.bind_addr", (x) => (cfg.restApiServer.bindAddr = x));
  fromEnv("GOPHER_REST_PORT", ENV.port, "rest_api_server.port", (x) => (cfg.restApiServer.port = x));
  const auth = opts.env.GOPHER_REST_AUTH;
  if (auth !== undefined && auth !== "" && auth !== "yes") {
    notes.push(`environment: GOPHER_REST_AUTH=${JSON.stringify(auth)} ignored (only "yes" enables HTTPS)`);
  } else {
    fromEnv("GOPHER_REST_AUTH", ENV.GOPHER_REST_AUTH, "rest_api_server.ssl_auth", () => (cfg.restApiServer.sslAuth = true));
  }
  fromEnv("GOPHER_REST_PRIVATE_KEY", ENV.path, "rest_api_server.private_key", (x) => (cfg.restApiServer.privateKey = x));
  fromEnv("GOPHER_REST_CERT", ENV.path, "rest_api_server.cert_file", (x) => (cfg.restApiServer.certFile = x));
  fromEnv("GOPHER_REST_CAFILE", ENV.path, "rest_api_server.ca_file", (x) => (cfg.restApiServer.caFile = x));
  fromEnv("GOPHER_METRIC_LOGS_TOTAL_SIZE", ENV.GOPHER_METRIC_LOGS_TOTAL_SIZE, "logs.metric_total_size",
    (x) => (cfg.logs.metricTotalSize = x));

  if (cfg.logs.metricTotalSize > 1024) {
    note("logs.metric_total_size", `${cfg.logs.metricTotalSize} MiB is above the limit; using 1024`);
    cfg.logs.metricTotalSize = 1024;
  }

  // ---- TLS files, for the servers that will actually run ----
  function checkTls(sec: "web_server" | "rest_api_server", s: ServerConfig): void {
    if (!s.sslAuth) return;
    const files: Array<[string, string, boolean]> = [
      ["private_key", s.privateKey, true],
      ["cert_file", s.certFile, true],
      ["ca_file", s.caFile, false],
    ];
    for (const [key, path, required] of files) {
      const at = where(`${sec}.${key}`);
      const fail = (reason: string): never => {
        throw new ConfigError(at.file, at.line, at.env ?? `${sec}.${key}`, reason);
      };
      if (path === "") {
        if (required) fail(`must be set when ${sec}.ssl_auth is "on"`);
        continue;
      }
      if (path.length >= 256) fail(`must be shorter than 256 characters, got ${path.length}`);
      if (!exists(path)) fail(`must name an existing file, got ${JSON.stringify(path)}`);
    }
  }
  // The metrics endpoint also runs in Kafka mode (docs/compatibility.md).
  if (cfg.metric.outChannel === "web_server" || cfg.metric.outChannel === "kafka") checkTls("web_server", cfg.webServer);

  // ---- Kafka TLS and SASL (additions), when a channel uses Kafka ----
  const usesKafka = cfg.metric.outChannel === "kafka" || cfg.event.outChannel === "kafka" || cfg.meta.outChannel === "kafka";
  if (usesKafka) {
    const kf = cfg.kafka;
    const failAt = (key: string, reason: string): never => {
      const at = where(`kafka.${key}`);
      throw new ConfigError(at.file, at.line, `kafka.${key}`, reason);
    };
    const files: Array<[string, string]> = [
      ["ca_file", kf.caFile],
      ["cert_file", kf.certFile],
      ["key_file", kf.keyFile],
    ];
    if (kf.tls) {
      for (const [key, path] of files) if (path !== "" && !exists(path)) failAt(key, `must name an existing file, got ${JSON.stringify(path)}`);
      if ((kf.certFile === "") !== (kf.keyFile === "")) {
        failAt(kf.certFile === "" ? "cert_file" : "key_file", "cert_file and key_file must be set together (mutual TLS)");
      }
    } else {
      for (const [key, path] of files) if (path !== "") note(`kafka.${key}`, "not used because kafka.tls is false");
    }
    if (kf.saslMechanism !== "" && kf.saslUsername === "") failAt("sasl_username", `must be set when kafka.sasl_mechanism is "${kf.saslMechanism}"`);
  }
  if (cfg.global.restApiOn) checkTls("rest_api_server", cfg.restApiServer);

  return { config: cfg, path: root ? opts.path : null, notes };
}

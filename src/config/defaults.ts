// Shipped defaults (spec config.md §3, "Shipped" column) and the text of the shipped
// gala-gopher.conf, generated from them so the two can never disagree.

import type { AgentConfig } from "./types.ts";

export const DEFAULT_CONFIG_PATH = "/etc/gala-gopher/gala-gopher.conf";

function deepFreeze<T>(o: T): T {
  if (o !== null && typeof o === "object") {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}

/** The shipped configuration. Frozen: use defaultConfig() for a mutable copy. */
export const DEFAULTS: Readonly<AgentConfig> = deepFreeze<AgentConfig>({
  global: { logFileName: "gopher.log", logLevel: "info", restApiOn: true },
  kafka: {
    kafkaBroker: "",
    batchNumMessages: 10000,
    compressionCodec: "none",
    queueBufferingMaxMessages: 100000,
    queueBufferingMaxKbytes: 1048576,
    queueBufferingMaxMs: 5,
    tls: false,
    caFile: "",
    certFile: "",
    keyFile: "",
    saslMechanism: "",
    saslUsername: "",
    saslPassword: "",
  },
  metric: { outChannel: "web_server", kafkaTopic: "gala_gopher" },
  event: { outChannel: "logs", kafkaTopic: "gala_gopher_event", timeout: 600 },
  meta: { outChannel: "logs", kafkaTopic: "gala_gopher_metadata" },
  imdb: { maxTablesNum: 1024, maxRecordsNum: 1024, maxMetricsNum: 64, recordTimeout: 60 },
  webServer: { bindAddr: "127.0.0.1", port: 8888, sslAuth: false, privateKey: "", certFile: "", caFile: "" },
  restApiServer: { bindAddr: "127.0.0.1", port: 9999, sslAuth: false, privateKey: "", certFile: "", caFile: "" },
  logs: {
    metricTotalSize: 100,
    metricDir: "/var/log/gala-gopher/metrics",
    eventDir: "/var/log/gala-gopher/event",
    metaDir: "/var/log/gala-gopher/meta",
    debugDir: "/var/log/gala-gopher/debug",
  },
});

/** A fresh, mutable copy of the shipped configuration. */
export function defaultConfig(): AgentConfig {
  return structuredClone(DEFAULTS) as AgentConfig;
}

type Entry = [key: string, value: string | number | boolean, comment: string];

function quote(s: string): string {
  return `"${s.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n").replace(/\t/g, "\\t")}"`;
}

function server(s: AgentConfig["webServer"], what: string): Entry[] {
  return [
    ["bind_addr", s.bindAddr, "listen address"],
    ["port", s.port, `${what} port, 1024-65535`],
    ["ssl_auth", s.sslAuth ? "on" : "off", '"on" = HTTPS (TLS 1.3 only), anything else = HTTP'],
    ["private_key", s.privateKey, "PEM private key path (required when ssl_auth is on)"],
    ["cert_file", s.certFile, "PEM certificate path (required when ssl_auth is on)"],
    ["ca_file", s.caFile, "CA path; non-empty = clients must present a certificate"],
  ];
}

/**
 * The TLS and SASL keys of the kafka section (additions to upstream). Only the ones that
 * differ from the defaults are written, so the shipped file keeps upstream's key set.
 */
function kafkaSecurity(k: AgentConfig["kafka"]): Entry[] {
  const d = DEFAULTS.kafka;
  const all: Entry[] = [
    ["tls", k.tls, "connect to the brokers over TLS"],
    ["ca_file", k.caFile, "PEM CA bundle for the brokers (\"\" = system CAs)"],
    ["cert_file", k.certFile, "PEM client certificate (mutual TLS)"],
    ["key_file", k.keyFile, "PEM client key (mutual TLS)"],
    ["sasl_mechanism", k.saslMechanism, "plain | scram-sha-256 | scram-sha-512 | \"\" (none)"],
    ["sasl_username", k.saslUsername, "SASL user"],
    ["sasl_password", k.saslPassword, "SASL password"],
  ];
  const key: Record<string, keyof AgentConfig["kafka"]> = {
    tls: "tls",
    ca_file: "caFile",
    cert_file: "certFile",
    key_file: "keyFile",
    sasl_mechanism: "saslMechanism",
    sasl_username: "saslUsername",
    sasl_password: "saslPassword",
  };
  return all.filter(([name, value]) => value !== d[key[name]!]);
}

/** Renders a configuration as a commented libconfig file in the shipped layout. */
export function renderConf(c: AgentConfig): string {
  const sections: Array<[name: string, comment: string, entries: Entry[]]> = [
    ["global", "Agent-wide settings.", [
      ["log_file_name", c.global.logFileName, "debug log file name inside logs.debug_dir"],
      ["log_level", c.global.logLevel, "debug | info | warn | error (anything else = debug)"],
      ["rest_api_on", c.global.restApiOn, "serve the probe REST API (rest_api_server)"],
    ]],
    ["metric", "Where metrics go: web_server | logs | json | kafka | \"\" (off).", [
      ["out_channel", c.metric.outChannel, "web_server = Prometheus endpoint (web_server)"],
      ["kafka_topic", c.metric.kafkaTopic, "topic when out_channel is kafka (max 31 chars)"],
    ]],
    ["event", "Where events go: logs | kafka | \"\" (off).", [
      ["out_channel", c.event.outChannel, "logs = JSON lines in logs.event_dir"],
      ["kafka_topic", c.event.kafkaTopic, "topic when out_channel is kafka (max 31 chars)"],
      ["timeout", c.event.timeout, "seconds to suppress repeats of a native probe's event; 0 = off"],
    ]],
    ["meta", "Where metadata goes: logs | kafka | \"\" (off).", [
      ["out_channel", c.meta.outChannel, "logs = JSON lines in logs.meta_dir"],
      ["kafka_topic", c.meta.kafkaTopic, "topic when out_channel is kafka (max 31 chars)"],
    ]],
    ["imdb", "In-memory tables that hold probe data until it is exported.", [
      ["max_tables_num", c.imdb.maxTablesNum, "1-4096 tables (meta table definitions)"],
      ["max_records_num", c.imdb.maxRecordsNum, "> 0 pending rows per table"],
      ["max_metrics_num", c.imdb.maxMetricsNum, "> 0 fields per table (at most 128)"],
      ["record_timeout", c.imdb.recordTimeout, "seconds before an unexported row is dropped"],
    ]],
    ["web_server", "Prometheus metrics endpoint (used when metric.out_channel is web_server).",
      server(c.webServer, "metrics")],
    ["rest_api_server", "Probe REST API (used when global.rest_api_on is true).",
      server(c.restApiServer, "REST API")],
    ["kafka", "Kafka producer (used by channels set to kafka).", [
      ["kafka_broker", c.kafka.kafkaBroker, "bootstrap servers, host:port (max 31 chars)"],
      ["batch_num_messages", c.kafka.batchNumMessages, "batch.num.messages"],
      ["compression_codec", c.kafka.compressionCodec, "compression.codec: none | gzip | snappy | lz4 | zstd"],
      ["queue_buffering_max_messages", c.kafka.queueBufferingMaxMessages, "queue.buffering.max.messages"],
      ["queue_buffering_max_kbytes", c.kafka.queueBufferingMaxKbytes, "queue.buffering.max.kbytes"],
      ["queue_buffering_max_ms", c.kafka.queueBufferingMaxMs, "queue.buffering.max.ms"],
      ...kafkaSecurity(c.kafka),
    ]],
    ["logs", "Log directories.", [
      ["metric_total_size", c.logs.metricTotalSize, "MiB, 1-1024: size limit of the metric log file"],
      ["metric_dir", c.logs.metricDir, "metric log files"],
      ["event_dir", c.logs.eventDir, "event log files"],
      ["meta_dir", c.logs.metaDir, "metadata log file"],
      ["debug_dir", c.logs.debugDir, "debug log (global.log_file_name)"],
    ]],
  ];
  const out = [
    "# gala-gopher configuration (libconfig syntax: name = value; groups in { }).",
    "#",
    "# Every section and key is optional: whatever is left out takes the value shown",
    "# here. GOPHER_* environment variables (see the documentation) override this file.",
  ];
  for (const [name, comment, entries] of sections) {
    const width = Math.max(...entries.map(([k, v]) => `${k} = ${render(v)};`.length));
    out.push("", `# ${comment}`, `${name} =`, "{");
    for (const [k, val, note] of entries) out.push(`    ${`${k} = ${render(val)};`.padEnd(width)}  # ${note}`);
    out.push("};");
  }
  return out.join("\n") + "\n";
}

function render(v: string | number | boolean): string {
  return typeof v === "string" ? quote(v) : String(v);
}

/** Text of the shipped /etc/gala-gopher/gala-gopher.conf (identical to rpm/gala-gopher.conf). */
export const SHIPPED_CONF: string = renderConf(DEFAULTS as AgentConfig);

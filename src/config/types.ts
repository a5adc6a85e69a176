// The agent's configuration after gala-gopher.conf, defaults and GOPHER_* variables
// have been merged. Shapes and defaults follow spec config.md §3; every key exists here
// even when the file omits it.

export type LogLevel = "debug" | "info" | "warn" | "error";
export type MetricChannel = "web_server" | "logs" | "json" | "kafka" | "";
export type EventChannel = "logs" | "kafka" | "";
/** SASL mechanisms of the Kafka producer (an addition: upstream has no SASL); "" = none. */
export type KafkaSaslMechanism = "" | "plain" | "scram-sha-256" | "scram-sha-512";

export interface TlsConfig {
  /** "on" enables HTTPS (TLS 1.3 only). */
  sslAuth: boolean;
  privateKey: string;
  certFile: string;
  /** Non-empty: clients must present a certificate signed by this CA. */
  caFile: string;
}

export interface ServerConfig extends TlsConfig {
  bindAddr: string;
  port: number;
}

export interface ChannelConfig<C extends string> {
  outChannel: C;
  /** Truncated to 31 characters, as upstream. */
  kafkaTopic: string;
}

export interface AgentConfig {
  global: {
    logFileName: string;
    logLevel: LogLevel;
    restApiOn: boolean;
  };
  kafka: {
    kafkaBroker: string;
    batchNumMessages: number;
    compressionCodec: string;
    queueBufferingMaxMessages: number;
    queueBufferingMaxKbytes: number;
    queueBufferingMaxMs: number;
    // Additions (upstream's producer has no TLS or SASL); absent keys keep these defaults.
    /** Connect to the brokers over TLS. */
    tls: boolean;
    /** PEM CA bundle to verify the brokers with; "" = the system CAs. */
    caFile: string;
    /** PEM client certificate and key for mutual TLS; both or neither. */
    certFile: string;
    keyFile: string;
    saslMechanism: KafkaSaslMechanism;
    saslUsername: string;
    saslPassword: string;
  };
  metric: ChannelConfig<MetricChannel>;
  event: ChannelConfig<EventChannel> & {
    /** De-duplication window in seconds for native probes' events; 0 = off. */
    timeout: number;
  };
  meta: ChannelConfig<EventChannel>;
  imdb: {
    maxTablesNum: number;
    maxRecordsNum: number;
    maxMetricsNum: number;
    recordTimeout: number;
  };
  webServer: ServerConfig;
  restApiServer: ServerConfig;
  logs: {
    /** MiB, 1..1024. */
    metricTotalSize: number;
    metricDir: string;
    eventDir: string;
    metaDir: string;
    debugDir: string;
  };
}

/** Where a configuration value came from, for the start-up log. */
export type ConfigSource = "file" | "default" | "env";

export interface LoadedConfig {
  config: AgentConfig;
  /** Path that was read, or null when no file existed and defaults were used. */
  path: string | null;
  /** Human-readable notes for the log: missing sections, env overrides applied, unknown values. */
  notes: string[];
}

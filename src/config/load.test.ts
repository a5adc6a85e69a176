import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { DEFAULTS, SHIPPED_CONF, defaultConfig, renderConf } from "./defaults.ts";
import { LibconfigSyntaxError } from "./libconfig.ts";
import { ConfigError, loadConfig, type LoadOptions } from "./load.ts";

const P = "/etc/gala-gopher/gala-gopher.conf";

function load(text: string | null, env: Record<string, string | undefined> = {}, extra: Partial<LoadOptions> = {}) {
  return loadConfig({ path: P, env, readFile: (p) => (p === P ? text : null), exists: () => true, ...extra });
}

function configError(text: string | null, env: Record<string, string | undefined> = {}, extra: Partial<LoadOptions> = {}) {
  try {
    load(text, env, extra);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error("expected a ConfigError");
}

/** The shipped file with `key = <old>;` of `section` replaced by `key = <value>;`. */
function withValue(section: string, key: string, value: string): string {
  const start = SHIPPED_CONF.indexOf(`\n${section} =\n`);
  const at = SHIPPED_CONF.indexOf(`    ${key} = `, start);
  if (start < 0 || at < 0) throw new Error(`no ${section}.${key}`);
  const end = SHIPPED_CONF.indexOf(";", at);
  return SHIPPED_CONF.slice(0, at) + `    ${key} = ${value}` + SHIPPED_CONF.slice(end);
}
const lineOf = (text: string, needle: string) => text.slice(0, text.indexOf(needle)).split("\n").length;

describe("shipped file and defaults", () => {
  test("rpm/gala-gopher.conf is the generated shipped text", () => {
    const rpm = readFileSync(join(import.meta.dir, "../../rpm/gala-gopher.conf"), "utf8");
    expect(rpm).toBe(SHIPPED_CONF);
  });
  test("the shipped file parses to exactly the defaults, with no notes", () => {
    const r = loadConfig({ path: join(import.meta.dir, "../../rpm/gala-gopher.conf"), env: {} });
    expect(r.config).toEqual(defaultConfig());
    expect(r.notes).toEqual([]);
    expect(r.path).toContain("rpm/gala-gopher.conf");
  });
  test("shipped values of config.md §3", () => {
    expect(DEFAULTS.global).toEqual({ logFileName: "gopher.log", logLevel: "info", restApiOn: true });
    expect(DEFAULTS.webServer.port).toBe(8888);
    expect(DEFAULTS.restApiServer.port).toBe(9999);
    expect(DEFAULTS.event.timeout).toBe(600);
    expect(Object.isFrozen(DEFAULTS.logs)).toBe(true);
    const c = defaultConfig();
    c.logs.metricDir = "/x";
    expect(DEFAULTS.logs.metricDir).toBe("/var/log/gala-gopher/metrics");
  });
  test("renderConf round-trips a non-default configuration", () => {
    const c = defaultConfig();
    c.global.logLevel = "warn";
    c.global.restApiOn = false;
    c.restApiServer.sslAuth = true;
    c.restApiServer.privateKey = "/k.pem";
    c.restApiServer.certFile = '/c "q".pem';
    c.metric.outChannel = "kafka";
    c.kafka.kafkaBroker = "b:9092";
    expect(load(renderConf(c)).config).toEqual(c);
  });
});

describe("missing file, sections and keys", () => {
  test("no file: defaults and one note", () => {
    const r = load(null);
    expect(r).toEqual({ config: defaultConfig(), path: null, notes: [`${P}: no such file; using the shipped defaults`] });
  });
  test("empty file: defaults, one note per section", () => {
    const r = load("");
    expect(r.config).toEqual(defaultConfig());
    expect(r.path).toBe(P);
    expect(r.notes).toEqual(
      ["global", "kafka", "metric", "imdb", "web_server", "rest_api_server", "logs", "event", "meta"].map(
        (s) => `${P}: section '${s}' missing; using the shipped defaults`,
      ),
    );
  });
  test("missing keys take shipped values; one note per section", () => {
    const r = load('# x\nglobal = { log_level = "warn"; };\nimdb = {};');
    expect(r.config.global).toEqual({ logFileName: "gopher.log", logLevel: "warn", restApiOn: true });
    expect(r.config.imdb).toEqual(DEFAULTS.imdb);
    expect(r.notes).toContain(`${P}:2: global: no log_file_name, rest_api_on; using the shipped defaults`);
    expect(r.notes).toContain(
      `${P}:3: imdb: no max_tables_num, max_records_num, max_metrics_num, record_timeout; using the shipped defaults`,
    );
  });
  test("unknown sections and keys are ignored", () => {
    const r = load(SHIPPED_CONF + '\nextra = { a = 1; };\n').config;
    expect(r).toEqual(defaultConfig());
    const k = load(withValue("kafka", "kafka_broker", '"b:1"; username = "u"; password = 5')).config;
    expect(k.kafka.kafkaBroker).toBe("b:1");
  });
  test("the file's own read errors other than ENOENT are ConfigErrors", () => {
    const e = (() => {
      try {
        loadConfig({ path: import.meta.dir, env: {} });
      } catch (err) {
        return err;
      }
    })();
    expect(e).toBeInstanceOf(ConfigError);
    expect((e as ConfigError).message).toStartWith(`${import.meta.dir}:0: cannot read: `);
  });
  test("syntax errors propagate as LibconfigSyntaxError", () => {
    expect(() => load("global = { log_level = ; };")).toThrow(LibconfigSyntaxError);
  });
  test("@include is resolved next to the config file", () => {
    const files: Record<string, string> = {
      [P]: '@include "conf.d/web.conf"\n',
      "/etc/gala-gopher/conf.d/web.conf": "web_server = {\n port = 80;\n};",
    };
    const e = configError(null, {}, { readFile: (p) => files[p] ?? null });
    expect(e.message).toBe("/etc/gala-gopher/conf.d/web.conf:2: web_server.port: must be an integer in [1024, 65535], got 80");
  });
});

describe("values from the file", () => {
  test("every key is read", () => {
    const text = `
global = { log_file_name = "a.log"; log_level = "error"; rest_api_on = false; };
kafka = { kafka_broker = "k:1"; batch_num_messages = 1; compression_codec = "gzip";
  queue_buffering_max_messages = 2; queue_buffering_max_kbytes = 3; queue_buffering_max_ms = 4L;
  tls = true; ca_file = "/ca.pem"; cert_file = "/c.pem"; key_file = "/k.pem";
  sasl_mechanism = "SCRAM-SHA-512"; sasl_username = "u"; sasl_password = "p w"; };
metric = { out_channel = "json"; kafka_topic = "m"; };
event = { out_channel = "kafka"; kafka_topic = "e"; timeout = 0; };
meta = { out_channel = ""; kafka_topic = "x"; };
imdb = { max_tables_num = 4096; max_records_num = 5; max_metrics_num = 128; record_timeout = 7; };
web_server = { bind_addr = "0.0.0.0"; port = 1024; ssl_auth = "on"; private_key = "/k"; cert_file = "/c"; ca_file = "/ca"; };
rest_api_server = { bind_addr = "::"; port = 65535; ssl_auth = "yes"; private_key = "p"; cert_file = "c"; ca_file = ""; };
logs = { metric_total_size = 1; metric_dir = "/m"; event_dir = "/e"; meta_dir = "/x/./y"; debug_dir = "d"; };
`;
    expect(load(text).config).toEqual({
      global: { logFileName: "a.log", logLevel: "error", restApiOn: false },
      kafka: {
        kafkaBroker: "k:1",
        batchNumMessages: 1,
        compressionCodec: "gzip",
        queueBufferingMaxMessages: 2,
        queueBufferingMaxKbytes: 3,
        queueBufferingMaxMs: 4,
        tls: true,
        caFile: "/ca.pem",
        certFile: "/c.pem",
        keyFile: "/k.pem",
        saslMechanism: "scram-sha-512",
        saslUsername: "u",
        saslPassword: "p w",
      },
      metric: { outChannel: "json", kafkaTopic: "m" },
      event: { outChannel: "kafka", kafkaTopic: "e", timeout: 0 },
      meta: { outChannel: "", kafkaTopic: "x" },
      imdb: { maxTablesNum: 4096, maxRecordsNum: 5, maxMetricsNum: 128, recordTimeout: 7 },
      webServer: { bindAddr: "0.0.0.0", port: 1024, sslAuth: true, privateKey: "/k", certFile: "/c", caFile: "/ca" },
      restApiServer: { bindAddr: "::", port: 65535, sslAuth: false, privateKey: "p", certFile: "c", caFile: "" },
      logs: { metricTotalSize: 1, metricDir: "/m", eventDir: "/e", metaDir: "/x/./y", debugDir: "d" },
    });
  });
  test("unknown log_level → debug with a note", () => {
    const text = withValue("global", "log_level", '"INFO"');
    const r = load(text);
    expect(r.config.global.logLevel).toBe("debug");
    expect(r.notes).toEqual([`${P}:${lineOf(text, "log_level")}: global.log_level: unknown level "INFO"; using debug`]);
  });
  test("unknown channels → off with a note", () => {
    let text = withValue("metric", "out_channel", '"prometheus"');
    text = text.replace('out_channel = "logs"', 'out_channel = "kafka2"');
    const r = load(text);
    expect(r.config.metric.outChannel).toBe("");
    expect(r.config.event.outChannel).toBe("");
    expect(r.config.meta.outChannel).toBe("logs");
    expect(r.notes).toEqual([
      `${P}:${lineOf(text, '"prometheus"')}: metric.out_channel: unknown channel "prometheus"; the metric channel is off`,
      `${P}:${lineOf(text, '"kafka2"')}: event.out_channel: unknown channel "kafka2"; the event channel is off`,
    ]);
    expect(load(withValue("meta", "out_channel", '"json"')).config.meta.outChannel).toBe("");
  });
  test("topics and kafka strings are truncated to 31 characters", () => {
    const long = "t".repeat(40);
    const r = load(withValue("event", "kafka_topic", `"${long}"`));
    expect(r.config.event.kafkaTopic).toBe("t".repeat(31));
    expect(r.notes[0]).toContain("event.kafka_topic: longer than 31 characters; truncated to");
    expect(load(withValue("kafka", "kafka_broker", `"${long}"`)).config.kafka.kafkaBroker).toHaveLength(31);
    expect(load(withValue("kafka", "compression_codec", `"${long}"`)).config.kafka.compressionCodec).toHaveLength(31);
    expect(load(withValue("metric", "kafka_topic", `"${"m".repeat(31)}"`)).notes).toEqual([]);
  });
  test("record_timeout ≤ 0 → 60; max_metrics_num capped at 128; metric_total_size capped at 1024", () => {
    for (const v of ["0", "-5"]) {
      const r = load(withValue("imdb", "record_timeout", v));
      expect(r.config.imdb.recordTimeout).toBe(60);
      expect(r.notes[0]).toContain(`imdb.record_timeout: ${v} is not positive; using 60`);
    }
    expect(load(withValue("imdb", "max_metrics_num", "500")).config.imdb.maxMetricsNum).toBe(128);
    const r = load(withValue("logs", "metric_total_size", "5000"));
    expect(r.config.logs.metricTotalSize).toBe(1024);
    expect(r.notes[0]).toContain("logs.metric_total_size: 5000 MiB is above the limit; using 1024");
  });
  test("ssl_auth: only \"on\" enables TLS", () => {
    expect(load(withValue("web_server", "ssl_auth", '"ON"')).config.webServer.sslAuth).toBe(false);
    expect(load(withValue("web_server", "ssl_auth", '"off"')).config.webServer.sslAuth).toBe(false);
  });
});

describe("bad values in the file", () => {
  const cases: Array<[string, string, string, string]> = [
    ["web_server", "port", "80", "must be an integer in [1024, 65535], got 80"],
    ["web_server", "port", "65536", "must be an integer in [1024, 65535], got 65536"],
    ["web_server", "port", '"8888"', 'must be an integer in [1024, 65535], got "8888"'],
    ["web_server", "port", "8888.0", "must be an integer in [1024, 65535], got 8888.0"],
    ["rest_api_server", "port", "0x10", "must be an integer in [1024, 65535], got 16"],
    ["web_server", "bind_addr", "127", "must be a string, got 127"],
    ["web_server", "ssl_auth", "true", 'must be a string ("on" or "off"), got true'],
    ["rest_api_server", "private_key", "[1]", "must be a string, got an array"],
    ["global", "rest_api_on", '"true"', 'must be a boolean (true or false), got "true"'],
    ["global", "rest_api_on", "1", "must be a boolean (true or false), got 1"],
    ["global", "log_level", "3", "must be a string, got 3"],
    ["global", "log_file_name", '""', 'must be a non-empty file name, got ""'],
    ["global", "log_file_name", '"a/b.log"', "must be a file name without '/', got \"a/b.log\""],
    ["kafka", "batch_num_messages", "0", "must be an integer in [1, 2147483647], got 0"],
    ["kafka", "queue_buffering_max_kbytes", "4294967296", "must be an integer in [1, 2147483647], got 4294967296"],
    ["kafka", "queue_buffering_max_ms", "-1", "must be an integer in [1, 2147483647], got -1"],
    ["kafka", "kafka_broker", "{}", "must be a string, got a group"],
    ["metric", "out_channel", "()", "must be a string, got a list"],
    ["event", "timeout", "-1", "must be an integer in [0, 2147483647], got -1"],
    ["imdb", "max_tables_num", "0", "must be an integer in [1, 4096], got 0"],
    ["imdb", "max_tables_num", "4097", "must be an integer in [1, 4096], got 4097"],
    ["imdb", "max_records_num", "0", "must be an integer in [1, 2147483647], got 0"],
    ["imdb", "max_metrics_num", "-3", "must be an integer in [1, 2147483647], got -3"],
    ["imdb", "record_timeout", "1.5", "must be an integer, got 1.5"],
    ["logs", "metric_total_size", "0", "must be an integer in [1, 2147483647], got 0"],
    ["logs", "metric_dir", '""', 'must be a non-empty path, got ""'],
    ["logs", "metric_dir", '"/var/log/$(id)"', 'must not contain "$", got "/var/log/$(id)"'],
    ["logs", "event_dir", '"/var/log/../x"', 'must not contain "./", got "/var/log/../x"'],
    ["logs", "event_dir", '"/var/log/a\\nb"', 'must not contain "\\n", got "/var/log/a\\nb"'],
    ["logs", "meta_dir", '""', 'must be a non-empty string, got ""'],
    ["logs", "debug_dir", "false", "must be a non-empty string, got false"],
  ];
  for (const [section, key, value, reason] of cases) {
    test(`${section}.${key} = ${value}`, () => {
      const text = withValue(section, key, value);
      const e = configError(text);
      const line = lineOf(text, `    ${key} = ${value}`);
      expect(e.message).toBe(`${P}:${line}: ${section}.${key}: ${reason}`);
      expect(e).toMatchObject({ code: "ECONFIG", file: P, line, key: `${section}.${key}`, reason });
    });
  }
  test("each unsafe path character is refused", () => {
    for (const bad of ["|", ";", "&", "$", ">", "<", "(", ")", "./", "/.", "?", "*", "'", "`", "[", "]", "\\", "!"]) {
      const lit = JSON.stringify(`/var/log/a${bad}b`);
      expect(() => load(withValue("logs", "metric_dir", lit))).toThrow(ConfigError);
    }
  });
  test("the first bad setting in file order is reported", () => {
    const e = configError('web_server = {\n ssl_auth = 1;\n port = 1;\n};');
    expect(e.message).toBe(`${P}:2: web_server.ssl_auth: must be a string ("on" or "off"), got 1`);
  });
  test("a section that is not a group", () => {
    expect(configError('a = 1;\nlogs = "x";').message).toBe(`${P}:2: logs: must be a group { ... }, got "x"`);
    expect(configError("imdb = (1);").message).toBe(`${P}:1: imdb: must be a group { ... }, got a list`);
  });
});

describe("TLS files", () => {
  const on = (sec: string, extra = "") =>
    `global = { rest_api_on = true; };\n${sec} = {\n ssl_auth = "on";\n private_key = "/k.pem";\n cert_file = "/c.pem";\n${extra}};`;
  test("present files pass", () => {
    const r = load(on("web_server", ' ca_file = "/ca.pem";\n'), {}, { exists: (p) => ["/k.pem", "/c.pem", "/ca.pem"].includes(p) });
    expect(r.config.webServer).toMatchObject({ sslAuth: true, privateKey: "/k.pem", certFile: "/c.pem", caFile: "/ca.pem" });
  });
  test("missing key, cert or CA file", () => {
    const only = (...ok: string[]) => ({ exists: (p: string) => ok.includes(p) });
    expect(configError(on("web_server"), {}, only("/c.pem")).message).toBe(
      `${P}:4: web_server.private_key: must name an existing file, got "/k.pem"`,
    );
    expect(configError(on("rest_api_server"), {}, only("/k.pem")).message).toBe(
      `${P}:5: rest_api_server.cert_file: must name an existing file, got "/c.pem"`,
    );
    expect(configError(on("rest_api_server", ' ca_file = "/ca";\n'), {}, only("/k.pem", "/c.pem")).message).toBe(
      `${P}:6: rest_api_server.ca_file: must name an existing file, got "/ca"`,
    );
  });
  test("empty or too long paths", () => {
    const e = configError('web_server = {\n ssl_auth = "on";\n cert_file = "/c";\n};');
    expect(e.message).toBe(`${P}:1: web_server.private_key: must be set when web_server.ssl_auth is "on"`);
    const long = "/" + "a".repeat(255);
    expect(configError(on("web_server").replace("/c.pem", long)).message).toBe(
      `${P}:5: web_server.cert_file: must be shorter than 256 characters, got 256`,
    );
  });
  test("servers that will not run are not checked", () => {
    const text = on("web_server") + '\nmetric = { out_channel = "logs"; };';
    expect(load(text, {}, { exists: () => false }).config.webServer.sslAuth).toBe(true);
    const rest = on("rest_api_server").replace("rest_api_on = true", "rest_api_on = false");
    expect(load(rest, {}, { exists: () => false }).config.restApiServer.sslAuth).toBe(true);
  });
});

describe("kafka TLS and SASL keys (additions)", () => {
  const kafka = (body: string, channel = "kafka") =>
    `event = { out_channel = "${channel}"; };\nkafka = {\n kafka_broker = "b:9093";\n${body}};`;
  const only = (...ok: string[]) => ({ exists: (p: string) => ok.includes(p) });
  test("absent: off, and the shipped file has none of them (no notes)", () => {
    expect(DEFAULTS.kafka).toMatchObject({ tls: false, caFile: "", certFile: "", keyFile: "", saslMechanism: "", saslUsername: "", saslPassword: "" });
    expect(SHIPPED_CONF).not.toContain("sasl_");
    expect(load(kafka("")).notes.some((n) => n.includes("tls"))).toBe(false);
  });
  test("TLS with CA and client certificate; SASL mechanism case-insensitive", () => {
    const text = kafka(' tls = true;\n ca_file = "/ca.pem";\n cert_file = "/c.pem";\n key_file = "/k.pem";\n sasl_mechanism = "PLAIN";\n sasl_username = "gopher";\n sasl_password = "s3cret";\n');
    const k = load(text, {}, only("/ca.pem", "/c.pem", "/k.pem")).config.kafka;
    expect(k).toMatchObject({ tls: true, caFile: "/ca.pem", certFile: "/c.pem", keyFile: "/k.pem", saslMechanism: "plain", saslUsername: "gopher", saslPassword: "s3cret" });
  });
  test("renderConf writes the keys that differ from the defaults and reads them back", () => {
    const c = defaultConfig();
    c.kafka.tls = true;
    c.kafka.saslMechanism = "scram-sha-256";
    c.kafka.saslUsername = "u";
    c.kafka.saslPassword = 'p"w';
    const text = renderConf(c);
    expect(text).toContain("tls = true;");
    expect(text).not.toContain("key_file");
    expect(load(text).config).toEqual(c);
  });
  test("bad values", () => {
    expect(configError(kafka(' tls = "yes";\n')).message).toBe(`${P}:4: kafka.tls: must be a boolean (true or false), got "yes"`);
    expect(configError(kafka(' sasl_mechanism = "gssapi";\n')).message).toBe(
      `${P}:4: kafka.sasl_mechanism: must be "plain", "scram-sha-256", "scram-sha-512" or "" (none), got "gssapi"`,
    );
    expect(configError(kafka(' sasl_mechanism = "plain";\n')).message).toBe(`${P}:2: kafka.sasl_username: must be set when kafka.sasl_mechanism is "plain"`);
    expect(configError(kafka(' tls = true;\n ca_file = "/nope";\n'), {}, only()).message).toBe(`${P}:5: kafka.ca_file: must name an existing file, got "/nope"`);
    expect(configError(kafka(' tls = true;\n cert_file = "/c.pem";\n'), {}, only("/c.pem")).message).toBe(
      `${P}:2: kafka.key_file: cert_file and key_file must be set together (mutual TLS)`,
    );
  });
  test("files without tls are noted, not used; nothing is checked when no channel uses Kafka", () => {
    const r = load(kafka(' ca_file = "/nope";\n'), {}, only());
    expect(r.notes).toContain(`${P}:4: kafka.ca_file: not used because kafka.tls is false`);
    expect(load(kafka(' tls = true;\n ca_file = "/nope";\n sasl_mechanism = "plain";\n', "logs"), {}, only()).config.kafka.tls).toBe(true);
  });
});

describe("GOPHER_* environment", () => {
  test("every variable is applied, with one note each", () => {
    const env = {
      GOPHER_LOG_LEVEL: "warn",
      GOPHER_EVENT_CHANNEL: "kafka",
      GOPHER_META_CHANNEL: "kafka",
      GOPHER_KAKFA_SERVER: "kafka.svc",
      GOPHER_METRIC_ADDR: "0.0.0.0",
      GOPHER_METRIC_PORT: "18888",
      GOPHER_REST_ADDR: "0.0.0.0",
      GOPHER_REST_PORT: "19999",
      GOPHER_REST_AUTH: "yes",
      GOPHER_REST_PRIVATE_KEY: "/etc/tls/key.pem",
      GOPHER_REST_CERT: "/etc/tls/cert.pem",
      GOPHER_REST_CAFILE: "/etc/tls/ca.pem",
      GOPHER_METRIC_LOGS_TOTAL_SIZE: "50",
    };
    const r = load(SHIPPED_CONF, env);
    const c = r.config;
    expect(c.global.logLevel).toBe("warn");
    expect(c.event.outChannel).toBe("kafka");
    expect(c.meta.outChannel).toBe("kafka");
    expect(c.kafka.kafkaBroker).toBe("kafka.svc:9092");
    expect(c.webServer).toMatchObject({ bindAddr: "0.0.0.0", port: 18888, sslAuth: false, privateKey: "" });
    expect(c.restApiServer).toEqual({
      bindAddr: "0.0.0.0",
      port: 19999,
      sslAuth: true,
      privateKey: "/etc/tls/key.pem",
      certFile: "/etc/tls/cert.pem",
      caFile: "/etc/tls/ca.pem",
    });
    expect(c.logs.metricTotalSize).toBe(50);
    expect(r.notes).toHaveLength(13);
    expect(r.notes).toContain('environment: GOPHER_METRIC_PORT="18888" overrides web_server.port');
    expect(r.notes).toContain('environment: GOPHER_KAKFA_SERVER="kafka.svc" overrides kafka.kafka_broker');
  });
  test("env overrides apply without a file too", () => {
    const r = load(null, { GOPHER_REST_PORT: "10000" });
    expect(r.config.restApiServer.port).toBe(10000);
    expect(r.path).toBeNull();
  });
  test("kafka server: port kept when given; unset leaves the file value; correct spelling wins", () => {
    expect(load(SHIPPED_CONF, { GOPHER_KAFKA_SERVER: "10.0.0.1:9093" }).config.kafka.kafkaBroker).toBe("10.0.0.1:9093");
    expect(load(withValue("kafka", "kafka_broker", '"f:1"')).config.kafka.kafkaBroker).toBe("f:1");
    expect(load(SHIPPED_CONF).config.kafka.kafkaBroker).toBe("");
    const both = load(SHIPPED_CONF, { GOPHER_KAKFA_SERVER: "a", GOPHER_KAFKA_SERVER: "b" });
    expect(both.config.kafka.kafkaBroker).toBe("b:9092");
    const long = load(SHIPPED_CONF, { GOPHER_KAFKA_SERVER: "a-very-long-kafka-broker-host-name.example" });
    expect(long.config.kafka.kafkaBroker).toBe("a-very-long-kafka-broker-host-n");
  });
  test("empty variables count as unset", () => {
    const r = load(SHIPPED_CONF, { GOPHER_LOG_LEVEL: "", GOPHER_METRIC_PORT: "", GOPHER_REST_AUTH: undefined });
    expect(r.config).toEqual(defaultConfig());
    expect(r.notes).toEqual([]);
  });
  test("GOPHER_REST_AUTH other than \"yes\" is ignored with a note", () => {
    const r = load(SHIPPED_CONF, { GOPHER_REST_AUTH: "no" });
    expect(r.config.restApiServer.sslAuth).toBe(false);
    expect(r.notes).toEqual(['environment: GOPHER_REST_AUTH="no" ignored (only "yes" enables HTTPS)']);
  });
  test("GOPHER_METRIC_LOGS_TOTAL_SIZE is clamped to 1024", () => {
    expect(load(SHIPPED_CONF, { GOPHER_METRIC_LOGS_TOTAL_SIZE: "999999" }).config.logs.metricTotalSize).toBe(1024);
  });
  const bad: Array<[string, string, string]> = [
    ["GOPHER_LOG_LEVEL", "verbose", "must be one of debug, info, warn, error"],
    ["GOPHER_EVENT_CHANNEL", "web_server", 'must be "logs" or "kafka"'],
    ["GOPHER_META_CHANNEL", "json", 'must be "logs" or "kafka"'],
    ["GOPHER_KAKFA_SERVER", "a b", "must be host or host:port without spaces or quotes"],
    ["GOPHER_KAFKA_SERVER", 'x"', "must be host or host:port without spaces or quotes"],
    ["GOPHER_METRIC_ADDR", "0.0.0.0 ", "must be an address without spaces or quotes"],
    ["GOPHER_REST_ADDR", "a\nb", "must be an address without spaces or quotes"],
    ["GOPHER_METRIC_PORT", "80", "must be a port number in [1024, 65535]"],
    ["GOPHER_METRIC_PORT", "8888x", "must be a port number in [1024, 65535]"],
    ["GOPHER_REST_PORT", "70000", "must be a port number in [1024, 65535]"],
    ["GOPHER_REST_PORT", "-1", "must be a port number in [1024, 65535]"],
    ["GOPHER_REST_PRIVATE_KEY", "key.pem", "must be an absolute path"],
    ["GOPHER_REST_CERT", "/" + "c".repeat(300), "must be shorter than 256 characters"],
    ["GOPHER_REST_CAFILE", '/a"b', "must not contain quotes or newlines"],
    ["GOPHER_METRIC_LOGS_TOTAL_SIZE", "0", "must be a positive integer (MiB)"],
    ["GOPHER_METRIC_LOGS_TOTAL_SIZE", "1.5", "must be a positive integer (MiB)"],
  ];
  for (const [name, value, reason] of bad) {
    test(`${name}=${JSON.stringify(value)} is refused`, () => {
      const e = configError(SHIPPED_CONF, { [name]: value });
      expect(e.message).toBe(`environment:0: ${name}: ${reason}, got ${JSON.stringify(value)}`);
      expect(e).toMatchObject({ code: "ECONFIG", file: "environment", line: 0, key: name });
    });
  }
  test("TLS checks run after env overrides and name the variable", () => {
    const env = { GOPHER_REST_AUTH: "yes", GOPHER_REST_PRIVATE_KEY: "/k.pem", GOPHER_REST_CERT: "/c.pem" };
    expect(load(SHIPPED_CONF, env, { exists: (p) => p === "/k.pem" || p === "/c.pem" }).config.restApiServer.sslAuth).toBe(true);
    const e = configError(SHIPPED_CONF, env, { exists: (p) => p === "/k.pem" });
    expect(e.message).toBe('environment:0: GOPHER_REST_CERT: must name an existing file, got "/c.pem"');
    const missing = configError(SHIPPED_CONF, { GOPHER_REST_AUTH: "yes" });
    const rest = SHIPPED_CONF.indexOf("rest_api_server =");
    const line = SHIPPED_CONF.slice(0, SHIPPED_CONF.indexOf("    private_key", rest)).split("\n").length;
    expect(missing).toMatchObject({ file: P, line, key: "rest_api_server.private_key" });
    expect(missing.reason).toBe('must be set when rest_api_server.ssl_auth is "on"');
  });
});

describe("fuzz", () => {
  test("2,000 mutations of the shipped file parse or fail cleanly", () => {
    let seed = 0x9e3779b9;
    const rand = (n: number) => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) % n;
    };
    const interesting = ['"', "{", "}", "(", ")", "[", "]", ";", "=", ":", ",", "/*", "#", "\\", "@include ", "0x", "L", "-", ".", "\n", "\0"];
    const counts = { ok: 0, syntax: 0, config: 0 };
    for (let n = 0; n < 2000; n++) {
      let t = SHIPPED_CONF;
      for (let k = 1 + rand(4); k > 0; k--) {
        const at = rand(t.length);
        switch (rand(5)) {
          case 0: // byte flip
            t = t.slice(0, at) + String.fromCharCode(t.charCodeAt(at) ^ (1 << rand(8))) + t.slice(at + 1);
            break;
          case 1: // truncation
            t = t.slice(0, at);
            break;
          case 2: // deletion
            t = t.slice(0, at) + t.slice(at + 1 + rand(20));
            break;
          case 3: // random byte
            t = t.slice(0, at) + String.fromCharCode(rand(256)) + t.slice(at);
            break;
          default: // syntax-significant insertion
            t = t.slice(0, at) + (interesting[rand(interesting.length)] as string) + t.slice(at);
        }
        if (t.length === 0) break;
      }
      try {
        load(t, {}, { exists: () => rand(2) === 0 });
        counts.ok++;
      } catch (e) {
        if (e instanceof LibconfigSyntaxError) counts.syntax++;
        else if (e instanceof ConfigError) counts.config++;
        else throw new Error(`mutation ${n} threw ${String(e)}\n---\n${t}`);
      }
    }
    expect(counts.ok + counts.syntax + counts.config).toBe(2000);
    expect(counts.syntax).toBeGreaterThan(0);
    expect(counts.ok).toBeGreaterThan(0);
  });
});

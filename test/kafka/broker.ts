// A real single-node Apache Kafka broker (KRaft, broker + controller in one JVM) for
// tests and the Kafka benchmark. The jars come from Maven Central through
// `mvn dependency:copy-dependencies` on test/kafka/pom.xml and are cached in
// ~/.cache/gala-gopher-kafka (GALA_GOPHER_KAFKA_CACHE overrides); a cache that holds the
// pinned version is reused without running Maven.
//
//   bun test/kafka/broker.ts fetch              # only download the jars
//   bun test/kafka/broker.ts run [--port N] [--dir D] [--secure]
//                                               # run a broker in the foreground until Ctrl-C;
//                                               # --secure adds a SASL_SSL listener (mutual TLS)
//
// As a module: `await KafkaBroker.start()`, then `.stop()`, `.start()` again (same port,
// same data dir: a restart), `.destroy()`.
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "node:net";

export const KAFKA_VERSION = "4.1.1";
const POM = join(import.meta.dir, "pom.xml");

export function cacheDir(): string {
  return process.env.GALA_GOPHER_KAFKA_CACHE ?? join(homedir(), ".cache", "gala-gopher-kafka");
}

function onPath(cmd: string): boolean {
  const r = Bun.spawnSync(["sh", "-c", `command -v ${cmd}`]);
  return r.exitCode === 0 && r.stdout.toString().trim() !== "";
}

/** Why a real broker cannot run here, or undefined when it can (java 17+ and, unless cached, mvn). */
export function brokerUnavailable(): string | undefined {
  if (!onPath("java")) return "java is not installed (Kafka needs Java 17 or later)";
  const v = Bun.spawnSync(["java", "-version"]);
  const m = /version "(\d+)/.exec(v.stderr.toString() + v.stdout.toString());
  if (m && Number(m[1]) < 17) return `java ${m[1]} is too old (Kafka ${KAFKA_VERSION} needs Java 17 or later)`;
  if (!jarsCached() && !onPath("mvn")) return "mvn is not installed and the Kafka jars are not cached";
  return undefined;
}

function libDir(): string {
  return join(cacheDir(), KAFKA_VERSION, "lib");
}

function jarsCached(): boolean {
  return existsSync(join(cacheDir(), KAFKA_VERSION, ".complete"));
}

/** Downloads (once) the broker jars; returns the directory holding them. */
export function ensureJars(log: (s: string) => void = () => undefined): string {
  const lib = libDir();
  if (jarsCached()) return lib;
  log(`fetching Apache Kafka ${KAFKA_VERSION} jars with Maven into ${lib}`);
  rmSync(lib, { recursive: true, force: true });
  mkdirSync(lib, { recursive: true });
  const r = Bun.spawnSync(
    [
      "mvn", "-B", "-q", "-f", POM,
      `-Dkafka.version=${KAFKA_VERSION}`,
      "dependency:copy-dependencies",
      "-DincludeScope=runtime",
      `-DoutputDirectory=${lib}`,
    ],
    { stdout: "pipe", stderr: "pipe" },
  );
  if (r.exitCode !== 0 || !readdirSync(lib).some((f) => f.startsWith("kafka_2.13-"))) {
    throw new Error(`mvn dependency:copy-dependencies failed (exit ${r.exitCode}):\n${r.stdout.toString()}${r.stderr.toString()}`.slice(0, 4000));
  }
  writeFileSync(join(cacheDir(), KAFKA_VERSION, ".complete"), new Date().toISOString() + "\n");
  return lib;
}

function ephemeralRange(): [number, number] {
  try {
    const [lo, hi] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/).map(Number);
    if (lo && hi) return [lo, hi];
  } catch {
    /* not Linux */
  }
  return [32768, 60999];
}

/**
 * A free loopback port below the ephemeral range, so that no outgoing connection (the
 * broker's own, or a client's while the broker is stopped) can take it as its source port
 * before the broker binds it again.
 */
async function freePort(avoid: readonly number[] = []): Promise<number> {
  const [lo] = ephemeralRange();
  const top = Math.min(lo, 65536) - 1;
  const bottom = Math.max(1024, top - 12000);
  for (let i = 0; i < 200; i++) {
    const p = bottom + Math.floor(Math.random() * (top - bottom));
    if (avoid.includes(p)) continue;
    try {
      const s = Bun.listen({ hostname: "127.0.0.1", port: p, socket: { data() {} } });
      s.stop(true);
      return p;
    } catch {
      /* taken */
    }
  }
  throw new Error("no free port found for the broker");
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: "127.0.0.1", port });
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.once("connect", () => done(true));
    s.once("error", () => done(false));
    s.setTimeout(1000, () => done(false));
  });
}

/**
 * Kafka's cluster ids are 16 random bytes in URL-safe base64 without padding; like
 * Kafka's own generator, skip ids starting with "-", which the tool's argument parser
 * would take for an option.
 */
export function clusterId(): string {
  for (;;) {
    const id = Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString("base64url");
    if (!id.startsWith("-")) return id;
  }
}

export interface BrokerOptions {
  port?: number;
  dir?: string;
  /**
   * Also open a SASL_SSL listener: TLS with a test CA, client certificates required
   * (mutual TLS) and SASL PLAIN user `gopher` / `s3cret`. Needs openssl.
   */
  secure?: boolean;
  /** Extra server.properties lines. */
  extra?: Record<string, string | number>;
  log?: (s: string) => void;
}

/** PEM files of the secure listener (under the broker's dir). */
export interface SecureListener {
  bootstrap: string;
  caFile: string;
  certFile: string;
  keyFile: string;
  username: string;
  password: string;
}

function openssl(args: string[], cwd: string): void {
  const r = Bun.spawnSync(["openssl", ...args], { cwd, stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`openssl ${args.join(" ")} failed: ${r.stderr.toString()}`);
}

/** A test CA, a server certificate for 127.0.0.1 and a client certificate, all PEM (keys PKCS#8). */
function makeCerts(dir: string): { ca: string; serverPem: string; clientCert: string; clientKey: string } {
  mkdirSync(dir, { recursive: true });
  const days = ["-days", "2"];
  openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-subj", "/CN=gala-gopher test CA", ...days], dir);
  for (const [name, cn, ext] of [
    ["server", "127.0.0.1", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
    ["client", "gala-gopher", "extendedKeyUsage=clientAuth"],
  ] as const) {
    openssl(["req", "-newkey", "rsa:2048", "-nodes", "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${cn}`], dir);
    writeFileSync(join(dir, `${name}.ext`), ext + "\n");
    openssl(["x509", "-req", "-in", `${name}.csr`, "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", `${name}.pem`, "-extfile", `${name}.ext`, ...days], dir);
  }
  // Kafka's PEM key store: the unencrypted PKCS#8 key followed by the certificate.
  openssl(["pkcs8", "-topk8", "-nocrypt", "-in", "server.key", "-out", "server.p8"], dir);
  const serverPem = join(dir, "server-store.pem");
  writeFileSync(serverPem, readFileSync(join(dir, "server.p8"), "utf8") + readFileSync(join(dir, "server.pem"), "utf8"));
  return { ca: join(dir, "ca.pem"), serverPem, clientCert: join(dir, "client.pem"), clientKey: join(dir, "client.key") };
}

export class KafkaBroker {
  private proc?: ReturnType<typeof Bun.spawn>;
  secure?: SecureListener;
  private constructor(
    readonly port: number,
    readonly controllerPort: number,
    readonly dir: string,
    private readonly lib: string,
    private readonly log: (s: string) => void,
    private readonly ownsDir: boolean,
  ) {}

  get bootstrap(): string {
    return `127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.proc !== undefined && this.proc.exitCode === null;
  }

  /** Fetches the jars if needed, formats a fresh data dir and starts the broker. */
  static async start(o: BrokerOptions = {}): Promise<KafkaBroker> {
    const log = o.log ?? (() => undefined);
    const lib = ensureJars(log);
    // With ports and dir of our own choosing, a failed start is tried once more afresh.
    const attempts = o.port === undefined && o.dir === undefined ? 2 : 1;
    for (let i = 1; ; i++) {
      try {
        return await KafkaBroker.startOnce(o, lib, log);
      } catch (e) {
        if (i >= attempts) throw e;
        log(`kafka did not start (${String(e)}); trying again with new ports`);
      }
    }
  }

  private static async startOnce(o: BrokerOptions, lib: string, log: (s: string) => void): Promise<KafkaBroker> {
    const port = o.port ?? (await freePort());
    const controllerPort = await freePort([port]);
    const dir = o.dir ?? mkdtempSync(join(tmpdir(), "gg-kafka-"));
    const b = new KafkaBroker(port, controllerPort, dir, lib, log, o.dir === undefined);
    const extra = { ...o.extra };
    if (o.secure) {
      const sport = await freePort([port, controllerPort]);
      const c = makeCerts(join(dir, "certs"));
      b.secure = { bootstrap: `127.0.0.1:${sport}`, caFile: c.ca, certFile: c.clientCert, keyFile: c.clientKey, username: "gopher", password: "s3cret" };
      Object.assign(extra, {
        listeners: `PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort},SASL_SSL://127.0.0.1:${sport}`,
        "advertised.listeners": `PLAINTEXT://127.0.0.1:${port},SASL_SSL://127.0.0.1:${sport}`,
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL",
        "sasl.enabled.mechanisms": "PLAIN",
        "listener.name.sasl_ssl.plain.sasl.jaas.config":
          'org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="admin" user_gopher="s3cret";',
        "listener.name.sasl_ssl.ssl.keystore.type": "PEM",
        "listener.name.sasl_ssl.ssl.keystore.location": c.serverPem,
        "listener.name.sasl_ssl.ssl.truststore.type": "PEM",
        "listener.name.sasl_ssl.ssl.truststore.location": c.ca,
        "listener.name.sasl_ssl.ssl.client.auth": "required",
      });
    }
    b.configure(extra);
    try {
      if (!existsSync(join(dir, "data", "meta.properties"))) b.format();
      await b.start();
    } catch (e) {
      await b.destroy();
      throw e;
    }
    return b;
  }

  private configure(extra: Record<string, string | number>): void {
    const props: Record<string, string | number> = {
      "process.roles": "broker,controller",
      "node.id": 1,
      "controller.quorum.voters": `1@127.0.0.1:${this.controllerPort}`,
      listeners: `PLAINTEXT://127.0.0.1:${this.port},CONTROLLER://127.0.0.1:${this.controllerPort}`,
      "advertised.listeners": `PLAINTEXT://127.0.0.1:${this.port}`,
      "controller.listener.names": "CONTROLLER",
      "inter.broker.listener.name": "PLAINTEXT",
      "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
      "log.dirs": join(this.dir, "data"),
      "num.partitions": 1,
      "auto.create.topics.enable": "true",
      "offsets.topic.replication.factor": 1,
      "offsets.topic.num.partitions": 1,
      "transaction.state.log.replication.factor": 1,
      "transaction.state.log.min.isr": 1,
      "share.coordinator.state.topic.replication.factor": 1,
      "share.coordinator.state.topic.min.isr": 1,
      "group.initial.rebalance.delay.ms": 0,
      "log.retention.hours": 1,
      ...extra,
    };
    writeFileSync(join(this.dir, "server.properties"), Object.entries(props).map(([k, v]) => `${k}=${v}`).join("\n") + "\n");
    writeFileSync(
      join(this.dir, "log4j.properties"),
      [
        "log4j.rootLogger=WARN, file",
        "log4j.appender.file=org.apache.log4j.FileAppender",
        `log4j.appender.file.File=${join(this.dir, "broker.log")}`,
        "log4j.appender.file.layout=org.apache.log4j.PatternLayout",
        "log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n",
        "log4j.logger.kafka.server.KafkaRaftServer=INFO",
        "log4j.logger.kafka.server.BrokerServer=INFO",
      ].join("\n") + "\n",
    );
  }

  private java(mainClass: string, args: string[]): string[] {
    return [
      "java",
      "-Xms128m",
      "-Xmx512m",
      "-XX:+UseSerialGC",
      "-XX:TieredStopAtLevel=1",
      "-Djava.awt.headless=true",
      `-Dlog4j.configuration=file:${join(this.dir, "log4j.properties")}`,
      "-cp",
      join(this.lib, "*"),
      mainClass,
      ...args,
    ];
  }

  private format(): void {
    const r = Bun.spawnSync(this.java("kafka.tools.StorageTool", ["format", "-t", clusterId(), "-c", join(this.dir, "server.properties")]), {
      stdout: "pipe",
      stderr: "pipe",
    });
    if (r.exitCode !== 0) throw new Error(`kafka-storage format failed (exit ${r.exitCode}): ${r.stdout.toString()}${r.stderr.toString()}`);
  }

  /** Starts (or restarts) the broker on the same port and data dir; resolves when it accepts connections. */
  async start(timeoutMs = 60_000): Promise<void> {
    if (this.running) return;
    const out = openSync(join(this.dir, "stdout.log"), "a");
    this.proc = Bun.spawn(this.java("kafka.Kafka", [join(this.dir, "server.properties")]), {
      stdout: out,
      stderr: out,
      stdin: "ignore",
    });
    closeSync(out);
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      if (this.proc.exitCode !== null) throw new Error(`kafka exited with ${this.proc.exitCode}:\n${this.logTail()}`);
      if (await canConnect(this.port)) {
        this.log(`kafka ${KAFKA_VERSION} listening on ${this.bootstrap} (data ${this.dir})`);
        return;
      }
      await Bun.sleep(100);
    }
    await this.stop();
    throw new Error(`kafka did not accept connections on ${this.bootstrap} within ${timeoutMs} ms`);
  }

  /** The last lines of the broker's output and log, for error messages. */
  logTail(lines = 15): string {
    let out = "";
    for (const f of ["stdout.log", "broker.log"]) {
      try {
        out += `--- ${join(this.dir, f)}\n${readFileSync(join(this.dir, f), "utf8").trimEnd().split("\n").slice(-lines).join("\n")}\n`;
      } catch {
        /* not written */
      }
    }
    return out;
  }

  /** Stops the broker (SIGTERM, controlled shutdown; SIGKILL after `graceMs`). The data dir stays. */
  async stop(graceMs = 20_000): Promise<void> {
    const p = this.proc;
    if (!p) return;
    this.proc = undefined;
    if (p.exitCode !== null) return;
    p.kill("SIGTERM");
    const t = setTimeout(() => p.kill("SIGKILL"), graceMs);
    await p.exited;
    clearTimeout(t);
    // The listening port must be free before a restart reuses it.
    const end = Date.now() + 10_000;
    while (Date.now() < end && (await canConnect(this.port))) await Bun.sleep(100);
    this.log(`kafka on ${this.bootstrap} stopped`);
  }

  /** Stops the broker and removes its data dir when this object created it. */
  async destroy(): Promise<void> {
    await this.stop(5_000);
    if (this.ownsDir) rmSync(this.dir, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  const [cmd, ...rest] = process.argv.slice(2);
  const log = (s: string) => console.error(`[broker] ${s}`);
  const flag = (name: string) => {
    const i = rest.indexOf(name);
    return i >= 0 ? rest[i + 1] : undefined;
  };
  if (cmd === "fetch") {
    console.log(ensureJars(log));
  } else if (cmd === "run") {
    const why = brokerUnavailable();
    if (why) {
      log(why);
      process.exit(1);
    }
    const port = flag("--port");
    const dir = flag("--dir");
    if (dir) mkdirSync(dir, { recursive: true });
    const b = await KafkaBroker.start({ port: port ? Number(port) : undefined, dir, log, secure: rest.includes("--secure") });
    console.log(b.bootstrap);
    if (b.secure) console.log(JSON.stringify(b.secure));
    const bye = () => void b.destroy().then(() => process.exit(0));
    process.once("SIGINT", bye);
    process.once("SIGTERM", bye);
    await new Promise(() => undefined);
  } else {
    console.error("usage: bun test/kafka/broker.ts fetch | run [--port N] [--dir DIR] [--secure]");
    process.exit(2);
  }
}

// A real single-node Apache Kafka broker (KRaft, broker + controller in one JVM) for
// tests and the Kafka benchmark. The jars come from Maven Central through
// `mvn dependency:copy-dependencies` on test/kafka/pom.xml and are cached in
// ~/.cache/gala-gopher-kafka (GALA_GOPHER_KAFKA_CACHE overrides); a cache that holds the
// pinned version is reused without running Maven.
//
//   bun test/kafka/broker.ts fetch              # only download the jars
//   bun test/kafka/broker.ts run [--port N]     # run a broker in the foreground until Ctrl-C
//
// As a module: `await KafkaBroker.start()`, then `.stop()`, `.start()` again (same port,
// same data dir: a restart), `.destroy()`.
import { closeSync, existsSync, mkdirSync, openSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
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

async function freePort(): Promise<number> {
  const s = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const p = s.port;
  s.stop(true);
  return p;
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

/** Kafka's cluster ids are 16 random bytes in URL-safe base64 without padding. */
function clusterId(): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString("base64url");
}

export interface BrokerOptions {
  port?: number;
  dir?: string;
  /** Extra server.properties lines. */
  extra?: Record<string, string | number>;
  log?: (s: string) => void;
}

export class KafkaBroker {
  private proc?: ReturnType<typeof Bun.spawn>;
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
    const port = o.port ?? (await freePort());
    let controllerPort = await freePort();
    while (controllerPort === port) controllerPort = await freePort();
    const dir = o.dir ?? mkdtempSync(join(tmpdir(), "gg-kafka-"));
    const b = new KafkaBroker(port, controllerPort, dir, lib, log, o.dir === undefined);
    b.configure(o.extra ?? {});
    if (!existsSync(join(dir, "data", "meta.properties"))) b.format();
    await b.start();
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
      if (this.proc.exitCode !== null) throw new Error(`kafka exited with ${this.proc.exitCode}; see ${this.dir}/stdout.log and broker.log`);
      if (await canConnect(this.port)) {
        this.log(`kafka ${KAFKA_VERSION} listening on ${this.bootstrap} (data ${this.dir})`);
        return;
      }
      await Bun.sleep(100);
    }
    await this.stop();
    throw new Error(`kafka did not accept connections on ${this.bootstrap} within ${timeoutMs} ms`);
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
    const b = await KafkaBroker.start({ port: port ? Number(port) : undefined, dir, log });
    console.log(b.bootstrap);
    const bye = () => void b.destroy().then(() => process.exit(0));
    process.once("SIGINT", bye);
    process.once("SIGTERM", bye);
    await new Promise(() => undefined);
  } else {
    console.error("usage: bun test/kafka/broker.ts fetch | run [--port N] [--dir DIR]");
    process.exit(2);
  }
}

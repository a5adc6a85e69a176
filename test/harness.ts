// Shared helpers for tests: free ports, temp dirs, agent configs, the compiled agent as
// a child process, scraping.
import { cpSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hostPathsUnder } from "../src/host/fs.ts";

export const ROOT = join(import.meta.dir, "..");
export const DIST_BIN = join(ROOT, "dist", "gala-gopher");
export const FIXTURES = join(ROOT, "test", "fixtures", "hosts");

export async function freePort(): Promise<number> {
  const s = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const p = s.port;
  s.stop(true);
  return p;
}

export function tempDir(prefix = "gg-test-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Copies a fixture host into a temp dir (tests may then change files in it). */
export function copyFixture(name: string): string {
  const dir = tempDir(`gg-host-${name}-`);
  cpSync(join(FIXTURES, name), dir, { recursive: true });
  return dir;
}

export interface AgentFiles {
  dir: string;
  conf: string;
  runDir: string;
  probesInit: string;
  metricsPort: number;
  restPort: number;
  logDir: string;
}

export interface ConfigOptions {
  metricChannel?: string;
  eventChannel?: string;
  metaChannel?: string;
  eventTimeout?: number;
  extra?: string;
}

/** A temp dir with a gala-gopher.conf on free ports and every log dir inside it. */
export async function agentFiles(o: ConfigOptions = {}): Promise<AgentFiles> {
  const dir = tempDir("gg-agent-");
  const metricsPort = await freePort();
  const restPort = await freePort();
  const logDir = join(dir, "log");
  const conf = join(dir, "gala-gopher.conf");
  writeFileSync(
    conf,
    `global = { log_file_name = "gopher.log"; log_level = "debug"; rest_api_on = true; };
metric = { out_channel = "${o.metricChannel ?? "web_server"}"; kafka_topic = "gala_gopher"; };
event = { out_channel = "${o.eventChannel ?? "logs"}"; kafka_topic = "gala_gopher_event"; timeout = ${o.eventTimeout ?? 600}; };
meta = { out_channel = "${o.metaChannel ?? "logs"}"; kafka_topic = "gala_gopher_metadata"; };
web_server = { bind_addr = "127.0.0.1"; port = ${metricsPort}; ssl_auth = "off"; private_key = ""; cert_file = ""; ca_file = ""; };
rest_api_server = { bind_addr = "127.0.0.1"; port = ${restPort}; ssl_auth = "off"; private_key = ""; cert_file = ""; ca_file = ""; };
logs = { metric_total_size = 100; metric_dir = "${logDir}/metrics"; event_dir = "${logDir}/event"; meta_dir = "${logDir}/meta"; debug_dir = "${logDir}/debug"; };
${o.extra ?? ""}
`,
  );
  const probesInit = join(dir, "probes.init");
  writeFileSync(probesInit, "");
  return { dir, conf, runDir: join(dir, "run"), probesInit, metricsPort, restPort, logDir };
}

export function cliArgs(f: AgentFiles, host?: string): string[] {
  const a = ["-c", f.conf, "--run-dir", f.runDir, "--probes-init", f.probesInit];
  if (host) a.push("--path.procfs", join(host, "proc"), "--path.sysfs", join(host, "sys"), "--path.rootfs", host);
  return a;
}

export interface Child {
  proc: ReturnType<typeof Bun.spawn>;
  stop(): Promise<number>;
  stderr(): string;
}

/** Starts the compiled agent (or `bun src/main.ts` when `useSource`). */
export function spawnAgent(args: string[], opts: { env?: Record<string, string>; useSource?: boolean } = {}): Child {
  const cmd = opts.useSource ? [process.execPath, join(ROOT, "src", "main.ts"), ...args] : [DIST_BIN, ...args];
  let err = "";
  const proc = Bun.spawn(cmd, { env: { ...process.env, ...opts.env }, stdout: "ignore", stderr: "pipe" });
  void (async () => {
    const dec = new TextDecoder();
    for await (const chunk of proc.stderr as ReadableStream<Uint8Array>) err += dec.decode(chunk);
  })();
  return {
    proc,
    stderr: () => err,
    async stop() {
      proc.kill("SIGTERM");
      const t = setTimeout(() => proc.kill("SIGKILL"), 8000);
      const code = await proc.exited;
      clearTimeout(t);
      return code;
    },
  };
}

export async function waitFor<T>(what: string, f: () => Promise<T | undefined> | T | undefined, timeoutMs = 10_000, stepMs = 50): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const v = await f();
      if (v !== undefined && v !== false) return v as T;
      last = undefined;
    } catch (e) {
      last = e;
    }
    await Bun.sleep(stepMs);
  }
  throw new Error(`timed out waiting for ${what}${last ? ` (last attempt: ${String(last)})` : " (the condition never held)"}`);
}

export async function scrape(port: number, path = "/metrics"): Promise<string> {
  const r = await fetch(`http://127.0.0.1:${port}${path}`);
  if (r.status !== 200) throw new Error(`scrape ${path}: HTTP ${r.status}`);
  return r.text();
}

export async function put(port: number, feature: string, doc: unknown): Promise<{ status: number; body: string }> {
  const r = await fetch(`http://127.0.0.1:${port}/${feature}`, { method: "PUT", body: `json=${JSON.stringify(doc)}` });
  return { status: r.status, body: await r.text() };
}

/** Lines of the exposition that are samples (no comments), optionally filtered by prefix. */
export function samples(text: string, prefix = "gala_gopher_"): string[] {
  return text.split("\n").filter((l) => l.startsWith(prefix));
}

/** Value of the first sample whose line starts with `series` (name plus `{` and labels). */
export function sampleValue(text: string, series: string): number | undefined {
  for (const l of text.split("\n")) if (l.startsWith(series)) return Number(l.slice(l.lastIndexOf(" ") + 1));
  return undefined;
}

export function hasDist(): boolean {
  return existsSync(DIST_BIN);
}

export function rmrf(p: string): void {
  rmSync(p, { recursive: true, force: true });
}

export function which(cmd: string): string | undefined {
  const r = Bun.spawnSync(["sh", "-c", `command -v ${cmd}`]);
  const s = r.stdout.toString().trim();
  return r.exitCode === 0 && s ? s : undefined;
}

/** CLI options for an in-process agent on `files`, optionally rooted at a fixture host. */
export function agentOptions(files: AgentFiles, host?: string, saveProbes = false): import("../src/cli.ts").CliOptions {
  return {
    configPath: files.conf,
    configPathGiven: true,
    probesInit: files.probesInit,
    saveProbes,
    runDir: files.runDir,
    ...(host ? hostPathsUnder(host) : {}),
  };
}

// The Go peers of the l7 end-to-end tests (testdata/peers: gRPC, HTTP/2 and MongoDB servers
// and clients that print their own tally), built with the host's Go into a temporary
// directory, and the servers they and the tests start on loopback.
//   * goPeers(test): whether Go (>= 1.21, or the toolchain an older Go fetches: goTool) and
//     the peers' modules are here (fetched through the Go proxy when not cached; a refusal
//     skips, printing why), then the build; a build that fails once the modules are here is
//     an error, not a skip.
//   * startGoServer: a peer server on 127.0.0.1, port 0; resolves once it says where.
//   * startNginxH2c: nginx speaking HTTP/2 cleartext with prior knowledge (`listen … http2`).
import { chmodSync, cpSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { waitFor } from "../../../test/harness.ts";
import { type Nginx, startNginxIn } from "./test-servers.ts";

const PEERS_SRC = join(import.meta.dir, "testdata", "peers");

export class PeersError extends Error {
  readonly code = "EL7PEERS";
}

/**
 * The Go toolchain: /usr/local/go/bin/go, else `go` on PATH. A Go older than 1.21 (Debian
 * 12's 1.19) cannot switch to the toolchain the peers' go.mod names by itself: it fetches it
 * as Go 1.21+ would, the module golang.org/toolchain through the Go proxy (goToolchain).
 * Returns { skip } when there is no Go or that fails.
 */
export function goTool(): { go: string; skip?: undefined } | { go?: undefined; skip: string } {
  const local = "/usr/local/go/bin/go";
  const go = Bun.spawnSync(["test", "-x", local]).exitCode === 0 ? local : Bun.which("go");
  if (!go) return { skip: "no Go toolchain (/usr/local/go/bin/go or go on PATH)" };
  const v = Bun.spawnSync([go, "env", "GOVERSION"]).stdout.toString().trim();
  const m = /^go1\.(\d+)/.exec(v);
  if (!m) return { skip: `${go} env GOVERSION said ${JSON.stringify(v)}, not a Go version` };
  if (Number(m[1]) >= 21) return { go };
  try {
    return { go: goToolchain(go) };
  } catch (e) {
    return { skip: `${go} is ${v}, older than the 1.21 that fetches toolchains, and fetching one failed: ${(e as Error).message}` };
  }
}

/** The Go the peers' go.mod names ("go 1.26.8"), fetched by `oldGo` through the Go proxy: its bin/go. */
export function goToolchain(oldGo: string): string {
  const want = /^go (\d+\.\d+(?:\.\d+)?)$/m.exec(readFileSync(join(PEERS_SRC, "go.mod"), "utf8"))?.[1];
  if (!want) throw new PeersError("testdata/peers/go.mod has no go line");
  const arch = process.arch === "x64" ? "amd64" : process.arch;
  const mod = `golang.org/toolchain@v0.0.1-go${want}.linux-${arch}`;
  const env = { ...(process.env as Record<string, string>) };
  delete env.GOFLAGS;
  const r = Bun.spawnSync([oldGo, "mod", "download", "-json", mod], { cwd: tmpdir(), env, stdout: "pipe", stderr: "pipe" });
  let info: { Dir?: string; Error?: string } = {};
  try {
    info = JSON.parse(r.stdout.toString()) as typeof info;
  } catch {
    // no JSON: the reason is on stderr
  }
  const dir = info.Dir;
  if (r.exitCode !== 0 || !dir) throw new PeersError(`go mod download ${mod}: ${info.Error ?? r.stderr.toString().trim()}`);
  // Module zips keep no file modes: the executables are made executable, as Go's own switch does.
  const tools = join(dir, "pkg", "tool", `linux_${arch}`);
  for (const f of [...readdirSync(join(dir, "bin")).map((n) => join(dir, "bin", n)), ...readdirSync(tools).map((n) => join(tools, n))]) chmodSync(f, 0o555);
  return join(dir, "bin", "go");
}

/** The environment Go runs in: modules resolved from go.mod (GOFLAGS=-mod=mod), the default proxy. */
export function goEnv(): Record<string, string> {
  const env: Record<string, string> = { ...(process.env as Record<string, string>), GOFLAGS: "-mod=mod", GOTOOLCHAIN: "auto" };
  env.HOME ??= "/root";
  return env;
}

/** Runs `go args` in `dir`; throws PeersError with Go's output when it fails. */
export function runGo(go: string, dir: string, args: string[], what: string): void {
  const r = Bun.spawnSync([go, ...args], { cwd: dir, env: goEnv(), stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new PeersError(`${what}: go ${args.join(" ")} exited ${r.exitCode}: ${(r.stderr.toString() + r.stdout.toString()).trim().slice(-2000)}`);
}

export interface GoPeers {
  /** The built peers executable ("" when the test cannot run). */
  bin: string;
  /** Why the test cannot run (printed), or undefined. */
  skip?: string;
  dispose(): void;
}

/**
 * The peers built into a temporary directory, when `can` (the test's other requirements) holds;
 * a missing Go or a module download the Go proxy refuses is a skip reason, printed under `test`.
 */
export function goPeers(test: string, can: boolean): GoPeers {
  const none = (skip?: string): GoPeers => {
    if (skip) console.warn(`${test}: skipped: ${skip}`);
    return { bin: "", skip: skip ?? "not runnable here", dispose() {} };
  };
  if (!can) return none();
  const { go, skip } = goTool();
  if (!go) return none(`${skip}: cannot build testdata/peers`);
  const dir = mkdtempSync(join(tmpdir(), "gg-l7-peers-"));
  const dispose = () => rmSync(dir, { recursive: true, force: true });
  cpSync(PEERS_SRC, join(dir, "src"), { recursive: true });
  try {
    runGo(go, join(dir, "src"), ["mod", "download"], "fetching the peers' modules");
  } catch (e) {
    dispose();
    return none(`the Go proxy did not give the peers' modules: ${(e as Error).message}`);
  }
  runGo(go, join(dir, "src"), ["build", "-o", join(dir, "peers"), "."], "building testdata/peers");
  return { bin: join(dir, "peers"), dispose };
}

export interface Served extends AsyncDisposable {
  pid: number;
  port: number;
}

/** Starts `cmd` (a peer server) and resolves once it printed "listening <host>:<port>". */
export async function startGoServer(cmd: string[], timeoutMs = 20_000): Promise<Served> {
  const proc = Bun.spawn(cmd, { stdout: "pipe", stderr: "pipe" });
  const reader = proc.stdout.getReader();
  let text = "";
  const end = Date.now() + timeoutMs;
  let port = 0;
  try {
    while (!port) {
      const left = end - Date.now();
      if (left <= 0) throw new PeersError(`${cmd.join(" ")} said nothing of where it listens in ${timeoutMs} ms: ${text}`);
      const chunk = await Promise.race([reader.read(), Bun.sleep(left).then(() => undefined)]);
      if (!chunk) continue;
      if (chunk.done) throw new PeersError(`${cmd.join(" ")} exited before listening: ${text}${await new Response(proc.stderr).text()}`);
      text += new TextDecoder().decode(chunk.value);
      const m = /^listening [\d.]+:(\d+)$/m.exec(text);
      if (m) port = Number(m[1]);
    }
  } catch (e) {
    proc.kill("SIGKILL");
    throw e;
  }
  reader.releaseLock();
  return {
    pid: proc.pid,
    port,
    async [Symbol.asyncDispose]() {
      proc.kill();
      await proc.exited;
    },
  };
}

export interface WaitingClient {
  pid: number;
  /** Lets the client start; resolves with its exit code and output once it ends. */
  go(): Promise<{ code: number; out: string }>;
  kill(): void;
}

/**
 * A peer client started with PEERS_WAIT=1: it resolves once the client's executable runs
 * and says "ready" (its libraries loaded), and starts on go(). Unlike held(), the pid is
 * the client itself from the start, as the TLS uprobes (attached per executable) need.
 */
export async function startWaitingClient(cmd: string[], timeoutMs = 20_000): Promise<WaitingClient> {
  const proc = Bun.spawn(cmd, { stdin: "pipe", stdout: "pipe", stderr: "pipe", env: { ...process.env, PEERS_WAIT: "1" } });
  const reader = proc.stdout.getReader();
  let seen = "";
  const end = Date.now() + timeoutMs;
  try {
    while (!seen.includes("ready\n")) {
      const left = end - Date.now();
      if (left <= 0) throw new PeersError(`${cmd.join(" ")} was not ready in ${timeoutMs} ms`);
      const chunk = await Promise.race([reader.read(), Bun.sleep(left).then(() => undefined)]);
      if (!chunk) continue;
      if (chunk.done) throw new PeersError(`${cmd.join(" ")} exited before it was ready: ${await new Response(proc.stderr).text()}`);
      seen += new TextDecoder().decode(chunk.value);
    }
  } catch (e) {
    proc.kill("SIGKILL");
    throw e;
  }
  return {
    pid: proc.pid,
    async go() {
      const stdin = proc.stdin as import("bun").FileSink;
      stdin.write("go\n");
      await stdin.end();
      let out = seen.slice(seen.indexOf("ready\n") + 6);
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        out += new TextDecoder().decode(value);
      }
      const [err, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
      return { code, out: out + err };
    },
    kill: () => proc.kill("SIGKILL"),
  };
}

/** A client's own tally (testdata/peers/main.go). */
export interface PeerTally {
  apis: Record<string, { count: number; client: number; server: number; latency_sum_ns: number; latency_max_ns: number }>;
  connections: number;
  extra?: Record<string, number>;
}

/** The tally a client printed; throws naming what is wrong when it is not one. */
export function parseTally(out: string): PeerTally {
  const start = out.indexOf("{");
  let t: PeerTally;
  try {
    t = JSON.parse(out.slice(start)) as PeerTally;
  } catch (e) {
    throw new PeersError(`the client printed no tally (${(e as Error).message}): ${out.slice(0, 2000)}`);
  }
  if (typeof t.apis !== "object" || typeof t.connections !== "number") throw new PeersError(`the client's tally lacks apis/connections: ${out.slice(0, 2000)}`);
  return t;
}

export type NginxH2 = Nginx;

/**
 * nginx (one process) speaking HTTP/2 on 127.0.0.1: cleartext with prior knowledge, or TLS
 * when `tls` names a cert.pem/key.pem directory. Serves `files` from its root, and
 * `location = /fail` answers 500.
 */
export async function startNginxH2(files: Record<string, string>, o: { tls?: string } = {}): Promise<NginxH2> {
  const tls = o.tls ? `ssl_certificate ${o.tls}/cert.pem; ssl_certificate_key ${o.tls}/key.pem;` : "";
  return startNginxIn(
    "gg-l7-nginx-h2-",
    files,
    ({ dir, port, www }) => `daemon off;
master_process off;
user root;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/tmp; proxy_temp_path ${dir}/tmp; fastcgi_temp_path ${dir}/tmp; uwsgi_temp_path ${dir}/tmp; scgi_temp_path ${dir}/tmp;
  keepalive_requests 100000;
  http2_max_requests 100000;
  server {
    listen 127.0.0.1:${port} ${o.tls ? "ssl " : ""}http2;
    ${tls}
    root ${www};
    location = /fail { return 500; }
  }
}
`,
    async (port, dir) => {
      const scheme = o.tls ? "https" : "http";
      const probe = ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", ...(o.tls ? ["-k", "--http2"] : ["--http2-prior-knowledge"]), `${scheme}://127.0.0.1:${port}/`];
      try {
        await waitFor("nginx (HTTP/2)", () => Bun.spawnSync(probe).stdout.toString().match(/^[1-5]\d\d$/) !== null || undefined, 10_000, 100);
      } catch (e) {
        throw new PeersError(`nginx did not answer HTTP/2 on ${port}: ${(e as Error).message}; ${await Bun.file(join(dir, "error.log")).text().catch(() => "")}`);
      }
    },
  );
}

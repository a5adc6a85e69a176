// Test helpers: TLS servers on loopback for the l7 TLS tests — a self-signed certificate
// (openssl CLI), nginx with TLS (OpenSSL 3 from Debian; HTTP/1.1 and HTTP/2) in a temporary
// prefix, and the Go crypto/tls server of ./gotls. Each returns its pid, port and a stop().
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface RunningServer extends AsyncDisposable {
  readonly pid: number;
  readonly port: number;
  readonly dir: string;
}

/** A TCP port free on 127.0.0.1 right now. */
export function freePort(): number {
  const s = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = s.port;
  s.stop(true);
  return port;
}

/** Writes cert.pem and key.pem (EC P-256, CN and SAN 127.0.0.1) into `dir`. */
export function selfSignedCert(dir: string): { cert: string; key: string } {
  const cert = join(dir, "cert.pem");
  const key = join(dir, "key.pem");
  const r = Bun.spawnSync(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"], { stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`openssl req: ${r.stderr.toString()}`);
  return { cert, key };
}

async function waitForPort(port: number, proc: { exitCode: number | null }, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (proc.exitCode !== null) throw new Error(`${what} exited with ${proc.exitCode} before listening`);
    try {
      const s = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } });
      s.end();
      return;
    } catch {
      await Bun.sleep(20);
    }
  }
  throw new Error(`${what} did not listen on 127.0.0.1:${port} within ${ms} ms`);
}

/**
 * nginx (one process: master_process off) serving TLS on 127.0.0.1: `/missing` answers 404,
 * every other path 200 with "hello <uri>\n". `http2` adds the h2 ALPN on the same port.
 */
export async function startNginxTls(o: { http2?: boolean } = {}): Promise<RunningServer> {
  const dir = mkdtempSync(join(tmpdir(), "gg-nginx-tls-"));
  mkdirSync(join(dir, "tmp"));
  const { cert, key } = selfSignedCert(dir);
  const port = freePort();
  const conf = join(dir, "nginx.conf");
  const temp = ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"].map((t) => `${t}_temp_path ${join(dir, "tmp", t)};`).join(" ");
  writeFileSync(
    conf,
    `daemon off; master_process off; worker_processes 1; pid ${join(dir, "nginx.pid")}; error_log ${join(dir, "error.log")} warn;
events { worker_connections 256; }
http { access_log off; ${temp} keepalive_requests 100000;
  server { listen 127.0.0.1:${port} ssl${o.http2 ? " http2" : ""}; ssl_certificate ${cert}; ssl_certificate_key ${key};
    location = /missing { return 404; }
    location / { default_type text/plain; return 200 "hello $uri\\n"; } } }
`,
  );
  const proc = Bun.spawn(["nginx", "-p", dir, "-c", conf, "-e", join(dir, "error.log")], { stdout: "ignore", stderr: "pipe" });
  await waitForPort(port, proc, "nginx");
  return {
    pid: proc.pid,
    port,
    dir,
    async [Symbol.asyncDispose]() {
      proc.kill("SIGQUIT");
      await proc.exited;
    },
  };
}

/** The ./gotls server (`exe` built by goBuild) on a free loopback port. */
export async function startGoTlsServer(exe: string): Promise<RunningServer> {
  const port = freePort();
  const proc = Bun.spawn([exe, "server", `127.0.0.1:${port}`], { stdout: "pipe", stderr: "pipe" });
  await waitForPort(port, proc, "gotls server");
  return {
    pid: proc.pid,
    port,
    dir: "",
    async [Symbol.asyncDispose]() {
      proc.kill();
      await proc.exited;
    },
  };
}

/** Runs a command to completion; throws with its stderr when it fails. Returns pid and stdout. */
export async function run(cmd: string[]): Promise<{ pid: number; stdout: string }> {
  const p = Bun.spawn(cmd, { stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  if (code !== 0) throw new Error(`${cmd.join(" ")} exited with ${code}: ${stderr}`);
  return { pid: p.pid, stdout };
}

/** How testdata/openssl/tlsclient.c is built: against the system's OpenSSL 3 (shared, with the _ex calls, or static) or a built OpenSSL 1.1.1. */
export type TlsClientBuild = { kind: "shared-ex" } | { kind: "static" } | { kind: "openssl11"; prefix: string };

/** Compiles tlsclient.c as `b` says; returns the executable. */
export function buildTlsClient(cc: string, b: TlsClientBuild): string {
  const src = join(import.meta.dir, "openssl", "tlsclient.c");
  const out = join(mkdtempSync(join(tmpdir(), "gg-tlsclient-")), `tlsclient-${b.kind}`);
  const lib = "/usr/lib/x86_64-linux-gnu";
  const flags =
    b.kind === "shared-ex"
      ? ["-DUSE_EX", src, "-lssl", "-lcrypto"]
      : b.kind === "static"
        ? [src, join(lib, "libssl.a"), join(lib, "libcrypto.a"), "-lpthread", "-ldl"]
        : ["-DUSE_EX", `-I${b.prefix}/include`, src, `-L${b.prefix}/lib`, `-Wl,-rpath,${b.prefix}/lib`, "-lssl", "-lcrypto"];
  const r = Bun.spawnSync([cc, "-O2", "-o", out, ...flags], { stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`building tlsclient (${b.kind}): ${r.stderr.toString()}`);
  return out;
}

/** Starts a tlsclient that waits for go() before connecting (so probes can be placed on it first); resolves once it is ready. */
export function startWaitingTlsClient(exe: string, port: number, n: number, prefix: string) {
  return startWaiting([exe, String(port), String(n), prefix], { TLSCLIENT_WAIT: "1" });
}

/** Starts the ./gotls client (HTTP/1.1, n GETs of <url><prefix><i> on one connection), held until go(). */
export function startWaitingGoClient(exe: string, url: string, n: number, prefix: string) {
  return startWaiting([exe, "client", url, String(n), prefix], { GOTLS_WAIT: "1" });
}

/** A client that prints "ready" once loaded and then waits for a byte on stdin. */
async function startWaiting(cmd: string[], env: Record<string, string>) {
  const p = Bun.spawn(cmd, { stdin: "pipe", stdout: "pipe", stderr: "pipe", env: { ...process.env, ...env } });
  // Its libraries are loaded once it says "ready".
  const reader = p.stdout.getReader();
  let seen = "";
  while (!seen.includes("ready\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`${cmd[0]} exited before it was ready: ${await new Response(p.stderr).text()}`);
    seen += new TextDecoder().decode(value);
  }
  return {
    pid: p.pid,
    async go(): Promise<string> {
      p.stdin.write("g");
      await p.stdin.end();
      let out = seen.slice(seen.indexOf("ready\n") + 6);
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        out += new TextDecoder().decode(value);
      }
      const [err, code] = await Promise.all([new Response(p.stderr).text(), p.exited]);
      if (code !== 0) throw new Error(`${cmd[0]} exited with ${code}: ${err}`);
      return out;
    },
    kill: () => p.kill(9),
  };
}

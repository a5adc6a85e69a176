// Real servers for the l7 probe's end-to-end tests and its bench: nginx with its own
// configuration in a temporary directory (`daemon off`, one process: master_process off),
// redis-server without persistence, both on loopback ports of their own. Clients that must
// be in the probe's scope before they send anything start held: `held(cmd)` runs
// `sh -c 'read go; exec cmd'`, so the test can put the pid in scope, wait for the kernel to
// observe it and then release it (the pid stays the same across exec).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, waitFor } from "../../../test/harness.ts";

export function has(cmd: string): boolean {
  return Bun.which(cmd) !== null || Bun.spawnSync(["sh", "-c", `command -v ${cmd}`]).exitCode === 0;
}

export interface Nginx extends AsyncDisposable {
  pid: number;
  port: number;
  dir: string;
}

/** nginx serving `files` (name -> content) from a temporary root on 127.0.0.1. */
export async function startNginx(files: Record<string, string>, o: { workers?: number } = {}): Promise<Nginx> {
  const single = !o.workers;
  return startNginxIn(
    "gg-l7-nginx-",
    files,
    ({ dir, port, www }) => `daemon off;
master_process ${single ? "off" : "on"};
${single ? "" : `worker_processes ${o.workers};`}
user root;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/tmp; proxy_temp_path ${dir}/tmp; fastcgi_temp_path ${dir}/tmp; uwsgi_temp_path ${dir}/tmp; scgi_temp_path ${dir}/tmp;
  keepalive_requests 100000;
  server { listen 127.0.0.1:${port}; root ${www}; }
}
`,
    (port) => waitFor("nginx", async () => (await fetch(`http://127.0.0.1:${port}/`).catch(() => undefined))?.status !== undefined || undefined, 10_000, 50),
  );
}

/**
 * nginx in a temporary prefix (`dirPrefix` names it) on a free loopback port, serving `files`
 * from `<dir>/www`: `conf` is its whole nginx.conf, `ready` resolves once it answers (what it
 * throws is thrown after nginx is killed). Disposal stops it gracefully (SIGQUIT, then SIGKILL
 * after 3 s) and removes the prefix.
 */
export async function startNginxIn(
  dirPrefix: string,
  files: Record<string, string>,
  conf: (at: { dir: string; port: number; www: string }) => string,
  ready: (port: number, dir: string) => Promise<unknown>,
): Promise<Nginx> {
  const dir = mkdtempSync(join(tmpdir(), dirPrefix));
  const port = await freePort();
  const www = join(dir, "www");
  Bun.spawnSync(["mkdir", "-p", www, join(dir, "tmp")]);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(www, name), text);
  writeFileSync(join(dir, "nginx.conf"), conf({ dir, port, www }));
  const proc = Bun.spawn(["nginx", "-p", dir, "-c", join(dir, "nginx.conf")], { stdout: "ignore", stderr: "pipe" });
  try {
    await ready(port, dir);
  } catch (e) {
    proc.kill();
    throw e;
  }
  return {
    pid: proc.pid,
    port,
    dir,
    async [Symbol.asyncDispose]() {
      proc.kill("SIGQUIT");
      await Promise.race([proc.exited, Bun.sleep(3000)]);
      proc.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface Redis extends AsyncDisposable {
  pid: number;
  port: number;
}

export async function startRedisServer(): Promise<Redis> {
  const port = await freePort();
  const proc = Bun.spawn(["redis-server", "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--protected-mode", "no"], { stdout: "ignore", stderr: "ignore" });
  try {
    await waitFor("redis-server", () => Bun.spawnSync(["redis-cli", "-p", String(port), "ping"]).stdout.toString().includes("PONG") || undefined, 10_000, 50);
  } catch (e) {
    proc.kill();
    throw e;
  }
  return {
    pid: proc.pid,
    port,
    async [Symbol.asyncDispose]() {
      proc.kill();
      await proc.exited;
    },
  };
}

/** A client held before it runs: `release()` lets it exec `cmd`; `done` resolves with its output. */
export function held(cmd: string[], stdinFile?: string): { pid: number; release(): void; done: Promise<{ code: number; out: string }> } {
  const quoted = cmd.map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(" ");
  const script = `read go; exec ${quoted}${stdinFile ? ` < '${stdinFile}'` : ""}`;
  const proc = Bun.spawn(["sh", "-c", script], { stdin: "pipe", stdout: "pipe", stderr: "pipe" });
  const done = (async () => {
    const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
    const code = await proc.exited;
    return { code, out: out + err };
  })();
  return {
    pid: proc.pid,
    release() {
      const s = proc.stdin as import("bun").FileSink;
      s.write("go\n");
      s.end();
    },
    done,
  };
}

export interface Dnsmasq extends AsyncDisposable {
  pid: number;
  /** The loopback address it answers on (port 53), and a resolv.conf naming it. */
  address: string;
  resolvConf: string;
  /** Its query log: one "query[TYPE] name from ip" line per query, "config name is NXDOMAIN" per miss. */
  log(): string;
}

/**
 * dnsmasq authoritative for `*.test` (`--local=/test/`: unknown names are NXDOMAIN) with
 * `names` (name -> [ipv4, ipv6]), on port 53 of its own loopback address (127.0.0.0/8 has
 * room; the run's pid picks it), logging every query.
 */
export async function startDnsmasq(names: Record<string, [string, string]>): Promise<Dnsmasq> {
  const dir = mkdtempSync(join(tmpdir(), "gg-l7-dns-"));
  const address = `127.0.${100 + (process.pid % 100)}.${2 + (process.pid % 250)}`;
  const resolvConf = join(dir, "resolv.conf");
  writeFileSync(resolvConf, `nameserver ${address}\noptions attempts:1 timeout:2\n`);
  const logFile = join(dir, "queries.log");
  const args = ["dnsmasq", "--keep-in-foreground", "--no-resolv", "--no-hosts", `--listen-address=${address}`, "--bind-interfaces", "--port=53", "--local=/test/", "--log-queries", `--log-facility=${logFile}`, `--pid-file=${join(dir, "pid")}`, "--user=root"];
  for (const [name, ips] of Object.entries(names)) for (const ip of ips) args.push(`--address=/${name}/${ip}`);
  const proc = Bun.spawn(args, { stdout: "ignore", stderr: "pipe" });
  const log = () => { try { return readFileSync(logFile, "utf8"); } catch { return ""; } };
  try {
    await waitFor("dnsmasq", () => (/started, version/.test(log()) ? true : undefined), 10_000, 50);
  } catch (e) {
    proc.kill();
    throw new Error(`${(e as Error).message}: ${await new Response(proc.stderr).text()}`);
  }
  return {
    pid: proc.pid,
    address,
    resolvConf,
    log,
    async [Symbol.asyncDispose]() {
      proc.kill();
      await proc.exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

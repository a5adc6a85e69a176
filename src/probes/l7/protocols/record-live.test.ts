// Live recordings, made by the test: a real server (redis-server, nginx) and a real client
// (redis-cli --pipe, redis-benchmark, curl) on loopback, through testdata/record.ts, then
// the fixture replayed through the parser. What must be counted comes from the server
// (INFO commandstats, nginx's access log) or the client's own request list, never from
// the parser. Gated on the tools being installed (.ci/run installs them).
import { afterAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort, rmrf, tempDir, waitFor, which } from "../../../../test/harness.ts";
import { ErrorClass } from "../protocol.ts";
import { httpParser } from "./http.ts";
import { redisParser } from "./redis.ts";
import { loadFixture, replay } from "./test-replay.ts";

const recordTs = join(import.meta.dir, "testdata", "record.ts");
const dir = tempDir("gg-l7-live-");
afterAll(() => rmrf(dir));

/** A child process killed (and awaited) when the scope ends. */
class Child implements AsyncDisposable {
  readonly proc: ReturnType<typeof Bun.spawn>;
  constructor(cmd: string[]) {
    this.proc = Bun.spawn(cmd, { stdout: "ignore", stderr: "pipe" });
  }
  async [Symbol.asyncDispose](): Promise<void> {
    this.proc.kill("SIGTERM");
    await this.proc.exited;
  }
}

async function listening(port: number): Promise<boolean | undefined> {
  try {
    const s = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } });
    s.end();
    return true;
  } catch {
    return undefined;
  }
}

async function run(cmd: string[], stdin?: Blob): Promise<string> {
  const p = Bun.spawn(cmd, { stdin: stdin ?? "ignore", stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  if (code !== 0) throw new Error(`${cmd.join(" ")} exited with ${code}: ${err}`);
  return out;
}

/** Starts the recording proxy in front of `serverPort`; the fixture fills while the scope lasts. */
async function recorder(serverPort: number, out: string): Promise<{ port: number; child: Child }> {
  const port = await freePort();
  const child = new Child(["bun", recordTs, String(port), String(serverPort), out]);
  await waitFor(`the recording proxy on ${port}`, () => listening(port));
  writeFileSync(out, ""); // the readiness probe was a connection without bytes
  return { port, child };
}

const redisTools = ["redis-server", "redis-cli", "redis-benchmark"].filter((t) => !which(t));
if (redisTools.length) console.log(`skipping the live Redis recording: ${redisTools.join(", ")} not installed`);

describe("live recording: redis-server", () => {
  test.if(redisTools.length === 0)("redis-cli --pipe with 1000 SETs is 1001 requests; redis-benchmark's count matches the server's", async () => {
    const port = await freePort();
    await using server = new Child(["redis-server", "--bind", "127.0.0.1", "--port", String(port), "--save", "", "--appendonly", "no", "--dir", dir]);
    void server;
    await waitFor("redis-server", async () => ((await run(["redis-cli", "-p", String(port), "ping"]).catch(() => "")).trim() === "PONG" ? true : undefined));
    let pipe = "";
    for (let i = 0; i < 1000; i++) pipe += `*3\r\n$3\r\nSET\r\n$${`k${i}`.length}\r\nk${i}\r\n$1\r\nv\r\n`;
    const fixture = join(dir, "pipe.jsonl");
    const { port: proxy, child } = await recorder(port, fixture);
    {
      await using rec = child;
      void rec;
      await run(["redis-cli", "-p", String(port), "config", "resetstat"]);
      const piped = await run(["redis-cli", "-p", String(proxy), "--pipe"], new Blob([pipe]));
      expect(piped).toContain("errors: 0, replies: 1000"); // the client's own count of its SETs
      await run(["redis-benchmark", "-p", String(proxy), "-n", "100", "-c", "2", "-P", "4", "-t", "set,get", "-q"]);
      await Bun.sleep(200);
    }
    const stats = await run(["redis-cli", "-p", String(port), "info", "commandstats"]);
    const calls = new Map([...stats.matchAll(/cmdstat_([^:]+):calls=(\d+)/g)].map((m) => [m[1]!, Number(m[2])]));
    // every command the server ran since our CONFIG RESETSTAT (sent directly, not recorded)
    const serverCount = [...calls].reduce((a, [name, n]) => a + (name === "config|resetstat" ? 0 : n), 0);
    const chunks = loadFixture(fixture);
    for (const split of [undefined, 1, 7]) {
      const { records } = replay(redisParser, chunks, { split });
      expect(records.filter((r) => r.api === "ECHO").length).toBe(1);
      expect(records.length).toBe(serverCount);
      expect(records.filter((r) => r.api === "SET").length).toBe(calls.get("set")!);
    }
    // 1000 SETs and the closing ECHO on redis-cli's connection
    const firstConn = chunks.filter((c) => c.conn === chunks[0]!.conn);
    expect(replay(redisParser, firstConn).records.length).toBe(1001);
  });
});

const nginxTools = ["nginx", "curl"].filter((t) => !which(t));
if (nginxTools.length) console.log(`skipping the live nginx recording: ${nginxTools.join(", ")} not installed`);

describe("live recording: nginx", () => {
  test.if(nginxTools.length === 0)("one keep-alive connection with 300 x 200 and 30 x 404: 330 requests, 30 client errors", async () => {
    const port = await freePort();
    const www = join(dir, "www");
    await run(["mkdir", "-p", www, join(dir, "tmp")]);
    writeFileSync(join(www, "index.html"), "<p>hello</p>\n".repeat(20));
    const conf = join(dir, "nginx.conf");
    writeFileSync(
      conf,
      `${process.getuid?.() === 0 ? "user root;" : ""}
daemon off; master_process off; worker_processes 1; error_log ${dir}/error.log; pid ${dir}/nginx.pid;
events { worker_connections 64; }
http {
  log_format l7 '$request_method $uri $status';
  access_log ${dir}/access.log l7;
  client_body_temp_path ${dir}/tmp/b; proxy_temp_path ${dir}/tmp/p; fastcgi_temp_path ${dir}/tmp/f; uwsgi_temp_path ${dir}/tmp/u; scgi_temp_path ${dir}/tmp/s;
  keepalive_requests 10000;
  server { listen 127.0.0.1:${port}; root ${www}; }
}
`,
    );
    await using server = new Child(["nginx", "-p", dir, "-c", conf]);
    void server;
    await waitFor("nginx", () => listening(port));
    const fixture = join(dir, "http.jsonl");
    const { port: proxy, child } = await recorder(port, fixture);
    const urls: string[] = [];
    for (let i = 1; i <= 300; i++) {
      urls.push(`url = "http://127.0.0.1:${proxy}/index.html?i=${i}"`, 'output = "/dev/null"');
      if (i % 10 === 0) urls.push(`url = "http://127.0.0.1:${proxy}/missing-${i}"`, 'output = "/dev/null"');
    }
    writeFileSync(join(dir, "curl.cfg"), urls.join("\n") + "\n");
    {
      await using rec = child;
      void rec;
      await run(["curl", "-s", "-K", join(dir, "curl.cfg")]);
      await Bun.sleep(200);
    }
    const log = (await Bun.file(join(dir, "access.log")).text()).trim().split("\n");
    expect(log.length).toBe(330); // nginx's own count
    const chunks = loadFixture(fixture);
    expect(new Set(chunks.map((c) => c.conn)).size).toBe(1);
    for (const o of [{}, { split: 1 }, { cap: 1024 }]) {
      const { records } = replay(httpParser, chunks, o);
      expect(records.length).toBe(330);
      expect(records.filter((r) => r.error === ErrorClass.Client).length).toBe(log.filter((l) => l.endsWith(" 404")).length);
      expect(records.filter((r) => r.api === "GET /index.html").length).toBe(300);
    }
  });
});

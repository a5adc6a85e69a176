// Smaller hardening items against the compiled agent (issue 11, item 5): SIGUSR1 logs a
// state dump and does not stop the agent; gopher-ctl without access to the socket says
// "permission denied on <socket>"; HTTP/1.0 requests without a Host header get the normal
// answer on both ports.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DIST_BIN, agentFiles, cliArgs, hasDist, rmrf, scrape, spawnAgent, waitFor, which, type AgentFiles, type Child } from "../harness.ts";

if (!hasDist()) console.log("signals-ctl-http10: skipped, dist/gala-gopher not built (bun run build)");

/** One raw request on a fresh connection; the whole answer until the server closes. */
async function raw(port: number, request: string): Promise<{ status: number; head: string; body: string }> {
  const text = await new Promise<string>((resolve, reject) => {
    let out = "";
    Bun.connect({
      hostname: "127.0.0.1",
      port,
      socket: {
        open: (s) => void s.write(request),
        data: (_s, d) => void (out += d.toString()),
        close: () => resolve(out),
        error: (_s, e) => reject(e),
      },
    }).catch(reject);
  });
  const split = text.indexOf("\r\n\r\n");
  const head = text.slice(0, split);
  return { status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1]), head, body: text.slice(split + 4) };
}

describe.if(hasDist())("compiled agent: SIGUSR1, gopher-ctl permissions, HTTP/1.0 without Host", () => {
  let files: AgentFiles;
  let agent: Child;
  const socket = () => join(files.runDir, "gala_gopher_cmd.sock");

  beforeAll(async () => {
    files = await agentFiles();
    writeFileSync(files.probesInit, 'baseinfo {"cmd":{"probe":["cpu","mem"]},"state":"running"}\n');
    agent = spawnAgent(cliArgs(files), { env: { GOPHER_LOG_STDERR: "1" } });
    await waitFor("first data", async () => ((await scrape(files.metricsPort)).includes("gala_gopher_mem_") ? true : undefined), 20_000);
  });
  afterAll(async () => {
    if (agent.proc.exitCode === null) await agent.stop();
    rmrf(files.dir);
  });

  test("HTTP/1.0 without Host: /metrics, /healthz, REST GET and PUT answer as usual", async () => {
    const m = await raw(files.metricsPort, "GET /metrics HTTP/1.0\r\n\r\n");
    expect(m.status).toBe(200);
    expect(m.body).toContain("gala_gopher_mem_");
    expect((await raw(files.metricsPort, "GET /healthz HTTP/1.0\r\n\r\n")).body).toBe("ok\n");
    expect((await raw(files.metricsPort, "GET /nosuch HTTP/1.0\r\n\r\n")).status).toBe(404);
    const g = await raw(files.restPort, "GET /baseinfo HTTP/1.0\r\n\r\n");
    expect(g.status).toBe(200);
    expect(JSON.parse(g.body).state).toBe("running");
    const body = 'json={"params":{"report_period":6}}';
    const p = await raw(files.restPort, `PUT /baseinfo HTTP/1.0\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    expect(p.status).toBe(200);
    expect(p.body).toBe('{ "result": "success", "message":"New config takes effect" }\n');
    expect((await raw(files.restPort, "GET /nosuch HTTP/1.0\r\n\r\n")).status).toBe(404);
  });

  test("SIGUSR1 logs a state dump and the agent keeps running", async () => {
    agent.proc.kill("SIGUSR1");
    await waitFor("state dump", () => agent.stderr().includes("state dump: probes: baseinfo=running"), 5000);
    expect(agent.stderr()).toMatch(/state dump: series: .*system_meminfo=1/);
    expect(agent.stderr()).toContain('state dump: config: baseinfo {"cmd":{"bin":');
    agent.proc.kill("SIGUSR1");
    agent.proc.kill("SIGUSR2");
    await Bun.sleep(300);
    expect(agent.proc.exitCode).toBeNull();
    expect((await scrape(files.metricsPort)).includes("gala_gopher_mem_")).toBe(true);
  });

  test("gopher-ctl without access to the socket: permission denied on <socket>", () => {
    // Root: run it as nobody (setpriv); otherwise take the socket's permissions away.
    const asNobody = process.getuid?.() === 0 && which("setpriv") !== undefined;
    if (!asNobody) chmodSync(socket(), 0);
    const cmd = asNobody ? ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", DIST_BIN, "ctl", "metric"] : [DIST_BIN, "ctl", "metric"];
    const p = Bun.spawnSync(cmd, { env: { ...process.env, GOPHER_CTL_SOCKET: socket() } });
    if (!asNobody) chmodSync(socket(), 0o660);
    expect(p.exitCode).toBe(255);
    expect(p.stderr.toString()).toStartWith(`gopher-ctl: permission denied on ${socket()}`);
    const none = Bun.spawnSync([DIST_BIN, "ctl", "metric"], { env: { ...process.env, GOPHER_CTL_SOCKET: join(files.dir, "nosuch.sock") } });
    expect(none.stderr.toString()).toBe(`gopher-ctl: no socket at ${join(files.dir, "nosuch.sock")}; is gala-gopher running?\n`);
    // The agent's own user still gets an answer.
    const ok = Bun.spawnSync([DIST_BIN, "ctl", "metric"], { env: { ...process.env, GOPHER_CTL_SOCKET: socket() } });
    expect(ok.exitCode).toBe(0);
    expect(ok.stdout.toString()).toContain("gala_gopher_mem_");
  });

  test("after the signals SIGTERM still stops it cleanly", async () => {
    expect(await agent.stop()).toBe(0);
    expect(existsSync(join(files.runDir, "gala-gopher.pid"))).toBe(false);
    expect(existsSync(socket())).toBe(false);
  });
});

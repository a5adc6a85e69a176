// Log-directory faults against the compiled agent (issue 11, item 4): with the log
// directory on a full tmpfs or a read-only tmpfs the agent starts, serves /metrics and
// REST, logs to stderr, and counts every metric/event/metadata/debug log line it could not
// write in gala_gopher_agent_dropped_total; a read-only directory is retried and used once
// it is writable again.
import { afterAll, describe, expect, test } from "bun:test";
import { appendFileSync, existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { DIST_BIN, agentFiles, cliArgs, hasDist, put, rmrf, scrape, spawnAgent, waitFor, type AgentFiles, type Child } from "../harness.ts";
import { mountTmpfs, remount, rootGate, type Mount } from "./root-fs.ts";

const gate = rootGate();
if (!hasDist()) console.log("log-dir-faults: skipped, dist/gala-gopher not built (bun run build)");
if (gate) console.log(`log-dir-faults: skipped, ${gate}`);

const cleanup: (() => void)[] = [];
afterAll(() => {
  for (const c of cleanup.reverse()) c();
});

/** Events every period (memory use above 1 %), so event lines keep coming. */
const PROBE = { cmd: { probe: ["cpu", "mem"] }, params: { report_period: 5, report_event: 1, res_upper_thr: 1 }, state: "running" };

function dropped(text: string, channel: string, reason: string): number {
  const m = new RegExp(`^gala_gopher_agent_dropped_total\\{channel="${channel}",reason="${reason}"\\} (\\S+)$`, "m").exec(text);
  return m ? Number(m[1]) : 0;
}

function fill(path: string): void {
  const chunk = new Uint8Array(4096).fill(120);
  for (const c of [chunk, new Uint8Array([120])]) {
    for (;;) {
      try {
        appendFileSync(path, c);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "ENOSPC") break;
        throw e;
      }
    }
  }
}

async function start(metricChannel: "web_server" | "json", mountOptions: string): Promise<{ files: AgentFiles; mnt: Mount; agent: Child }> {
  const files = await agentFiles({ metricChannel, eventTimeout: 0 });
  const mnt = mountTmpfs(files.logDir, mountOptions);
  cleanup.push(() => rmrf(files.dir), () => mnt[Symbol.dispose]());
  if (!mountOptions.includes("ro")) fill(join(mnt.dir, "filler"));
  const agent = spawnAgent(cliArgs(files), { env: { GOPHER_LOG_STDERR: "0" } });
  cleanup.push(() => void agent.stop());
  await waitFor("REST up", async () => (await fetch(`http://127.0.0.1:${files.restPort}/baseinfo`)).status === 200, 20_000);
  expect((await put(files.restPort, "baseinfo", PROBE)).status).toBe(200);
  return { files, mnt, agent };
}

async function ctlMetrics(files: AgentFiles): Promise<string> {
  const p = Bun.spawn([DIST_BIN, "ctl", "metric"], { env: { ...process.env, GOPHER_CTL_SOCKET: join(files.runDir, "gala_gopher_cmd.sock") }, stdout: "pipe" });
  const out = await new Response(p.stdout).text();
  expect(await p.exited).toBe(0);
  return out;
}

describe.if(hasDist() && !gate)("log directory faults", () => {
  test("full log directory: /metrics served, event/meta/debug lines counted as no_space, log lines on stderr", async () => {
    const { files, mnt, agent } = await start("web_server", "size=64k");
    const text = await waitFor("drops of every channel", async () => {
      const t = await scrape(files.metricsPort);
      return ["event_log", "meta_log", "debug_log"].every((c) => dropped(t, c, "no_space") > 0) && t.includes("gala_gopher_mem_") ? t : undefined;
    }, 20_000, 200);
    expect(text).toContain("gala_gopher_cpu_");
    expect(agent.stderr()).toMatch(/\[WARN\] log file .*gopher\.log cannot be written \(no_space: /);
    expect(agent.stderr()).toContain("[INFO] [baseinfo] started");
    // Space again: writes resume at once.
    rmSync(join(mnt.dir, "filler"));
    await waitFor("event lines written", () => existsSync(join(files.logDir, "event", "gopher_event_0")) && readFileSync(join(files.logDir, "event", "gopher_event_0"), "utf8").includes("Entity"), 15_000, 200);
    expect(await agent.stop()).toBe(0);
  }, 60_000);

  test("full log directory, metric channel json: metric log lines counted (read with gopher-ctl metric)", async () => {
    const { files, agent } = await start("json", "size=64k");
    const text = await waitFor("metric_log drops", async () => {
      const t = await ctlMetrics(files);
      return dropped(t, "metric_log", "no_space") > 0 ? t : undefined;
    }, 20_000, 500);
    expect(dropped(text, "meta_log", "no_space")).toBeGreaterThan(0);
    expect(await agent.stop()).toBe(0);
  }, 60_000);

  test("read-only log directory: starts, serves /metrics, counts read_only drops, uses the directory once writable", async () => {
    const { files, mnt, agent } = await start("web_server", "ro,size=1m");
    const text = await waitFor("read_only drops", async () => {
      const t = await scrape(files.metricsPort);
      return ["event_log", "meta_log", "debug_log"].every((c) => dropped(t, c, "read_only") > 0) && t.includes("gala_gopher_mem_") ? t : undefined;
    }, 20_000, 200);
    expect(dropped(text, "debug_log", "read_only")).toBeGreaterThan(0);
    expect(agent.stderr()).toMatch(/\[WARN\] log file .*gopher\.log cannot be written \(read_only: /);
    expect(agent.stderr()).toContain("[INFO] [baseinfo] started");
    remount(mnt.dir, "rw");
    // The directory is retried every 10 s; the next event (every 5 s) lands in the file.
    await waitFor("event log after remount", () => existsSync(join(files.logDir, "event", "gopher_event_0")), 25_000, 250);
    // Stopping and starting the probe is logged; repeated until the debug log directory is retried.
    let state = "running";
    await waitFor("debug log after remount", async () => {
      await put(files.restPort, "baseinfo", { state: (state = state === "running" ? "stopped" : "running") });
      return existsSync(join(files.logDir, "debug", "gopher.log"));
    }, 25_000, 500);
    expect(agent.stderr()).toContain("is writable again");
    expect(await agent.stop()).toBe(0);
  }, 60_000);
});

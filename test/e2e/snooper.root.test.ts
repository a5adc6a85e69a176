// The snooper end to end, as root, on this machine: a proc_name scope picks up a process
// started after the PUT within one report period, and drops it after it exits. The
// agent runs in-process (startAgent); the watched process is a copy of sleep named
// `ggsleeper`, started through a shell that exits at once so that its parent is not the
// agent (children of the agent never match proc_name).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, chmodSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startAgent, type RunningAgent } from "../../src/daemon.ts";
import { agentFiles, put, rmrf, samples, scrape, waitFor, type AgentFiles } from "../harness.ts";

const isRoot = process.getuid?.() === 0;
const sleepBin = Bun.which("sleep");
const why = !isRoot ? "not running as root" : !sleepBin ? "no sleep executable" : "";
if (why) console.log(`skipping snooper root tests: ${why}`);

let files: AgentFiles;
let agent: RunningAgent;
let dir = "";
const started: number[] = [];

beforeAll(async () => {
  if (why) return;
  files = await agentFiles();
  agent = await startAgent(
    { configPath: files.conf, configPathGiven: true, probesInit: files.probesInit, saveProbes: false, runDir: files.runDir },
    { GOPHER_LOG_STDERR: "0" },
  );
  dir = mkdtempSync(join(tmpdir(), "gg-snoop-"));
  copyFileSync(sleepBin!, join(dir, "ggsleeper"));
  chmodSync(join(dir, "ggsleeper"), 0o755);
});

afterAll(async () => {
  for (const pid of started) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  if (agent) await agent.stop();
  if (files) rmrf(files.dir);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Starts `ggsleeper 60` as an orphan (its parent shell exits); returns its pid. */
function startOrphan(): number {
  const p = Bun.spawnSync(["sh", "-c", `${join(dir, "ggsleeper")} 60 >/dev/null 2>&1 </dev/null & echo $!`]);
  const pid = Number(p.stdout.toString().trim());
  if (!(pid > 0)) throw new Error(`could not start ggsleeper: ${p.stderr.toString()}`);
  started.push(pid);
  return pid;
}

const procLines = (text: string, pid: number) => samples(text, "gala_gopher_proc_").filter((l) => l.includes(`{tgid="${pid}",`));

describe.skipIf(why !== "")("proc_name scope (root, live)", () => {
  test("a process started after the PUT appears within one report period and disappears after it exits", async () => {
    const r = await put(agent.restPort!, "baseinfo", {
      cmd: { probe: ["proc"] },
      snoopers: { proc_name: [{ comm: "^ggsleeper$" }] },
      params: { report_period: 5 },
      state: "running",
    });
    expect(r.body).toBe('{ "result": "success", "message":"New config takes effect" }\n');
    const t0 = Date.now();
    const pid = startOrphan();
    expect(readFileSync(`/proc/${pid}/comm`, "utf8").trim()).toBe("ggsleeper");
    const text = await waitFor(
      "gala_gopher_proc_* series of ggsleeper",
      async () => {
        const t = await scrape(agent.metricsPort!);
        return procLines(t, pid).length > 0 ? t : undefined;
      },
      7_000,
      100,
    );
    const appearedMs = Date.now() - t0;
    console.log(`ggsleeper (pid ${pid}) series appeared after ${appearedMs} ms`);
    expect(appearedMs).toBeLessThan(7_000);
    const lines = procLines(text, pid);
    const fd = lines.find((l) => l.startsWith("gala_gopher_proc_fd_count{"))!;
    expect(fd).toBeDefined();
    expect(fd).toContain(`comm="ggsleeper"`);
    expect(fd).toContain(`cmdline="${join(dir, "ggsleeper")} 60"`);
    expect(fd).toMatch(/start_time="\d{10}"/);
    expect(fd).toContain(`ppid="`);
    // Only the scoped process is reported.
    for (const l of samples(text, "gala_gopher_proc_fd_count{")) expect(l).toContain('comm="ggsleeper"');
    process.kill(pid, "SIGKILL");
    const t1 = Date.now();
    await waitFor(
      "ggsleeper series to disappear",
      async () => {
        const t = await scrape(agent.metricsPort!);
        return procLines(t, pid).length === 0 ? true : undefined;
      },
      7_000,
      100,
    );
    console.log(`ggsleeper series gone ${Date.now() - t1} ms after the kill`);
  }, 30_000);

  test("snoopers replaced by an empty scope: the whole host, labels from the snooper", async () => {
    const r = await put(agent.restPort!, "baseinfo", { snoopers: {} });
    expect(r.status).toBe(200);
    const self = String(process.pid);
    const text = await waitFor(
      "system_proc of the agent itself",
      async () => {
        const t = await scrape(agent.metricsPort!);
        return procLines(t, process.pid).length > 0 ? t : undefined;
      },
      12_000,
      200,
    );
    const fd = procLines(text, process.pid).find((l) => l.startsWith("gala_gopher_proc_fd_count{"))!;
    expect(fd).toContain(`{tgid="${self}",`);
    expect(fd).toContain(`comm="${readFileSync("/proc/self/comm", "utf8").trim()}"`);
    const tgids = new Set(samples(text, "gala_gopher_proc_fd_count{").map((l) => /tgid="(\d+)"/.exec(l)?.[1]));
    expect(tgids.size).toBeGreaterThan(3);
    // kernel threads are not reported in whole-host mode
    expect(tgids.has("2")).toBe(false);
  }, 30_000);
});

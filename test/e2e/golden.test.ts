// The compiled dist/gala-gopher against the bare-metal fixture host: /metrics is diffed
// with a checked-in golden file (UPDATE_GOLDEN=1 rewrites it).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, renameSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DIST_BIN, ROOT, agentFiles, cliArgs, copyFixture, hasDist, rmrf, scrape, spawnAgent, tempDir, waitFor, type AgentFiles, type Child } from "../harness.ts";

const GOLDEN = join(ROOT, "test", "golden", "bare-metal.metrics");
const built = hasDist();
if (!built) console.warn(`skipping compiled-binary tests: ${DIST_BIN} is missing (run \`bun run build\` first)`);

/** Probe series only: the agent's own metrics carry timings and are checked elsewhere. */
function probeSeries(text: string): string {
  const out: string[] = [];
  for (const l of text.split("\n")) {
    if (!l) continue;
    const name = l.startsWith("#") ? (l.split(" ")[2] ?? "") : l;
    if (name.startsWith("gala_gopher_agent_")) continue;
    out.push(l);
  }
  return out.join("\n") + "\n";
}

describe.if(built)("compiled agent on the bare-metal fixture", () => {
  let host: string;
  let files: AgentFiles;
  let agent: Child;

  beforeAll(async () => {
    host = copyFixture("bare-metal");
    files = await agentFiles();
    writeFileSync(files.probesInit, 'baseinfo {"cmd":{"probe":["cpu","mem","nic","net","disk","host"]},"params":{"report_period":5},"state":"running"}\n');
    agent = spawnAgent(cliArgs(files, host), { env: { GOPHER_LOG_STDERR: "0" } });
  });

  afterAll(async () => {
    await agent.stop();
    rmrf(host);
    rmrf(files.dir);
  });

  test("first scrape with data within 1 s of start; no deltas in the first report", async () => {
    const t0 = performance.now();
    const first = await waitFor("first data", async () => {
      const t = await scrape(files.metricsPort);
      return t.includes("gala_gopher_mem_total_kB") ? t : undefined;
    }, 5000, 20);
    const took = performance.now() - t0;
    console.log(`start to first scrape with data: ${took.toFixed(0)} ms`);
    expect(took).toBeLessThan(1000);
    expect(first).toContain('gala_gopher_mem_total_kB{infos="/proc/meminfo",machine_id="4c4c4544-0042-3510-8052-b4c04f4d4e32-192.168.1.20"} 16265432');
    expect(first).not.toContain("gala_gopher_cpu_util_per{");
    expect(first).toContain('gala_gopher_cpu_mhz{cpu="2",machine_id="4c4c4544-0042-3510-8052-b4c04f4d4e32-192.168.1.20"} 3900.125');
  });

  test("after the next sample /metrics equals the golden file", async () => {
    for (const f of ["proc/stat", "proc/softirqs", "proc/net/softnet_stat", "proc/net/dev", "proc/net/snmp", "proc/diskstats", "proc/uptime"]) renameSync(join(host, `${f}.next`), join(host, f));
    const text = await waitFor("cpu deltas", async () => {
      const t = await scrape(files.metricsPort);
      return t.includes("gala_gopher_cpu_util_per{") ? t : undefined;
    }, 8000, 100);
    const got = probeSeries(text);
    if (process.env.UPDATE_GOLDEN === "1") {
      writeFileSync(GOLDEN, got);
      console.warn(`wrote ${GOLDEN}`);
    }
    expect(got).toBe(readFileSync(GOLDEN, "utf8"));
  });

  test("gopher-ctl as a symlink to the executable talks to the running agent", async () => {
    const dir = tempDir("gg-ctl-");
    const link = join(dir, "gopher-ctl");
    symlinkSync(DIST_BIN, link);
    const p = Bun.spawnSync([link, "probe", "get", "baseinfo"], { env: { ...process.env, GOPHER_CTL_SOCKET: join(files.runDir, "gala_gopher_cmd.sock") } });
    expect(p.exitCode).toBe(0);
    expect(JSON.parse(p.stdout.toString().replace(/\0$/, "")).cmd.probe).toEqual(["cpu", "mem", "nic", "net", "disk", "host"]);
    const usage = Bun.spawnSync([link, "probe"]);
    expect(usage.exitCode).toBe(255);
    expect(usage.stderr.toString()).toContain("gopher-ctl probe get <probe_name>");
    rmrf(dir);
  });

  test("a second instance on the same run dir refuses to start", async () => {
    const second = spawnAgent(cliArgs(files, host), { env: { GOPHER_LOG_STDERR: "0" } });
    expect(await second.proc.exited).toBe(1);
    expect(second.stderr()).toContain("another gala-gopher holds");
  });

  test("SIGTERM stops it cleanly within 5 s: exit 0, pid file and socket removed", async () => {
    const t0 = performance.now();
    expect(await agent.stop()).toBe(0);
    expect(performance.now() - t0).toBeLessThan(5000);
    expect(existsSync(join(files.runDir, "gala-gopher.pid"))).toBe(false);
    expect(existsSync(join(files.runDir, "gala_gopher_cmd.sock"))).toBe(false);
  });
});

describe.if(built)("compiled agent command line", () => {
  test("--version prints version and commit", () => {
    const p = Bun.spawnSync([DIST_BIN, "--version"]);
    expect(p.exitCode).toBe(0);
    expect(p.stdout.toString()).toMatch(/^gala-gopher \d+\.\d+\.\d+\nCOMMIT_SHA1=[0-9a-f]{7,}(-dirty)?\n$/);
  });

  test("-h prints usage; an unknown argument exits 1", () => {
    expect(Bun.spawnSync([DIST_BIN, "-h"]).stdout.toString()).toContain("--config_path");
    const bad = Bun.spawnSync([DIST_BIN, "--bogus"]);
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr.toString()).toContain("unknown argument '--bogus'");
  });

  test("a bad configuration value stops start-up with exit 1 naming file, line and key", async () => {
    const files = await agentFiles({ extra: "imdb = { max_tables_num = 1024; max_records_num = -5; max_metrics_num = 64; };" });
    const p = Bun.spawnSync([DIST_BIN, ...cliArgs(files)], { env: { ...process.env, GOPHER_LOG_STDERR: "0" } });
    expect(p.exitCode).toBe(1);
    expect(p.stderr.toString()).toContain(`${files.conf}:8: imdb.max_records_num:`);
    rmrf(files.dir);
  });
});

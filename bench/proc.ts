// Benchmark of the proc probe (root): what each subitem costs a syscall-heavy program, with
// the probe scoped to another process (the cost every process on the host pays for the
// attached tracepoints) and to the benchmark itself (the cost of being observed), in one run.
//   bun run bench/proc.ts [--loops N] [--requests N] [--settle S] [--out FILE]
// Workloads: a getppid() loop (testdata/procload.c "loop") and redis-benchmark -t get,set
// against a redis-server on loopback. The machine is shared with other work, so wall-clock
// throughput swings by tens of percent between runs; the figures are CPU time instead: the
// loop's own CPU time per getppid() (the least of 3 runs), and the CPU time of redis-server
// plus redis-benchmark per request (BPF programs run in the traced process and are charged
// to it). Each agent run is compared with the mean of the runs without the agent just before
// and after it. Throughput ratios are printed too. Also: agent RSS with the probe (every
// subitem) over the agent without any probe (the foundation), and the load average.
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { ensureBpf } from "../scripts/bpf.ts";
import { procload } from "../src/probes/proc/test-kit.ts";
import { DIST_BIN, freePort, ROOT, which } from "../test/harness.ts";
import { type BenchAgent, CLK_TCK, cpuTicks, ensureDist, memMiB, redisBenchmark, parseBenchArgs, startBenchAgent, startRedis } from "./lib.ts";

const SUBITEMS = ["proc_syscall", "proc_fs", "proc_io", "proc_net", "proc_offcpu", "proc_pagecache", "proc_dns", "proc_ioctl", "proc_pygc"];
/** The other eBPF probe the marginal RSS is measured over (it pays libbpf's and the BPF kit's first use). */
const IO_PROBE = `io ${JSON.stringify({ cmd: { probe: ["io_trace", "io_count", "page_cache"] }, params: { report_period: 5 }, state: "running" })}`;

interface Opts {
  loops: number;
  requests: number;
  settleS: number;
  /** Only the RSS part (no cost configurations). */
  rssOnly: boolean;
  out: string;
}

function parseArgs(argv: string[]): Opts {
  const o: Opts = { loops: 1_000_000, requests: 100_000, settleS: 4, rssOnly: false, out: join(ROOT, ".bench-out", "proc.json") };
  return parseBenchArgs(
    argv,
    o,
    { numbers: { "--loops": "loops", "--requests": "requests", "--settle": "settleS" }, switches: { "--rss-only": (o) => void (o.rssOnly = true) } },
    "bun run bench/proc.ts [--loops 1000000] [--requests 100000] [--settle 4] [--rss-only] [--out FILE.json]",
  );
}

const rssMiB = (pid: number) => memMiB(pid).rssMiB;
const loadavg = () => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");

/** The getppid loop: one long-lived process, one measurement per line sent. */
class Loop {
  private readonly proc;
  private out = "";
  private readonly reader;
  constructor(bin: string, loops: number) {
    this.proc = Bun.spawn([bin, "loop", String(loops)], { stdin: "pipe", stdout: "pipe", stderr: "inherit" });
    this.reader = (this.proc.stdout as ReadableStream<Uint8Array>).getReader();
  }
  get pid(): number {
    return this.proc.pid;
  }
  private async line(re: RegExp): Promise<RegExpExecArray> {
    for (;;) {
      const m = re.exec(this.out);
      if (m) {
        this.out = this.out.slice(m.index + m[0].length);
        return m;
      }
      const { value, done } = await this.reader.read();
      if (done) throw new Error(`procload loop ended: ${this.out}`);
      this.out += new TextDecoder().decode(value);
    }
  }
  async ready(): Promise<void> {
    await this.line(/ready \d+\n/);
  }
  /** CPU and wall ns per getppid() call, the least of `reps` runs. */
  async measure(reps = 3): Promise<{ cpuNs: number; wallNs: number }> {
    const stdin = this.proc.stdin as import("bun").FileSink;
    let best = { cpuNs: Infinity, wallNs: Infinity };
    for (let i = 0; i < reps; i++) {
      stdin.write("go\n");
      stdin.flush();
      const m = await this.line(/ps (\d+) wall (\d+)\n/);
      const r = { cpuNs: Number(m[1]) / 1000, wallNs: Number(m[2]) / 1000 };
      if (r.cpuNs < best.cpuNs) best = r;
    }
    return best;
  }
  kill(): void {
    this.proc.kill("SIGKILL");
  }
}

/** Requests/s and CPU µs per request (redis-server + redis-benchmark). */
function redisRun(port: number, serverPid: number, requests: number): { rps: number; cpuUs: number } {
  const { rps, cpuUsPerReq } = redisBenchmark({ port, serverPid, requests, clients: 20 });
  return { rps, cpuUs: cpuUsPerReq };
}

/** Ids of the BPF programs process `pid` holds (program and link fds show `prog_id` in fdinfo). */
function progIdsOf(pid: number): Set<number> {
  const ids = new Set<number>();
  for (const fd of readdirSync(`/proc/${pid}/fdinfo`)) {
    try {
      const m = /^prog_id:\s+(\d+)$/m.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, "utf8"));
      if (m) ids.add(Number(m[1]));
    } catch {
      /* closed meanwhile */
    }
  }
  return ids;
}

/** Run count and time of the agent's BPF programs (kernel.bpf_stats_enabled), per program name. */
function bpfStats(agentPid: number): Map<string, { calls: number; ns: number }> {
  const ids = progIdsOf(agentPid);
  const r = Bun.spawnSync(["bpftool", "prog", "show", "-j"], { stdout: "pipe" });
  const out = new Map<string, { calls: number; ns: number }>();
  for (const p of JSON.parse(r.stdout.toString() || "[]") as { id?: number; name?: string; run_cnt?: number; run_time_ns?: number }[]) {
    if (!p.name || p.id === undefined || !ids.has(p.id)) continue;
    const cur = out.get(p.name) ?? { calls: 0, ns: 0 };
    cur.calls += p.run_cnt ?? 0;
    cur.ns += p.run_time_ns ?? 0;
    out.set(p.name, cur);
  }
  return out;
}

/** The agent with the proc probe (subitems, scoped to `pids`), or with no probe at all; `withIo`: the io probe runs too. */
function startAgent(subitems: string[] | undefined, pids: number[], settleS: number, withIo = false): Promise<BenchAgent> {
  const others = withIo ? [IO_PROBE] : [];
  if (!subitems) return startBenchAgent(others, withIo ? "io" : undefined, settleS);
  const doc = { cmd: { probe: subitems }, snoopers: { proc_id: pids }, params: { report_period: 5 }, state: "running" };
  return startBenchAgent([...others, `proc ${JSON.stringify(doc)}`], "proc", settleS);
}

interface Row {
  config: string;
  scope: "other" | "self";
  /** getppid(): CPU ns per call with the agent, without (mean of the neighbours), extra, ratio without/with. */
  getppidCpuNs: number;
  getppidBaseCpuNs: number;
  getppidExtraNs: number;
  getppidRatio: number;
  getppidWallRatio: number;
  /** redis: CPU µs per request with/without, ratio without/with; throughput ratio with/without. */
  redisCpuUs: number;
  redisBaseCpuUs: number;
  redisCpuRatio: number;
  redisRpsRatio: number;
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  if (process.getuid?.() !== 0) throw new Error("run as root (the probe loads BPF programs)");
  for (const t of ["redis-server", "redis-benchmark", "redis-cli"]) if (!which(t)) throw new Error(`${t} not found (apt-get install redis-server redis-tools)`);
  ensureBpf({ quiet: true });
  ensureDist();
  const load0 = loadavg();
  const port = await freePort();
  const redis = await startRedis(port);
  const loop = new Loop(procload(), o.loops);
  const idle = Bun.spawn(["sleep", "100000"]); // "another process": in scope, never runs
  try {
    await loop.ready();
    console.log(`proc bench: getppid loop of ${o.loops}, redis-benchmark -t get,set -n ${o.requests}; agent ${DIST_BIN}; load average ${load0}`);
    await loop.measure(1); // warm-up
    redisRun(port, redis.pid, Math.min(o.requests, 20_000));
    const base = async () => ({ loop: await loop.measure(), redis: redisRun(port, redis.pid, o.requests) });
    const configs: [string, string[]][] = o.rssOnly ? [] : [...SUBITEMS.map((s): [string, string[]] => [s, [s]]), ["all", SUBITEMS]];
    const rows: Row[] = [];
    let before = o.rssOnly ? { loop: { cpuNs: 0, wallNs: 0 }, redis: { rps: 0, cpuUs: 0 } } : await base();
    for (const [config, subitems] of configs) {
      for (const scope of ["other", "self"] as const) {
        const pids = scope === "other" ? [idle.pid] : [loop.pid, redis.pid];
        const agent = await startAgent(subitems, pids, o.settleS);
        const l = await loop.measure();
        const rr = redisRun(port, redis.pid, o.requests);
        await agent.stop();
        const after = await base();
        const mean = (f: (b: typeof after) => number) => (f(before) + f(after)) / 2;
        const baseCpu = mean((b) => b.loop.cpuNs);
        const baseRedisCpu = mean((b) => b.redis.cpuUs);
        const row: Row = {
          config,
          scope,
          getppidCpuNs: l.cpuNs,
          getppidBaseCpuNs: baseCpu,
          getppidExtraNs: l.cpuNs - baseCpu,
          getppidRatio: baseCpu / l.cpuNs,
          getppidWallRatio: mean((b) => b.loop.wallNs) / l.wallNs,
          redisCpuUs: rr.cpuUs,
          redisBaseCpuUs: baseRedisCpu,
          redisCpuRatio: baseRedisCpu / rr.cpuUs,
          redisRpsRatio: rr.rps / mean((b) => b.redis.rps),
        };
        rows.push(row);
        console.log(
          `  ${config.padEnd(15)} ${scope.padEnd(5)}: getppid ${l.cpuNs.toFixed(0)} ns CPU (without ${baseCpu.toFixed(0)}, ${row.getppidExtraNs >= 0 ? "+" : ""}${row.getppidExtraNs.toFixed(0)} ns, ratio ${row.getppidRatio.toFixed(3)}, wall ratio ${row.getppidWallRatio.toFixed(3)}); ` +
            `redis ${rr.cpuUs.toFixed(2)} µs CPU/request (without ${baseRedisCpu.toFixed(2)}, ratio ${row.redisCpuRatio.toFixed(3)}, throughput ratio ${row.redisRpsRatio.toFixed(3)})`,
        );
        before = after;
      }
    }
    // RSS: the agent without a probe (the foundation) and with every subitem scoped to the
    // benchmark, each under the same activity, the median of 5 samples 2 s apart after it.
    const settledRss = async (pid: number) => {
      await loop.measure(1);
      redisRun(port, redis.pid, o.requests);
      const samples: number[] = [];
      for (let i = 0; i < 5; i++) {
        await Bun.sleep(2000);
        samples.push(rssMiB(pid));
      }
      return samples.sort((a, b) => a - b)[2]!;
    };
    const foundation = await startAgent(undefined, [], o.settleS);
    const rssFoundation = await settledRss(foundation.pid);
    await foundation.stop();
    const full = await startAgent(SUBITEMS, [loop.pid, redis.pid], o.settleS);
    // In-kernel time per program while the loop and redis run (bpf_stats costs time itself,
    // so only here, after the ratios).
    const statsOn = which("bpftool") !== undefined;
    if (statsOn) Bun.spawnSync(["sysctl", "-q", "-w", "kernel.bpf_stats_enabled=1"]);
    const s0 = statsOn ? bpfStats(full.pid) : new Map();
    await loop.measure(1);
    redisRun(port, redis.pid, o.requests);
    const s1 = statsOn ? bpfStats(full.pid) : new Map();
    if (statsOn) Bun.spawnSync(["sysctl", "-q", "-w", "kernel.bpf_stats_enabled=0"]);
    const programs: Record<string, { calls: number; nsPerCall: number }> = {};
    for (const [name, v] of s1) {
      const calls = v.calls - (s0.get(name)?.calls ?? 0);
      if (calls > 0) programs[name] = { calls, nsPerCall: (v.ns - (s0.get(name)?.ns ?? 0)) / calls };
    }
    for (const [name, v] of Object.entries(programs).sort((a, b) => b[1].calls - a[1].calls)) console.log(`  BPF ${name.padEnd(34)} ${String(v.calls).padStart(9)} runs, ${v.nsPerCall.toFixed(0)} ns/run`);
    const rssProc = await settledRss(full.pid);
    await full.stop();
    // The marginal cost: over an agent that already runs another eBPF probe (io).
    const io = await startAgent(undefined, [], o.settleS, true);
    const rssIo = await settledRss(io.pid);
    await io.stop();
    const ioProc = await startAgent(SUBITEMS, [loop.pid, redis.pid], o.settleS, true);
    const rssIoProc = await settledRss(ioProc.pid);
    await ioProc.stop();
    const load1 = loadavg();
    console.log(`RSS: foundation ${rssFoundation.toFixed(1)} MiB, with proc (all subitems) ${rssProc.toFixed(1)} MiB: +${(rssProc - rssFoundation).toFixed(1)} MiB (target ≤ 3 MiB)`);
    console.log(`RSS: with io ${rssIo.toFixed(1)} MiB, with io and proc ${rssIoProc.toFixed(1)} MiB: proc's marginal cost +${(rssIoProc - rssIo).toFixed(1)} MiB`);
    console.log(`load average at start ${load0}, at end ${load1} (2-CPU VM shared with other work: figures are noisy)`);
    const result = {
      date: new Date().toISOString(),
      kernel: readFileSync("/proc/sys/kernel/osrelease", "utf8").trim(),
      loadavg: { start: load0, end: load1 },
      loops: o.loops,
      requests: o.requests,
      rows,
      bpfPrograms: programs,
      rssFoundationMiB: rssFoundation,
      rssProcMiB: rssProc,
      rssIoMiB: rssIo,
      rssIoProcMiB: rssIoProc,
    };
    mkdirSync(dirname(o.out), { recursive: true });
    writeFileSync(o.out, JSON.stringify(result, null, 2));
    console.log(`results in ${o.out}`);
  } finally {
    loop.kill();
    idle.kill();
    redis.kill();
  }
}

await main();

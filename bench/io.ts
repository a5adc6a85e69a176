// Benchmark of the io probe (root): block I/O on a loop device of its own over a file on a
// tmpfs (CPU-bound requests, the fastest this machine has, so the per-request cost of the
// probe weighs the most there: an upper bound for real disks). One dist/gala-gopher runs
// baseinfo cpu,mem and io (every subitem); io is stopped and started through the REST API
// between runs, in without/with/with/without quadruplets, so a machine whose speed drifts
// cancels out and no agent start-up lands in a measured run. Workloads (dd):
//   direct-write / direct-read: 4 KiB O_DIRECT requests (the per-request cost of the block hooks)
//   buffered-write: 4 KiB buffered writes + fsync (the page-cache hooks)
// Also: in-kernel BPF time per request (kernel.bpf_stats_enabled) and its share of the time
// a request takes without the probe (a noise-free upper bound of the cost), and the agent's
// RSS with io over the foundation (baseinfo cpu,mem alone, same run).
//   bun run bench/io.ts [--reps N] [--requests N] [--settle S] [--quick] [--out FILE]
// Exits 1 when a median ratio is below 0.98 or the RSS over the foundation exceeds 3 MiB.
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { ensureBpf } from "../scripts/bpf.ts";
import { DIST_BIN, put, ROOT, rmrf, scrape, waitFor } from "../test/harness.ts";
import { type BenchAgent, CLK_TCK, cpuTicks as ticks, ensureDist, median, memMiB as mem, parseBenchArgs, startBenchAgent } from "./lib.ts";

const TARGET_RATIO = 0.98;
const TARGET_RSS_MIB = 3;
/** The probe's programs (either set), by full name and by the 15 characters the kernel keeps. */
const IO_PROGRAMS = new Map(
  ["on_insert", "on_issue", "on_complete", "on_rq_error", "on_bio_complete", "on_add_to_page_cache", "on_dirty_folio", "on_dirty_buffer", "on_get_pages", "on_map_pages", "on_fault"].flatMap((n) =>
    [n, `${n}_btf`].flatMap((full) => [
      [full, n],
      [full.slice(0, 15), n],
    ]),
  ),
);

interface Opts {
  reps: number;
  requests: number;
  settleS: number;
  out: string;
}

function parseArgs(argv: string[]): Opts {
  const o: Opts = { reps: 7, requests: 100_000, settleS: 6, out: join(ROOT, ".bench-out", "io.json") };
  return parseBenchArgs(
    argv,
    o,
    {
      numbers: { "--reps": "reps", "--requests": "requests", "--settle": "settleS" },
      switches: { "--quick": (o) => Object.assign(o, { reps: 3, requests: 30_000, settleS: 3 }) },
    },
    "bun run bench/io.ts [--reps 7] [--requests 100000] [--settle 6] [--quick] [--out FILE.json]",
  );
}

function sh(cmd: string[]): string {
  const r = Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`${cmd.join(" ")}: ${r.stderr.toString()}`);
  return r.stdout.toString();
}
/** Waits until `pid` uses less than 5 % of a core over half a second (at most 15 s). */
async function quiet(pid: number): Promise<void> {
  const end = performance.now() + 15_000;
  for (;;) {
    const t0 = ticks(pid);
    await Bun.sleep(500);
    if ((ticks(pid) - t0) / CLK_TCK / 0.5 < 0.05 || performance.now() > end) return;
  }
}

type Workload = "direct-write" | "direct-read" | "buffered-write";
const WORKLOADS: Workload[] = ["direct-write", "direct-read", "buffered-write"];

/** Requests per second of one workload on `dev`. */
function runWorkload(w: Workload, dev: string, n: number): number {
  const cmd =
    w === "direct-write"
      ? ["dd", "if=/dev/zero", `of=${dev}`, "bs=4k", `count=${n}`, "oflag=direct"]
      : w === "direct-read"
        ? ["dd", `if=${dev}`, "of=/dev/null", "bs=4k", `count=${n}`, "iflag=direct"]
        : ["dd", "if=/dev/zero", `of=${dev}`, "bs=4k", `count=${n}`, "conv=fsync"];
  const t0 = performance.now();
  sh(cmd);
  return n / ((performance.now() - t0) / 1000);
}

/** Every workload once, starting with the `first`-th (rotated per run: no workload always runs first). */
function runAll(dev: string, n: number, first = 0): Record<Workload, number> {
  const out = {} as Record<Workload, number>;
  for (let i = 0; i < WORKLOADS.length; i++) {
    const w = WORKLOADS[(first + i) % WORKLOADS.length]!;
    out[w] = runWorkload(w, dev, n);
  }
  return out;
}

interface Agent extends BenchAgent {
  /** Stops or starts the io probe (REST PUT) and waits until it is in that state. */
  setIo(running: boolean): Promise<void>;
}

const IO_DOC = { cmd: { probe: ["io_trace", "io_err", "io_count", "page_cache"] }, params: { report_period: 5 }, state: "running" };

async function startAgent(io: boolean, settleS: number): Promise<Agent> {
  const lines = [`baseinfo ${JSON.stringify({ cmd: { probe: ["cpu", "mem"] }, params: { report_period: 5 }, state: "running" })}`];
  if (io) lines.push(`io ${JSON.stringify(IO_DOC)}`);
  const agent = await startBenchAgent(lines, io ? "io" : "baseinfo", settleS);
  const f = agent.files;
  const state = (running: boolean) => `gala_gopher_agent_probe_state{probe="io",state="${running ? "running" : "stopped"}"} 1`;
  let ioRunning = io;
  const pid = agent.pid;
  return {
    ...agent,
    async setIo(running) {
      if (running === ioRunning) return; // a PUT of the same state would reopen the probe
      const r = await put(f.restPort, "io", { ...IO_DOC, state: running ? "running" : "stopped" });
      if (!r.body.includes("success")) throw new Error(`PUT /io: ${r.status} ${r.body}`);
      await waitFor(`io ${running ? "running" : "stopped"}`, async () => (await scrape(f.metricsPort)).includes(state(running)) || undefined, 30_000, 100);
      ioRunning = running;
      await quiet(pid); // loading (CO-RE over the kernel's BTF) or unloading is over
    },
  };
}

function bpfStats(): Map<string, { calls: number; ns: number }> {
  const out = new Map<string, { calls: number; ns: number }>();
  for (const p of JSON.parse(sh(["bpftool", "prog", "show", "-j"]) || "[]") as { name?: string; run_cnt?: number; run_time_ns?: number }[]) {
    const name = p.name && IO_PROGRAMS.get(p.name);
    if (!name) continue;
    const cur = out.get(name) ?? { calls: 0, ns: 0 };
    cur.calls += p.run_cnt ?? 0;
    cur.ns += p.run_time_ns ?? 0;
    out.set(name, cur);
  }
  return out;
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  if (process.getuid?.() !== 0) throw new Error("run as root (the probe loads BPF programs; the bench sets up a loop device)");
  ensureBpf({ quiet: true });
  ensureDist(["src/probes/io", "src/libbpf", "dist/bpf"]);
  const work = mkdtempSync(join(tmpdir(), "gopher-io-bench-"));
  const sizeMiB = Math.ceil((o.requests * 4096) / 1048576) + 16;
  sh(["mount", "-t", "tmpfs", "-o", `size=${sizeMiB + 16}M`, "tmpfs", work]);
  const img = join(work, "disk.img");
  sh(["truncate", "-s", `${sizeMiB}M`, img]);
  const dev = sh(["losetup", "-f", "--show", img]).trim();
  try {
    console.log(`io bench: ${o.reps} without/with/with/without quadruplets of ${o.requests} 4 KiB requests per workload on ${dev} (tmpfs-backed); agent ${DIST_BIN} with baseinfo cpu,mem and io (all subitems), io stopped/started over REST`);
    runAll(dev, Math.min(o.requests, 5000)); // warm-up
    const agent = await startAgent(true, o.settleS);
    const reps: { without: Record<Workload, number>; with: Record<Workload, number>; ratio: Record<Workload, number>; agentCpuPct: number }[] = [];
    try {
      for (let i = 0; i < o.reps; i++) {
        // without, with, with, without: drift within the quadruplet cancels out.
        const runs: { io: boolean; rps: Record<Workload, number>; cpuPct: number }[] = [];
        let turn = i;
        for (const io of [false, true, true, false]) {
          await agent.setIo(io);
          const t0 = ticks(agent.pid);
          const w0 = performance.now();
          const rps = runAll(dev, o.requests, turn++);
          runs.push({ io, rps, cpuPct: ((ticks(agent.pid) - t0) / CLK_TCK / ((performance.now() - w0) / 1000)) * 100 });
        }
        const mean = (io: boolean, w: Workload) => runs.filter((r) => r.io === io).reduce((a, r) => a + r.rps[w], 0) / 2;
        const without = {} as Record<Workload, number>;
        const withIo = {} as Record<Workload, number>;
        const ratio = {} as Record<Workload, number>;
        for (const w of WORKLOADS) {
          without[w] = mean(false, w);
          withIo[w] = mean(true, w);
          ratio[w] = withIo[w] / without[w];
        }
        const agentCpuPct = runs.filter((r) => r.io).reduce((a, r) => a + r.cpuPct, 0) / 2;
        reps.push({ without, with: withIo, ratio, agentCpuPct });
        console.log(`  rep ${i + 1}: ${WORKLOADS.map((w) => `${w} ${without[w].toFixed(0)} → ${withIo[w].toFixed(0)} req/s (${ratio[w].toFixed(4)})`).join("; ")}; agent CPU ${agentCpuPct.toFixed(1)} %`);
      }
    } finally {
      await agent.stop();
    }
    const medianRatio = Object.fromEntries(WORKLOADS.map((w) => [w, median(reps.map((r) => r.ratio[w]))])) as Record<Workload, number>;
    const medianWithout = Object.fromEntries(WORKLOADS.map((w) => [w, median(reps.map((r) => r.without[w]))])) as Record<Workload, number>;

    // In-kernel time of the probe's programs (a separate run: bpf_stats costs time itself).
    const statsAgent = await startAgent(true, o.settleS);
    sh(["sysctl", "-q", "-w", "kernel.bpf_stats_enabled=1"]);
    const bpf: Record<string, { nsPerRequest: number; shareOfRequestTime: number; perProgram: Record<string, { callsPerRequest: number; nsPerCall: number }> }> = {};
    try {
      for (const w of WORKLOADS) {
        const s0 = bpfStats();
        runWorkload(w, dev, o.requests);
        const s1 = bpfStats();
        let total = 0;
        const perProgram: Record<string, { callsPerRequest: number; nsPerCall: number }> = {};
        for (const [k, v] of s1) {
          const calls = v.calls - (s0.get(k)?.calls ?? 0);
          const ns = v.ns - (s0.get(k)?.ns ?? 0);
          total += ns;
          if (calls > 0) perProgram[k] = { callsPerRequest: calls / o.requests, nsPerCall: ns / calls };
        }
        const nsPerRequest = total / o.requests;
        const share = (nsPerRequest * medianWithout[w]) / 1e9;
        bpf[w] = { nsPerRequest, shareOfRequestTime: share, perProgram };
        console.log(`BPF time per ${w} request: ${nsPerRequest.toFixed(0)} ns, ${(share * 100).toFixed(2)} % of a request's time without the probe (${Object.entries(perProgram).map(([k, v]) => `${k} ${v.callsPerRequest.toFixed(2)}×${v.nsPerCall.toFixed(0)} ns`).join(", ")})`);
      }
    } finally {
      sh(["sysctl", "-q", "-w", "kernel.bpf_stats_enabled=0"]);
      await statsAgent.stop();
    }

    // RSS over the foundation, same workload, both at the end of it.
    const rssOf = async (io: boolean) => {
      const a = await startAgent(io, o.settleS);
      runAll(dev, o.requests);
      await Bun.sleep(6000); // one more report period with data
      const m = mem(a.pid);
      await a.stop();
      return m;
    };
    const foundation = await rssOf(false);
    const withIo = await rssOf(true);
    const rssOver = withIo.rssMiB - foundation.rssMiB;
    const result = {
      date: new Date().toISOString(),
      kernel: readFileSync("/proc/sys/kernel/osrelease", "utf8").trim(),
      requests: o.requests,
      reps,
      medianRatio,
      medianWithout,
      agentCpuPctMedian: median(reps.map((r) => r.agentCpuPct)),
      bpf,
      rss: { foundationMiB: foundation.rssMiB, foundationPeakMiB: foundation.hwmMiB, withIoMiB: withIo.rssMiB, withIoPeakMiB: withIo.hwmMiB, overFoundationMiB: rssOver },
    };
    mkdirSync(dirname(o.out), { recursive: true });
    writeFileSync(o.out, JSON.stringify(result, null, 2));
    const okRatio = WORKLOADS.every((w) => medianRatio[w] >= TARGET_RATIO);
    const okRss = rssOver <= TARGET_RSS_MIB;
    console.log(
      `median ratios with/without agent: ${WORKLOADS.map((w) => `${w} ${medianRatio[w].toFixed(4)}`).join(", ")} (target ≥ ${TARGET_RATIO}) ${okRatio ? "OK" : "MISSED"}; ` +
        `RSS foundation ${foundation.rssMiB.toFixed(1)} MiB, with io ${withIo.rssMiB.toFixed(1)} MiB: +${rssOver.toFixed(2)} MiB (target ≤ ${TARGET_RSS_MIB}) ${okRss ? "OK" : "MISSED"}; results in ${o.out}`,
    );
    if (!okRatio || !okRss) process.exitCode = 1;
  } finally {
    Bun.spawnSync(["losetup", "-d", dev]);
    Bun.spawnSync(["umount", work]);
    rmrf(work);
  }
}

await main();

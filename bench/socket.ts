// Benchmark of the socket probe (root), in one go:
//   * redis-benchmark against a redis-server on loopback, triplets of runs (without the
//     agent, with dist/gala-gopher running the socket probe on the whole host, without
//     again): median ratio of requests/s with/without (target ≥ 0.98) and of CPU time per
//     request; the BPF programs' own time per request (kernel.bpf_stats_enabled run);
//   * UDP datagrams: sockgen sending 200,000 datagrams, time per datagram with/without;
//   * RSS of the agent running the socket probe on top of the foundation (the agent with
//     baseinfo cpu,mem, report_period 5 s), both after the same settle time (target ≤ 3 MiB).
//   bun run bench/socket.ts [--reps N] [--requests N] [--clients N] [--settle S] [--quick] [--out FILE]
// Exits 1 when a target is missed.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { ensureBpf } from "../scripts/bpf.ts";
import { sockgen } from "../src/probes/socket/test-kit.ts";
import { DIST_BIN, freePort, ROOT, which } from "../test/harness.ts";
import { CLK_TCK, cpus, cpuTicks as ticks, ensureDist, median, memMiB, pin, redisBenchmark as redisRun, parseBenchArgs, startBenchAgent, startRedis } from "./lib.ts";

const TARGETS = { ratio: 0.98, extraRssMiB: 3 } as const;
const SOCKET_DOC = { cmd: { probe: ["tcp_socket", "udp_socket"] }, params: { report_period: 5 }, state: "running" };
const FOUNDATION_DOC = { cmd: { probe: ["cpu", "mem"] }, params: { report_period: 5 }, state: "running" };

interface Opts {
  reps: number;
  settleS: number;
  requests: number;
  clients: number;
  datagrams: number;
  out: string;
}

function parseArgs(argv: string[]): Opts {
  const o: Opts = { reps: 7, settleS: 10, requests: 300_000, clients: 50, datagrams: 200_000, out: join(ROOT, ".bench-out", "socket.json") };
  return parseBenchArgs(
    argv,
    o,
    {
      numbers: { "--reps": "reps", "--requests": "requests", "--settle": "settleS", "--clients": "clients" },
      switches: { "--quick": (o) => Object.assign(o, { reps: 3, requests: 100_000, settleS: 3, datagrams: 50_000 }) },
    },
    "bun run bench/socket.ts [--reps 7] [--requests 300000] [--clients 50] [--settle 10] [--quick] [--out FILE.json]",
  );
}

interface BenchRun {
  rps: number;
  cpuUsPerReq: number;
}

let redisPid = 0;
function redisBenchmark(port: number, o: Opts): BenchRun {
  return redisRun({ port, serverPid: redisPid, requests: o.requests, clients: o.clients, onCpu: 1 });
}

/** ns per datagram of one sockgen sender (200k datagrams of 64 bytes to a reader that drains them). */
async function udpRun(bin: string, n: number): Promise<number> {
  const reader = Bun.spawn(pin(0, [bin, "udpread", String(n)]), { stdin: "pipe", stdout: "pipe", stderr: "inherit" });
  const rd = (reader.stdout as ReadableStream<Uint8Array>).getReader();
  const port = Number(/bound (\d+)/.exec(new TextDecoder().decode((await rd.read()).value))?.[1]);
  const sender = Bun.spawn(pin(1, [bin, "udpsend", String(port), String(n), "64"]), { stdin: "pipe", stdout: "pipe", stderr: "inherit" });
  const sd = (sender.stdout as ReadableStream<Uint8Array>).getReader();
  await sd.read(); // ready
  const w0 = performance.now();
  (sender.stdin as import("bun").FileSink).write("go\n");
  (sender.stdin as import("bun").FileSink).flush();
  await sd.read(); // sent total=…
  const ns = ((performance.now() - w0) * 1e6) / n;
  sender.kill();
  reader.kill(); // some datagrams may have been dropped: the reader need not finish
  return ns;
}

interface BpfStat {
  calls: number;
  ns: number;
}
interface ProgInfo {
  id: number;
  name?: string;
  run_cnt?: number;
  run_time_ns?: number;
}
const progs = (): ProgInfo[] => JSON.parse(Bun.spawnSync(["bpftool", "prog", "show", "-j"], { stdout: "pipe" }).stdout.toString() || "[]") as ProgInfo[];
/** Run counts of the programs `ids` (the agent's: loaded after it started), by name. */
function bpfStats(ids: ReadonlySet<number>): Map<string, BpfStat> {
  const out = new Map<string, BpfStat>();
  for (const p of progs()) {
    if (!ids.has(p.id) || !p.name) continue;
    const cur = out.get(p.name) ?? { calls: 0, ns: 0 };
    cur.calls += p.run_cnt ?? 0;
    cur.ns += p.run_time_ns ?? 0;
    out.set(p.name, cur);
  }
  return out;
}
const setBpfStats = (on: boolean) => Bun.spawnSync(["sysctl", "-q", "-w", `kernel.bpf_stats_enabled=${on ? 1 : 0}`]);

/** The foundation plus the socket probe. */
const socketAgent = (settleS: number) => startBenchAgent([`baseinfo ${JSON.stringify(FOUNDATION_DOC)}`, `socket ${JSON.stringify(SOCKET_DOC)}`], "socket", settleS);
const foundationAgent = (settleS: number) => startBenchAgent([`baseinfo ${JSON.stringify(FOUNDATION_DOC)}`], "baseinfo", settleS);

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  if (process.getuid?.() !== 0) throw new Error("run as root (the probe loads BPF programs)");
  for (const t of ["redis-server", "redis-benchmark", "bpftool"]) if (!which(t)) throw new Error(`${t} not found (apt-get install redis-server redis-tools bpftool)`);
  ensureBpf({ quiet: true });
  const bin = sockgen();
  ensureDist(["src/probes/socket", "src/libbpf", "dist/bpf"]);
  const port = await freePort();
  const redis = await startRedis(port, 0);
  redisPid = redis.pid;
  try {
    console.log(`socket bench: ${o.reps} without/with/without triplets of redis-benchmark -t get,set -n ${o.requests} -c ${o.clients}; agent ${DIST_BIN} with baseinfo cpu,mem and socket tcp_socket,udp_socket (whole host)`);
    redisBenchmark(port, { ...o, requests: Math.min(o.requests, 50_000) }); // warm-up
    const reps: { without: number; with: number; ratio: number; cpuRatio: number; agentCpuPct: number; udpNsWithout: number; udpNsWith: number }[] = [];
    for (let i = 0; i < o.reps; i++) {
      const before = redisBenchmark(port, o);
      const udpBefore = await udpRun(bin, o.datagrams);
      const agent = await socketAgent(o.settleS);
      const t0 = ticks(agent.pid);
      const w0 = performance.now();
      const w = redisBenchmark(port, o);
      const agentCpuPct = ((ticks(agent.pid) - t0) / CLK_TCK / ((performance.now() - w0) / 1000)) * 100;
      const udpWith = await udpRun(bin, o.datagrams);
      await agent.stop();
      const after = redisBenchmark(port, o);
      const udpAfter = await udpRun(bin, o.datagrams);
      const without = { rps: (before.rps + after.rps) / 2, cpuUsPerReq: (before.cpuUsPerReq + after.cpuUsPerReq) / 2 };
      const rep = {
        without: without.rps,
        with: w.rps,
        ratio: w.rps / without.rps,
        cpuRatio: without.cpuUsPerReq / w.cpuUsPerReq,
        agentCpuPct,
        udpNsWithout: (udpBefore + udpAfter) / 2,
        udpNsWith: udpWith,
      };
      reps.push(rep);
      console.log(
        `  rep ${i + 1}: without ${before.rps.toFixed(0)} / ${after.rps.toFixed(0)} req/s, with ${w.rps.toFixed(0)}, ratio ${rep.ratio.toFixed(4)}, CPU/request ratio ${rep.cpuRatio.toFixed(4)}; ` +
          `agent CPU ${agentCpuPct.toFixed(1)} %; UDP ${rep.udpNsWithout.toFixed(0)} → ${udpWith.toFixed(0)} ns/datagram`,
      );
    }
    // BPF time per request and per datagram (bpf_stats cost time themselves: a separate run).
    const stats = await (async () => {
      const before = new Set(progs().map((p) => p.id));
      const agent = await socketAgent(o.settleS);
      const ids = new Set(progs().filter((p) => !before.has(p.id) && p.name !== undefined && (p.name.startsWith("on_") || p.name === "walk")).map((p) => p.id));
      setBpfStats(true);
      const s0 = bpfStats(ids);
      redisBenchmark(port, o);
      const s1 = bpfStats(ids);
      await udpRun(bin, o.datagrams);
      const s2 = bpfStats(ids);
      setBpfStats(false);
      await agent.stop();
      const per = (a: Map<string, BpfStat>, b: Map<string, BpfStat>, units: number) => {
        const out: Record<string, { callsPerUnit: number; nsPerCall: number }> = {};
        let total = 0;
        for (const [k, v] of b) {
          const calls = v.calls - (a.get(k)?.calls ?? 0);
          const ns = v.ns - (a.get(k)?.ns ?? 0);
          total += ns;
          if (calls > 0) out[k] = { callsPerUnit: calls / units, nsPerCall: ns / calls };
        }
        return { nsPerUnit: total / units, programs: out };
      };
      return { redis: per(s0, s1, o.requests * 2), udp: per(s1, s2, o.datagrams) };
    })();
    console.log(`BPF time per redis request: ${stats.redis.nsPerUnit.toFixed(1)} ns; per UDP datagram: ${stats.udp.nsPerUnit.toFixed(1)} ns`);
    for (const [k, v] of Object.entries(stats.redis.programs)) console.log(`  redis ${k.padEnd(18)} ${v.callsPerUnit.toFixed(2)} calls/request, ${v.nsPerCall.toFixed(0)} ns/call`);
    for (const [k, v] of Object.entries(stats.udp.programs)) console.log(`  udp   ${k.padEnd(18)} ${v.callsPerUnit.toFixed(2)} calls/datagram, ${v.nsPerCall.toFixed(0)} ns/call`);
    // RSS on top of the foundation: alternate the two agents, same settle, median of each.
    const rss = { foundation: [] as number[], socket: [] as number[] };
    for (let i = 0; i < o.reps; i++) {
      for (const [kind, start] of [["foundation", foundationAgent], ["socket", socketAgent]] as const) {
        const agent = await start(o.settleS);
        rss[kind].push(memMiB(agent.pid).rssMiB);
        await agent.stop();
      }
    }
    const extraRss = median(rss.socket) - median(rss.foundation);
    const result = {
      date: new Date().toISOString(),
      kernel: readFileSync("/proc/sys/kernel/osrelease", "utf8").trim(),
      cpus: cpus(),
      requests: o.requests,
      clients: o.clients,
      reps,
      medianRatio: median(reps.map((r) => r.ratio)),
      medianCpuRatio: median(reps.map((r) => r.cpuRatio)),
      medianAgentCpuPct: median(reps.map((r) => r.agentCpuPct)),
      udpNsPerDatagram: { without: median(reps.map((r) => r.udpNsWithout)), with: median(reps.map((r) => r.udpNsWith)) },
      bpf: stats,
      rssMiB: { foundation: rss.foundation, socket: rss.socket, extraMedian: extraRss },
    };
    mkdirSync(dirname(o.out), { recursive: true });
    writeFileSync(o.out, JSON.stringify(result, null, 2));
    const ratioOk = result.medianRatio >= TARGETS.ratio;
    const rssOk = extraRss <= TARGETS.extraRssMiB;
    console.log(
      `median ratio with/without ${result.medianRatio.toFixed(4)} (target ≥ ${TARGETS.ratio}) ${ratioOk ? "OK" : "MISSED"}; CPU/request ratio ${result.medianCpuRatio.toFixed(4)}; ` +
        `UDP ${result.udpNsPerDatagram.without.toFixed(0)} → ${result.udpNsPerDatagram.with.toFixed(0)} ns/datagram; ` +
        `RSS foundation ${median(rss.foundation).toFixed(1)} MiB, with socket ${median(rss.socket).toFixed(1)} MiB: +${extraRss.toFixed(1)} MiB (target ≤ ${TARGETS.extraRssMiB}) ${rssOk ? "OK" : "MISSED"}; results in ${o.out}`,
    );
    if (!ratioOk || !rssOk) process.exitCode = 1;
  } finally {
    redis.kill();
    setBpfStats(false);
  }
}

await main();

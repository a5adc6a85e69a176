// Benchmark of the l7 probe (root), in one go:
//   * redis-benchmark against a redis-server, and wrk against nginx (one process), both on
//     loopback, in triplets (without the agent, with dist/gala-gopher running the l7 probe
//     on the whole host with l7_protocol http and redis, without again): median ratios of
//     requests/s with/without;
//   * BPF time per redis request (a bpf_stats run) and the agent's CPU per request;
//   * the parse rate per core: real redis-benchmark and ab traffic recorded through the
//     loopback proxy, replayed through the probe's tracker and aggregator (paired requests
//     per second on one core; anchor: DeepFlow's ~90k/s per core, goal >= 100k/s);
//   * RSS of the agent running l7 on top of the foundation (baseinfo cpu,mem), both with
//     the same 1000 live keep-alive connections to redis open (target <= 10 MiB).
//   bun run bench/l7.ts [--reps N] [--requests N] [--clients N] [--seconds S] [--conns N] [--settle S] [--quick] [--out FILE]
// A protocol whose parser is not in this build is left out of the parse rate (said so).
// Exits 1 when a target is missed.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { ensureBpf } from "../scripts/bpf.ts";
import { PARSERS } from "../src/probes/l7/index.ts";
import { startNginx } from "../src/probes/l7/test-servers.ts";
import { DIST_BIN, freePort, ROOT, which } from "../test/harness.ts";
import { parseRate, record } from "./l7-parse.ts";
import { CLK_TCK, cpus, cpuTicks, ensureDist, median, memMiB, parseBenchArgs, pin, redisBenchmark, startBenchAgent, startRedis } from "./lib.ts";

const TARGETS = { parsePerS: 100_000, extraRssMiB: 10 } as const;
const L7_DOC = { cmd: { probe: ["l7_bytes_metrics", "l7_rpc_metrics"] }, params: { report_period: 5, l7_protocol: ["http", "redis"] }, state: "running" };
const FOUNDATION_DOC = { cmd: { probe: ["cpu", "mem"] }, params: { report_period: 5 }, state: "running" };

interface Opts {
  reps: number;
  requests: number;
  clients: number;
  seconds: number;
  conns: number;
  settleS: number;
  /** Only the RSS part (1000 live connections), not the throughput, cost and parse-rate runs. */
  rssOnly: boolean;
  out: string;
}

function parseArgs(argv: string[]): Opts {
  const o: Opts = { reps: 5, requests: 200_000, clients: 50, seconds: 5, conns: 1000, settleS: 8, rssOnly: false, out: join(ROOT, ".bench-out", "l7.json") };
  return parseBenchArgs(
    argv,
    o,
    {
      numbers: { "--reps": "reps", "--requests": "requests", "--clients": "clients", "--seconds": "seconds", "--conns": "conns", "--settle": "settleS" },
      switches: { "--quick": (o) => Object.assign(o, { reps: 2, requests: 50_000, seconds: 3, settleS: 4 }), "--rss-only": (o) => Object.assign(o, { rssOnly: true }) },
    },
    "bun run bench/l7.ts [--reps 5] [--requests 200000] [--clients 50] [--seconds 5] [--conns 1000] [--settle 8] [--quick] [--rss-only] [--out FILE.json]",
  );
}

/** wrk's requests/s against `url` (one thread pinned to `cpu`). */
function wrk(url: string, o: Opts, cpu: number): number {
  const r = Bun.spawnSync(pin(cpu, ["wrk", "-t1", `-c${o.clients}`, `-d${o.seconds}s`, url]), { stdout: "pipe", stderr: "pipe" });
  const m = /Requests\/sec:\s+([\d.]+)/.exec(r.stdout.toString());
  if (!m) throw new Error(`wrk failed: ${r.stderr.toString()}${r.stdout.toString()}`);
  return Number(m[1]);
}

interface ProgInfo {
  id: number;
  name?: string;
  run_cnt?: number;
  run_time_ns?: number;
}
const progs = (): ProgInfo[] => JSON.parse(Bun.spawnSync(["bpftool", "prog", "show", "-j"], { stdout: "pipe" }).stdout.toString() || "[]") as ProgInfo[];
const setBpfStats = (on: boolean) => Bun.spawnSync(["sysctl", "-q", "-w", `kernel.bpf_stats_enabled=${on ? 1 : 0}`]);

/**
 * BPF time and agent CPU per redis request (a separate run: bpf_stats cost time themselves):
 * the l7 programs' run time over one redis-benchmark, per request and per program.
 */
async function costPerRequest(o: Opts, run: () => number): Promise<{ bpfNsPerRequest: number; agentUsPerRequest: number; programs: Record<string, { callsPerRequest: number; nsPerCall: number }> }> {
  const before = new Set(progs().map((p) => p.id));
  const agent = await l7Agent(o.settleS);
  try {
    const ids = new Set(progs().filter((p) => !before.has(p.id) && /^(enter|exit)_/.test(p.name ?? "")).map((p) => p.id));
    setBpfStats(true);
    const s0 = new Map(progs().filter((p) => ids.has(p.id)).map((p) => [p.id, p]));
    const t0 = cpuTicks(agent.pid);
    const requests = run();
    const agentS = (cpuTicks(agent.pid) - t0) / CLK_TCK;
    const s1 = progs().filter((p) => ids.has(p.id));
    setBpfStats(false);
    const programs: Record<string, { callsPerRequest: number; nsPerCall: number }> = {};
    let ns = 0;
    for (const p of s1) {
      const calls = (p.run_cnt ?? 0) - (s0.get(p.id)?.run_cnt ?? 0);
      const t = (p.run_time_ns ?? 0) - (s0.get(p.id)?.run_time_ns ?? 0);
      ns += t;
      if (calls > 0) programs[p.name!] = { callsPerRequest: calls / requests, nsPerCall: t / calls };
    }
    return { bpfNsPerRequest: ns / requests, agentUsPerRequest: (agentS * 1e6) / requests, programs };
  } finally {
    setBpfStats(false);
    await agent.stop();
  }
}

const l7Agent = (settleS: number) => startBenchAgent([`baseinfo ${JSON.stringify(FOUNDATION_DOC)}`, `l7 ${JSON.stringify(L7_DOC)}`], "l7", settleS);
const foundationAgent = (settleS: number) => startBenchAgent([`baseinfo ${JSON.stringify(FOUNDATION_DOC)}`], "baseinfo", settleS);

/** A process holding `n` keep-alive connections to redis, each sending PING every second. */
function holdConnections(port: number, n: number): { proc: Bun.Subprocess; ready: Promise<void> } {
  const script = `
    let open = 0; const socks = [];
    for (let i = 0; i < ${n}; i++) socks.push(await Bun.connect({ hostname: "127.0.0.1", port: ${port}, socket: { open() { open++; }, data() {} } }));
    setInterval(() => { for (const s of socks) s.write("PING\\r\\n"); }, 1000);
    console.log("ready " + open);`;
  const proc = Bun.spawn([process.execPath, "-e", script], { stdout: "pipe", stderr: "inherit" });
  const ready = (async () => {
    const rd = (proc.stdout as ReadableStream<Uint8Array>).getReader();
    const first = new TextDecoder().decode((await rd.read()).value);
    if (!first.startsWith("ready")) throw new Error(`connection holder: ${first}`);
  })();
  return { proc, ready };
}

/** The throughput triplets, the cost per request and the parse rate (everything but RSS). */
async function throughputCostParse(o: Opts, redisPort: number, redisPid: number, nginxPort: number) {
  const url = `http://127.0.0.1:${nginxPort}/index.html`;
    console.log(`l7 bench: ${o.reps} without/with/without triplets of redis-benchmark -t get,set -n ${o.requests} -c ${o.clients} and wrk -c ${o.clients} -d ${o.seconds}s; agent ${DIST_BIN} with l7 (http, redis) on the whole host`);
    redisBenchmark({ port: redisPort, serverPid: redisPid, requests: Math.min(o.requests, 50_000), clients: o.clients, onCpu: 1 });
    wrk(url, { ...o, seconds: 1 }, 1);
    const reps: { redis: [number, number, number]; wrk: [number, number, number]; redisRatio: number; wrkRatio: number }[] = [];
    for (let i = 0; i < o.reps; i++) {
      const rb = () => redisBenchmark({ port: redisPort, serverPid: redisPid, requests: o.requests, clients: o.clients, onCpu: 1 }).rps;
      const r0 = rb();
      const w0 = wrk(url, o, 1);
      const agent = await l7Agent(o.settleS);
      const r1 = rb();
      const w1 = wrk(url, o, 1);
      await agent.stop();
      const r2 = rb();
      const w2 = wrk(url, o, 1);
      const rep = { redis: [r0, r1, r2] as [number, number, number], wrk: [w0, w1, w2] as [number, number, number], redisRatio: r1 / ((r0 + r2) / 2), wrkRatio: w1 / ((w0 + w2) / 2) };
      reps.push(rep);
      console.log(`  rep ${i + 1}: redis ${r0.toFixed(0)} / ${r1.toFixed(0)} / ${r2.toFixed(0)} req/s (ratio ${rep.redisRatio.toFixed(3)}); nginx ${w0.toFixed(0)} / ${w1.toFixed(0)} / ${w2.toFixed(0)} req/s (ratio ${rep.wrkRatio.toFixed(3)})`);
    }
    const cost = await costPerRequest(o, () => {
      redisBenchmark({ port: redisPort, serverPid: redisPid, requests: o.requests, clients: o.clients, onCpu: 1 });
      return o.requests * 2;
    });
    console.log(`  per redis request: BPF ${cost.bpfNsPerRequest.toFixed(0)} ns (bpf_stats on), agent ${cost.agentUsPerRequest.toFixed(2)} µs CPU (whole host: other processes' traffic included)`);
    for (const [k, v] of Object.entries(cost.programs)) console.log(`    ${k.padEnd(16)} ${v.callsPerRequest.toFixed(2)} calls/request, ${v.nsPerCall.toFixed(0)} ns/call`);
    // Parse rate on recorded traffic, per protocol with a parser in this build.
    const parse: Record<string, ReturnType<typeof parseRate> | string> = {};
    const tmp = join(ROOT, ".bench-out");
    mkdirSync(tmp, { recursive: true });
    for (const [proto, rec] of [
      ["redis", () => record(redisPort, join(tmp, "l7-redis.jsonl"), (p) => void Bun.spawnSync(["redis-benchmark", "-p", String(p), "-t", "get,set", "-n", "20000", "-c", "4", "-q"]))],
      ["http", () => record(nginxPort, join(tmp, "l7-http.jsonl"), (p) => void Bun.spawnSync(["ab", "-q", "-k", "-n", "20000", "-c", "4", `http://127.0.0.1:${p}/index.html`], { stdout: "ignore" }))],
    ] as const) {
      const parser = PARSERS.get(proto);
      if (!parser) {
        parse[proto] = `skipped: no ${proto} parser in this build`;
        console.log(`  parse rate ${proto}: ${parse[proto]}`);
        continue;
      }
      const chunks = await rec();
      const r = parseRate(parser, chunks);
      parse[proto] = r;
      console.log(
        `  parse rate ${proto}: ${(r.recordsPerS / 1000).toFixed(0)}k requests per CPU second (${(r.recordsPerWallS / 1000).toFixed(0)}k per wall second; ${r.mibPerS.toFixed(0)} MiB/s; ${r.recordsPerPass} requests in ${chunks.length} recorded chunks)`,
      );
    }
  return { reps, cost, parse };
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const nofile = Number(Bun.spawnSync(["sh", "-c", "ulimit -n"]).stdout.toString().trim());
  if (nofile < o.conns + 64) throw new Error(`--conns ${o.conns} needs more open files than ulimit -n ${nofile} allows`);
  if (process.getuid?.() !== 0) throw new Error("run as root (the probe loads BPF programs)");
  for (const t of ["redis-server", "redis-benchmark", "nginx", "wrk", "ab", "bpftool"]) if (!which(t)) throw new Error(`${t} not found (apt-get install redis-server redis-tools nginx wrk apache2-utils)`);
  ensureBpf({ quiet: true });
  ensureDist(["src/probes/l7", "src/probes/l7/protocols", "src/libbpf", "dist/bpf"]);
  const redisPort = await freePort();
  const redis = await startRedis(redisPort, 0);
  await using nginx = await startNginx({ "index.html": "<html><body>hello from nginx</body></html>\n".repeat(14) });
  try {
    const loads = o.rssOnly ? undefined : await throughputCostParse(o, redisPort, redis.pid, nginx.port);
    // RSS on top of the foundation with the same live connections.
    const holder = holdConnections(redisPort, o.conns);
    await holder.ready;
    const rss = { foundation: [] as number[], l7: [] as number[] };
    for (let i = 0; i < Math.max(3, o.reps); i++) {
      for (const [kind, start] of [["foundation", foundationAgent], ["l7", l7Agent]] as const) {
        const agent = await start(o.settleS);
        rss[kind].push(memMiB(agent.pid).rssMiB);
        await agent.stop();
      }
    }
    holder.proc.kill();
    const extraRss = median(rss.l7) - median(rss.foundation);
    const rates = Object.values(loads?.parse ?? {}).filter((p): p is ReturnType<typeof parseRate> => typeof p !== "string");
    const load = readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
    const result = {
      date: new Date().toISOString(),
      kernel: readFileSync("/proc/sys/kernel/osrelease", "utf8").trim(),
      cpus: cpus(),
      loadAverage: load,
      requests: o.requests,
      clients: o.clients,
      ...(loads && {
        reps: loads.reps,
        medianRedisRatio: median(loads.reps.map((r) => r.redisRatio)),
        medianWrkRatio: median(loads.reps.map((r) => r.wrkRatio)),
        cost: loads.cost,
        parse: loads.parse,
      }),
      liveConnections: o.conns,
      rssMiB: { foundation: rss.foundation, l7: rss.l7, extraMedian: extraRss },
    };
    mkdirSync(dirname(o.out), { recursive: true });
    writeFileSync(o.out, JSON.stringify(result, null, 2));
    const parseOk = rates.every((r) => r.recordsPerS >= TARGETS.parsePerS);
    const rssOk = extraRss <= TARGETS.extraRssMiB;
    console.log(`  RSS foundation ${rss.foundation.map((x) => x.toFixed(1)).join(" ")} MiB; foundation + l7 ${rss.l7.map((x) => x.toFixed(1)).join(" ")} MiB; load average ${load}`);
    console.log(
      (result.medianRedisRatio === undefined ? "" : `median ratio with/without: redis-benchmark ${result.medianRedisRatio.toFixed(3)}, wrk/nginx ${result.medianWrkRatio!.toFixed(3)}; `) +
        `RSS over the foundation with ${o.conns} live connections ${extraRss.toFixed(1)} MiB (target <= ${TARGETS.extraRssMiB}) ${rssOk ? "ok" : "MISSED"}; ` +
        `parse rate ${rates.length ? (parseOk ? "ok" : "MISSED") : "not measured"} (target >= ${TARGETS.parsePerS / 1000}k/s)`,
    );
    console.log(`results: ${o.out}`);
    if (!parseOk || !rssOk) process.exitCode = 1;
  } finally {
    redis.kill();
  }
}

await main();

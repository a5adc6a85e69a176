// Benchmark: dist/gala-gopher (baseinfo cpu+mem, report_period 5 s) beside
// prometheus-node-exporter (default collectors), both on loopback, in one run.
//   bun run bench [--duration SECONDS] [--quick] [--out FILE] [--agent-env KEY=VALUE]
// Measures start to first data, RSS (VmRSS/VmHWM every 10 s), CPU % of one core over the
// duration (with one scrape per 15 s each, as a Prometheus server would), then /metrics
// latency over 2,000 sequential GETs each. Exits 1 when a target is missed.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { agentFiles, cliArgs, DIST_BIN, freePort, scrape, spawnAgent, waitFor, which } from "../test/harness.ts";

const CLK_TCK = 100;
const RSS_EVERY_S = 10;
const SCRAPE_EVERY_S = 15;
const PROGRESS_EVERY_S = 30;
const LATENCY_GETS = 2000;
const PROBES_INIT = `baseinfo {"cmd":{"probe":["cpu","mem"]},"params":{"report_period":5},"state":"running"}\n`;
const TARGETS = { rssMiB: 45, cpuPct: 0.5, p99Ms: 5, startMs: 1000 } as const;

interface Opts { durationS: number; out?: string; agentEnv: Record<string, string> }

function parseArgs(argv: string[]): Opts {
  const o: Opts = { durationS: 600, agentEnv: {} };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--quick") o.durationS = 60;
    else if (a === "--duration") o.durationS = Number(argv[++i]);
    else if (a === "--out") {
      o.out = argv[++i];
      if (!o.out) throw new Error("--out needs a file name");
    } else if (a === "--agent-env") {
      const kv = argv[++i] ?? "";
      const eq = kv.indexOf("=");
      if (eq < 1) throw new Error("--agent-env needs KEY=VALUE");
      o.agentEnv[kv.slice(0, eq)] = kv.slice(eq + 1);
    } else if (a === "-h" || a === "--help") {
      console.log("usage: bun run bench/run.ts [--duration SECONDS (600)] [--quick (60 s)] [--out FILE.json] [--agent-env KEY=VALUE ...]");
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  if (!Number.isFinite(o.durationS) || o.durationS <= 0) throw new Error("--duration needs a positive number of seconds");
  return o;
}

interface Mem { rssKiB: number; hwmKiB: number; anonKiB: number; fileKiB: number }
type Sample = [seconds: number, rssKiB: number, anonKiB: number, fileKiB: number];

function readMem(pid: number): Mem {
  const s = readFileSync(`/proc/${pid}/status`, "utf8");
  const kib = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, "m").exec(s)?.[1] ?? NaN);
  return { rssKiB: kib("VmRSS"), hwmKiB: kib("VmHWM"), anonKiB: kib("RssAnon"), fileKiB: kib("RssFile") };
}

/** utime + stime of the process (all threads), in clock ticks. */
function readTicks(pid: number): number {
  const s = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = s.slice(s.lastIndexOf(")") + 2).split(" "); // f[0] is field 3 (state)
  return Number(f[11]) + Number(f[12]); // fields 14 and 15
}

interface Target {
  name: string;
  port: number;
  pid: number;
  stop(): Promise<unknown>;
  startMs: number;
  mem: Mem[];
  timeline: Sample[];
  ticks0: number;
  scrapes: number;
  scrapeErrors: number;
}

async function firstData(port: number, series: string, t0: number, timeoutMs = 30_000): Promise<number> {
  await waitFor(`${series} on :${port}`, async () => ((await scrape(port)).includes(series) ? true : undefined), timeoutMs, 5);
  return performance.now() - t0;
}

async function startGala(env: Record<string, string>): Promise<Target> {
  const f = await agentFiles();
  writeFileSync(f.probesInit, PROBES_INIT);
  const t0 = performance.now();
  const c = spawnAgent(cliArgs(f), { env });
  let startMs: number;
  try {
    startMs = await firstData(f.metricsPort, "gala_gopher_mem_total_kB", t0);
  } catch (e) {
    await c.stop();
    throw new Error(`gala-gopher: ${String(e)}\n${c.stderr()}`);
  }
  return { name: "gala-gopher", port: f.metricsPort, pid: c.proc.pid, stop: () => c.stop(), startMs, mem: [], timeline: [], ticks0: 0, scrapes: 0, scrapeErrors: 0 };
}

async function startNodeExporter(bin: string): Promise<Target> {
  const port = await freePort();
  const t0 = performance.now();
  const proc = Bun.spawn([bin, `--web.listen-address=127.0.0.1:${port}`], { stdout: "ignore", stderr: "ignore" });
  const stop = async (): Promise<number> => {
    proc.kill("SIGTERM");
    const t = setTimeout(() => proc.kill("SIGKILL"), 8000);
    const code = await proc.exited;
    clearTimeout(t);
    return code;
  };
  let startMs: number;
  try {
    startMs = await firstData(port, "node_memory_MemTotal_bytes", t0);
  } catch (e) {
    await stop();
    throw new Error(`node_exporter: ${String(e)}`);
  }
  return { name: "node_exporter", port, pid: proc.pid, stop, startMs, mem: [], timeline: [], ticks0: 0, scrapes: 0, scrapeErrors: 0 };
}

async function periodicScrape(t: Target): Promise<void> {
  try {
    await scrape(t.port);
    t.scrapes++;
  } catch {
    t.scrapeErrors++;
  }
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;
}

interface Latency { p50: number; p99: number; max: number; bytes: number }

async function latency(port: number, n: number): Promise<Latency> {
  const ms: number[] = [];
  let bytes = 0;
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const body = await scrape(port);
    ms.push(performance.now() - t0);
    bytes = body.length;
  }
  ms.sort((a, b) => a - b);
  return { p50: pct(ms, 50), p99: pct(ms, 99), max: ms[ms.length - 1] ?? NaN, bytes };
}

interface Result {
  name: string;
  startMs: number;
  rssStartMiB: number;
  rssEndMiB: number;
  rssMaxMiB: number;
  hwmEndMiB: number;
  anonEndMiB: number;
  fileEndMiB: number;
  rssAfterLatencyMiB: number;
  cpuPct: number;
  scrapes: number;
  scrapeErrors: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  metricsBytes: number;
}

const mib = (kib: number): number => kib / 1024;
const loadavg = (): string => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
const r2 = (x: number): number => Math.round(x * 100) / 100;

async function main(): Promise<number> {
  const o = parseArgs(Bun.argv.slice(2));
  if (!existsSync(DIST_BIN)) throw new Error(`${DIST_BIN} missing: run \`bun run build\` first`);
  const neBin = which("prometheus-node-exporter") ?? which("node_exporter");
  if (!neBin) throw new Error("prometheus-node-exporter not found: apt-get install -y prometheus-node-exporter");

  const version = (cmd: string[], lines: number): string => {
    const r = Bun.spawnSync(cmd);
    return `${r.stdout.toString()}${r.stderr.toString()}`.trim().split("\n").slice(0, lines).join(" ");
  };
  const neVersion = version([neBin, "--version"], 1);
  const galaVersion = version([DIST_BIN, "--version"], 2);
  const machine = {
    nproc: navigator.hardwareConcurrency,
    kernel: Bun.spawnSync(["uname", "-r"]).stdout.toString().trim(),
    bun: Bun.version,
    cpu: /model name\s*:\s*(.*)/.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1] ?? "",
    memTotalMiB: Math.round(Number(/MemTotal:\s+(\d+)/.exec(readFileSync("/proc/meminfo", "utf8"))?.[1]) / 1024),
    galaVersion,
    nodeExporter: neVersion,
    agentEnv: o.agentEnv,
    loadavgStart: loadavg(),
    loadavgEnd: "",
  };
  console.log(`[bench] machine: ${machine.nproc} CPUs (${machine.cpu}), ${machine.memTotalMiB} MiB, kernel ${machine.kernel}, Bun ${machine.bun}`);
  console.log(`[bench] ${galaVersion} | ${neVersion}${Object.entries(o.agentEnv).map(([k, v]) => ` | agent env ${k}=${v}`).join("")}`);
  console.log(`[bench] duration ${o.durationS} s; RSS every ${RSS_EVERY_S} s; one scrape per ${SCRAPE_EVERY_S} s each; then ${LATENCY_GETS} GETs each`);

  const targets: Target[] = [];
  const stopAll = async (): Promise<void> => {
    await Promise.all(targets.map((t) => t.stop().catch(() => undefined)));
  };
  process.on("SIGINT", () => void stopAll().then(() => process.exit(130)));
  try {
    // Started one after the other so that neither start-up competes with the other.
    targets.push(await startGala(o.agentEnv));
    targets.push(await startNodeExporter(neBin));
    for (const t of targets) console.log(`[bench] ${t.name} pid ${t.pid} on :${t.port}: first data after ${t.startMs.toFixed(1)} ms`);

    // Steady phase: the CPU window opens here, after the start-up scrapes.
    const t0 = performance.now();
    const sample = (t: Target, ms: number): void => {
      const m = readMem(t.pid);
      t.mem.push(m);
      t.timeline.push([Math.round(ms / 1000), m.rssKiB, m.anonKiB, m.fileKiB]);
    };
    for (const t of targets) {
      t.ticks0 = readTicks(t.pid);
      sample(t, 0);
    }
    const end = o.durationS * 1000;
    let nextRss = RSS_EVERY_S * 1000;
    let nextScrape = SCRAPE_EVERY_S * 1000;
    let nextProgress = PROGRESS_EVERY_S * 1000;
    for (;;) {
      const now = performance.now() - t0;
      if (now >= end) break;
      const next = Math.min(end, nextRss, nextScrape, nextProgress);
      if (next > now) {
        await Bun.sleep(next - now);
        continue;
      }
      if (nextScrape <= now) {
        nextScrape += SCRAPE_EVERY_S * 1000;
        for (const t of targets) await periodicScrape(t);
      }
      if (nextRss <= now) {
        nextRss += RSS_EVERY_S * 1000;
        for (const t of targets) sample(t, now);
      }
      if (nextProgress <= now) {
        nextProgress += PROGRESS_EVERY_S * 1000;
        const s = (now / 1000).toFixed(0);
        const parts = targets.map((t) => {
          const cpu = ((readTicks(t.pid) - t.ticks0) / CLK_TCK / (now / 1000)) * 100;
          return `${t.name} rss ${mib(t.mem[t.mem.length - 1]?.rssKiB ?? NaN).toFixed(1)} MiB cpu ${cpu.toFixed(3)} %`;
        });
        console.log(`[bench] ${s}/${o.durationS} s  ${parts.join("  |  ")}`);
      }
    }
    const wallS = (performance.now() - t0) / 1000;
    const cpuPct = targets.map((t) => ((readTicks(t.pid) - t.ticks0) / CLK_TCK / wallS) * 100);
    for (const t of targets) sample(t, wallS * 1000);
    machine.loadavgEnd = loadavg();

    console.log(`[bench] ${wallS.toFixed(0)} s done; scrape latency: ${LATENCY_GETS} sequential GETs of /metrics each`);
    const results: Result[] = [];
    for (const [i, t] of targets.entries()) {
      const l = await latency(t.port, LATENCY_GETS);
      const rss = t.mem.map((m) => m.rssKiB);
      const last = t.mem[t.mem.length - 1] as Mem;
      results.push({
        name: t.name,
        startMs: r2(t.startMs),
        rssStartMiB: r2(mib(t.mem[0]?.rssKiB ?? NaN)),
        rssEndMiB: r2(mib(last.rssKiB)),
        rssMaxMiB: r2(mib(Math.max(...rss))),
        hwmEndMiB: r2(mib(last.hwmKiB)),
        anonEndMiB: r2(mib(last.anonKiB)),
        fileEndMiB: r2(mib(last.fileKiB)),
        rssAfterLatencyMiB: r2(mib(readMem(t.pid).rssKiB)),
        cpuPct: Math.round((cpuPct[i] ?? NaN) * 1000) / 1000,
        scrapes: t.scrapes,
        scrapeErrors: t.scrapeErrors,
        p50Ms: Math.round(l.p50 * 1000) / 1000,
        p99Ms: Math.round(l.p99 * 1000) / 1000,
        maxMs: Math.round(l.max * 1000) / 1000,
        metricsBytes: l.bytes,
      });
    }
    await stopAll();

    const [g, n] = results as [Result, Result];
    const rows: [string, keyof Result, string][] = [
      ["start to first data", "startMs", "ms"],
      ["VmRSS at start", "rssStartMiB", "MiB"],
      ["VmRSS at end", "rssEndMiB", "MiB"],
      ["VmRSS max (10 s samples)", "rssMaxMiB", "MiB"],
      ["VmHWM at end", "hwmEndMiB", "MiB"],
      ["  of VmRSS at end: RssAnon", "anonEndMiB", "MiB"],
      ["  of VmRSS at end: RssFile", "fileEndMiB", "MiB"],
      ["VmRSS after latency phase", "rssAfterLatencyMiB", "MiB"],
      ["CPU of one core", "cpuPct", "%"],
      ["/metrics p50", "p50Ms", "ms"],
      ["/metrics p99", "p99Ms", "ms"],
      ["/metrics max", "maxMs", "ms"],
      ["/metrics body (decoded)", "metricsBytes", "chars"],
    ];
    const ratios: Record<string, number> = {};
    const w = [32, 12, 14, 7];
    const line = (c: string[]): string => c.map((x, i) => (i === 0 ? x.padEnd(w[i] ?? 0) : x.padStart(w[i] ?? 0))).join("  ");
    console.log(`\n${line(["figure", "gala-gopher", "node_exporter", "ratio"])}`);
    for (const [label, k, unit] of rows) {
      const a = g[k] as number;
      const b = n[k] as number;
      ratios[k] = r2(a / b);
      console.log(line([`${label} (${unit})`, String(a), String(b), (a / b).toFixed(2)]));
    }
    console.log(`(CPU over ${wallS.toFixed(0)} s including ${g.scrapes}/${n.scrapes} periodic scrapes; scrape errors ${g.scrapeErrors}/${n.scrapeErrors})`);
    console.log(`(load average at start ${machine.loadavgStart}, at end of the duration ${machine.loadavgEnd})`);

    const checks = [
      { target: `RSS after the run <= ${TARGETS.rssMiB} MiB`, value: `${g.rssEndMiB} MiB`, ok: g.rssEndMiB <= TARGETS.rssMiB },
      { target: `CPU <= ${TARGETS.cpuPct} % of one core`, value: `${g.cpuPct} %`, ok: g.cpuPct <= TARGETS.cpuPct },
      { target: `/metrics p99 < ${TARGETS.p99Ms} ms`, value: `${g.p99Ms} ms`, ok: g.p99Ms < TARGETS.p99Ms },
      { target: `start to first data < ${TARGETS.startMs} ms`, value: `${g.startMs} ms`, ok: g.startMs < TARGETS.startMs },
      { target: "no failed periodic scrape", value: `${g.scrapeErrors} errors`, ok: g.scrapeErrors === 0 },
    ];
    console.log("\ntargets (gala-gopher):");
    for (const c of checks) console.log(`  ${c.ok ? "met   " : "MISSED"}  ${c.target}: ${c.value}`);
    const missed = checks.filter((c) => !c.ok);
    if (o.out) {
      writeFileSync(o.out, `${JSON.stringify({ date: new Date().toISOString(), durationS: r2(wallS), machine, results, ratios, targets: checks, rssTimeline: Object.fromEntries(targets.map((t) => [t.name, t.timeline])) })}\n`);
      console.log(`wrote ${o.out}`);
    }
    if (missed.length) console.log(`\n${missed.length} target(s) missed: ${missed.map((c) => c.target).join("; ")}`);
    return missed.length ? 1 : 0;
  } finally {
    await stopAll();
  }
}

process.exit(await main());

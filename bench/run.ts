// Benchmark: four processes side by side on loopback, in one run:
//   * foundation:   dist/gala-gopher with baseinfo cpu,mem, report_period 5 s;
//   * all-subitems: dist/gala-gopher with baseinfo cpu,mem,nic,net,disk,fs,proc,host,con,
//                   report_period 5 s, no scope (the whole host);
//   * floor:        bench/floor.ts (Bun + Hono serving one metric), compiled here with the
//                   agent's build options: the least memory any Bun agent can use;
//   * node_exporter: prometheus-node-exporter with its default collectors.
//   bun run bench [--duration SECONDS] [--quick] [--out FILE] [--agent-env KEY=VALUE]
// Measures start to first data, RSS (VmRSS/VmHWM every 10 s), CPU % of one core over the
// duration (with one scrape per 15 s each, as a Prometheus server would), then /metrics
// latency over 2,000 sequential GETs each. Exits 1 when a target is missed.
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DEFAULT_COMPILE_TARGET, SHARED_BUILD_OPTIONS } from "../scripts/build-options.ts";
import { agentFiles, cliArgs, DIST_BIN, freePort, ROOT, scrape, spawnAgent, tempDir, waitFor, which } from "../test/harness.ts";

const CLK_TCK = 100;
const RSS_EVERY_S = 10;
const SCRAPE_EVERY_S = 15;
const PROGRESS_EVERY_S = 30;
const LATENCY_GETS = 2000;
const REPORT_PERIOD_S = 5;
/** Extra starts of the cpu,mem configuration before the run (start, first data, stop): the median is reported. */
const START_SAMPLES = 5;
const FOUNDATION_SUBITEMS = ["cpu", "mem"];
const ALL_SUBITEMS = ["cpu", "mem", "nic", "net", "disk", "fs", "proc", "host", "con"];
const probesInit = (subitems: string[]): string =>
  `baseinfo ${JSON.stringify({ cmd: { probe: subitems }, params: { report_period: REPORT_PERIOD_S }, state: "running" })}\n`;
/**
 * Foundation targets: VmRSS above the floor's, RssAnon and CPU against node_exporter's
 * (issue 10), CPU, p99 and start-up; then the whole-host baseinfo targets.
 */
const TARGETS = {
  rssOverFloorMiB: 16,
  anonOverNe: 2,
  cpuOverNe: 2,
  cpuPct: 0.5,
  p99Ms: 5,
  startMs: 150,
  allCpuPct: 0.5,
  allExtraRssMiB: 3,
} as const;

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
      console.log("  --agent-env applies to both gala-gopher instances");
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
  /** Short key: foundation, all, node_exporter. */
  key: string;
  name: string;
  gala: boolean;
  port: number;
  pid: number;
  stop(): Promise<unknown>;
  startMs: number;
  mem: Mem[];
  timeline: Sample[];
  ticks0: number;
  scrapes: number;
  scrapeErrors: number;
  /** gala-gopher only: baseinfo's last collection (s), read at every periodic scrape. */
  collectS: number[];
  /** gala-gopher only: live rows per table, from the last periodic scrape. */
  rows: Record<string, number>;
}

async function firstData(port: number, series: string, t0: number, timeoutMs = 30_000): Promise<number> {
  await waitFor(`${series} on :${port}`, async () => ((await scrape(port)).includes(series) ? true : undefined), timeoutMs, 5);
  return performance.now() - t0;
}

function newTarget(key: string, name: string, gala: boolean, port: number, pid: number, stop: () => Promise<unknown>, startMs: number): Target {
  return { key, name, gala, port, pid, stop, startMs, mem: [], timeline: [], ticks0: 0, scrapes: 0, scrapeErrors: 0, collectS: [], rows: {} };
}

async function startGala(key: string, name: string, subitems: string[], env: Record<string, string>): Promise<Target> {
  const f = await agentFiles();
  writeFileSync(f.probesInit, probesInit(subitems));
  const t0 = performance.now();
  const c = spawnAgent(cliArgs(f), { env });
  let startMs: number;
  try {
    startMs = await firstData(f.metricsPort, "gala_gopher_mem_total_kB", t0);
  } catch (e) {
    await c.stop();
    throw new Error(`${name}: ${String(e)}\n${c.stderr()}`);
  }
  return newTarget(key, name, true, f.metricsPort, c.proc.pid, () => c.stop(), startMs);
}

/** Compiles bench/floor.ts with the agent's build options; returns the executable's path. */
async function buildFloor(): Promise<string> {
  const outfile = join(tempDir("gg-floor-"), "floor");
  const r = await Bun.build({ entrypoints: [join(ROOT, "bench", "floor.ts")], compile: { outfile, target: DEFAULT_COMPILE_TARGET }, ...SHARED_BUILD_OPTIONS });
  if (!r.success) throw new Error(`bench/floor.ts did not compile: ${r.logs.map(String).join("\n")}`);
  return outfile;
}

/** A plain child process serving /metrics on `port`, up when `series` shows. */
async function startPlain(key: string, cmd: string[], port: number, series: string): Promise<Target> {
  const t0 = performance.now();
  const proc = Bun.spawn(cmd, { stdout: "ignore", stderr: "ignore" });
  const stop = async (): Promise<number> => {
    proc.kill("SIGTERM");
    const t = setTimeout(() => proc.kill("SIGKILL"), 8000);
    const code = await proc.exited;
    clearTimeout(t);
    return code;
  };
  let startMs: number;
  try {
    startMs = await firstData(port, series, t0);
  } catch (e) {
    await stop();
    throw new Error(`${key}: ${String(e)}`);
  }
  return newTarget(key, key, false, port, proc.pid, stop, startMs);
}

async function startFloor(bin: string): Promise<Target> {
  const port = await freePort();
  return startPlain("floor", [bin, "--port", String(port)], port, "floor_start_time_seconds");
}

async function startNodeExporter(bin: string): Promise<Target> {
  const port = await freePort();
  return startPlain("node_exporter", [bin, `--web.listen-address=127.0.0.1:${port}`], port, "node_memory_MemTotal_bytes");
}

/** The agent's own gauges: baseinfo's last collection time and the live rows per table. */
function readAgentGauges(t: Target, body: string): void {
  const rows: Record<string, number> = {};
  for (const l of body.split("\n")) {
    if (l.startsWith('gala_gopher_agent_probe_collect_duration_seconds{probe="baseinfo"}')) {
      t.collectS.push(Number(l.slice(l.lastIndexOf(" ") + 1)));
    } else if (l.startsWith("gala_gopher_agent_series{")) {
      const m = /table="([^"]+)"\}\s+(\S+)/.exec(l);
      if (m?.[1]) rows[m[1]] = Number(m[2]);
    }
  }
  t.rows = rows;
}

async function periodicScrape(t: Target): Promise<void> {
  try {
    const body = await scrape(t.port);
    t.scrapes++;
    if (t.gala) readAgentGauges(t, body);
  } catch {
    t.scrapeErrors++;
  }
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (!s.length) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

interface Latency { p50: number; p99: number; max: number; bytes: number; samples: number }

async function latency(port: number, n: number): Promise<Latency> {
  const ms: number[] = [];
  let body = "";
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    body = await scrape(port);
    ms.push(performance.now() - t0);
  }
  ms.sort((a, b) => a - b);
  const samples = body.split("\n").filter((l) => l !== "" && !l.startsWith("#")).length;
  return { p50: pct(ms, 50), p99: pct(ms, 99), max: ms[ms.length - 1] ?? NaN, bytes: body.length, samples };
}

interface Result {
  key: string;
  name: string;
  startMs: number;
  rssStartMiB: number;
  rssEndMiB: number;
  rssMedianMiB: number;
  rssMaxMiB: number;
  hwmEndMiB: number;
  anonEndMiB: number;
  anonMedianMiB: number;
  fileEndMiB: number;
  rssAfterLatencyMiB: number;
  cpuPct: number;
  scrapes: number;
  scrapeErrors: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  metricsBytes: number;
  metricsSamples: number;
  /** gala-gopher: median of baseinfo's collection time over the periodic scrapes (ms). */
  collectMedianMs?: number;
  rows?: Record<string, number>;
}

const mib = (kib: number): number => kib / 1024;
const loadavg = (): string => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
const processCount = (): number => readdirSync("/proc").filter((n) => /^\d+$/.test(n)).length;
const r2 = (x: number): number => Math.round(x * 100) / 100;
const r3 = (x: number): number => Math.round(x * 1000) / 1000;
const ratio = (a: number, b: number): number => r2(a / b);

async function main(): Promise<number> {
  const o = parseArgs(Bun.argv.slice(2));
  if (!existsSync(DIST_BIN)) throw new Error(`${DIST_BIN} missing: run \`bun run build\` first`);
  const neBin = which("prometheus-node-exporter") ?? which("node_exporter");
  if (!neBin) throw new Error("prometheus-node-exporter not found: apt-get install -y prometheus-node-exporter");

  const version = (cmd: string[], lines: number): string => {
    const r = Bun.spawnSync(cmd, { cwd: ROOT });
    return `${r.stdout.toString()}${r.stderr.toString()}`.trim().split("\n").slice(0, lines).join(" ");
  };
  const neVersion = version([neBin, "--version"], 1);
  const floorBin = await buildFloor();
  const galaVersion = version([DIST_BIN, "--version"], 2);
  const machine = {
    nproc: navigator.hardwareConcurrency,
    kernel: Bun.spawnSync(["uname", "-r"]).stdout.toString().trim(),
    bun: Bun.version,
    cpu: /model name\s*:\s*(.*)/.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1] ?? "",
    memTotalMiB: Math.round(Number(/MemTotal:\s+(\d+)/.exec(readFileSync("/proc/meminfo", "utf8"))?.[1]) / 1024),
    galaVersion,
    gitHead: version(["git", "rev-parse", "--short", "HEAD"], 1),
    nodeExporter: neVersion,
    agentEnv: o.agentEnv,
    loadavgStart: loadavg(),
    loadavgEnd: "",
    processesStart: processCount(),
    processesEnd: 0,
  };
  console.log(`[bench] machine: ${machine.nproc} CPUs (${machine.cpu}), ${machine.memTotalMiB} MiB, kernel ${machine.kernel}, Bun ${machine.bun}`);
  console.log(`[bench] ${galaVersion} (git HEAD ${machine.gitHead}) | ${neVersion}${Object.entries(o.agentEnv).map(([k, v]) => ` | agent env ${k}=${v}`).join("")}`);
  console.log(`[bench] foundation: baseinfo ${FOUNDATION_SUBITEMS.join(",")}; all-subitems: baseinfo ${ALL_SUBITEMS.join(",")}; report_period ${REPORT_PERIOD_S} s, whole host`);
  console.log(`[bench] floor: bench/floor.ts compiled with the agent's build options ${JSON.stringify(SHARED_BUILD_OPTIONS)}, runtime ${DEFAULT_COMPILE_TARGET}`);
  console.log(`[bench] duration ${o.durationS} s; RSS every ${RSS_EVERY_S} s; one scrape per ${SCRAPE_EVERY_S} s each; then ${LATENCY_GETS} GETs each`);
  console.log(`[bench] load average ${machine.loadavgStart}; ${machine.processesStart} processes`);

  const targets: Target[] = [];
  const stopAll = async (): Promise<void> => {
    await Promise.all(targets.map((t) => t.stop().catch(() => undefined)));
  };
  process.on("SIGINT", () => void stopAll().then(() => process.exit(130)));
  try {
    // Started one after the other so that no start-up competes with another.
    targets.push(await startGala("foundation", "gala-gopher cpu,mem", FOUNDATION_SUBITEMS, o.agentEnv));
    targets.push(await startGala("all", "gala-gopher all subitems", ALL_SUBITEMS, o.agentEnv));
    targets.push(await startFloor(floorBin));
    targets.push(await startNodeExporter(neBin));
    for (const t of targets) console.log(`[bench] ${t.name} pid ${t.pid} on :${t.port}: first data after ${t.startMs.toFixed(1)} ms`);
    // One start on a shared machine is mostly its load at that moment: the cpu,mem
    // configuration is started START_SAMPLES more times, and the median of all is its figure.
    const foundation = targets[0] as Target;
    const starts = [foundation.startMs];
    for (let i = 0; i < START_SAMPLES; i++) {
      const t = await startGala("start-sample", "gala-gopher cpu,mem (start sample)", FOUNDATION_SUBITEMS, o.agentEnv);
      await t.stop();
      starts.push(t.startMs);
    }
    foundation.startMs = median(starts);
    console.log(`[bench] cpu,mem start to first data over ${starts.length} starts: ${starts.map((x) => x.toFixed(1)).join(", ")} ms; median ${foundation.startMs.toFixed(1)} ms (load ${loadavg()})`);

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
          return `${t.key} rss ${mib(t.mem[t.mem.length - 1]?.rssKiB ?? NaN).toFixed(1)} MiB cpu ${cpu.toFixed(3)} %`;
        });
        console.log(`[bench] ${s}/${o.durationS} s  ${parts.join("  |  ")}  (load ${loadavg()})`);
      }
    }
    const wallS = (performance.now() - t0) / 1000;
    const cpuPct = targets.map((t) => ((readTicks(t.pid) - t.ticks0) / CLK_TCK / wallS) * 100);
    for (const t of targets) sample(t, wallS * 1000);
    machine.loadavgEnd = loadavg();
    machine.processesEnd = processCount();

    console.log(`[bench] ${wallS.toFixed(0)} s done (load ${machine.loadavgEnd}, ${machine.processesEnd} processes); scrape latency: ${LATENCY_GETS} sequential GETs of /metrics each`);
    const results: Result[] = [];
    for (const [i, t] of targets.entries()) {
      const l = await latency(t.port, LATENCY_GETS);
      const rss = t.mem.map((m) => m.rssKiB);
      const last = t.mem[t.mem.length - 1] as Mem;
      results.push({
        key: t.key,
        name: t.name,
        startMs: r2(t.startMs),
        rssStartMiB: r2(mib(t.mem[0]?.rssKiB ?? NaN)),
        rssEndMiB: r2(mib(last.rssKiB)),
        rssMedianMiB: r2(mib(median(rss))),
        rssMaxMiB: r2(mib(Math.max(...rss))),
        hwmEndMiB: r2(mib(last.hwmKiB)),
        anonEndMiB: r2(mib(last.anonKiB)),
        anonMedianMiB: r2(mib(median(t.mem.map((m) => m.anonKiB)))),
        fileEndMiB: r2(mib(last.fileKiB)),
        rssAfterLatencyMiB: r2(mib(readMem(t.pid).rssKiB)),
        cpuPct: r3(cpuPct[i] ?? NaN),
        scrapes: t.scrapes,
        scrapeErrors: t.scrapeErrors,
        p50Ms: r3(l.p50),
        p99Ms: r3(l.p99),
        maxMs: r3(l.max),
        metricsBytes: l.bytes,
        metricsSamples: l.samples,
        ...(t.gala ? { collectMedianMs: r3(median(t.collectS) * 1000), rows: t.rows } : {}),
      });
    }
    await stopAll();

    const [f, a, fl, n] = results as [Result, Result, Result, Result];
    const rows: [string, keyof Result, string][] = [
      ["start to first data", "startMs", "ms"],
      ["VmRSS at start", "rssStartMiB", "MiB"],
      ["VmRSS at end", "rssEndMiB", "MiB"],
      ["VmRSS median (10 s samples)", "rssMedianMiB", "MiB"],
      ["VmRSS max (10 s samples)", "rssMaxMiB", "MiB"],
      ["VmHWM at end", "hwmEndMiB", "MiB"],
      ["  of VmRSS at end: RssAnon", "anonEndMiB", "MiB"],
      ["  RssAnon median (10 s samples)", "anonMedianMiB", "MiB"],
      ["  of VmRSS at end: RssFile", "fileEndMiB", "MiB"],
      ["VmRSS after latency phase", "rssAfterLatencyMiB", "MiB"],
      ["CPU of one core", "cpuPct", "%"],
      ["/metrics p50", "p50Ms", "ms"],
      ["/metrics p99", "p99Ms", "ms"],
      ["/metrics max", "maxMs", "ms"],
      ["/metrics body (decoded)", "metricsBytes", "chars"],
      ["/metrics samples", "metricsSamples", "lines"],
    ];
    const ratios: Record<string, { allOverFoundation: number; foundationOverNe: number; allOverNe: number; foundationMinusFloor: number }> = {};
    const w = [32, 11, 11, 9, 13, 10, 9, 9, 9];
    const line = (c: string[]): string => c.map((x, i) => (i === 0 ? x.padEnd(w[i] ?? 0) : x.padStart(w[i] ?? 0))).join("  ");
    console.log(`\n${line(["figure", "cpu,mem", "all", "floor", "node_exporter", "c+m−floor", "all/c+m", "c+m/NE", "all/NE"])}`);
    for (const [label, k, unit] of rows) {
      const [fv, av, flv, nv] = [f[k], a[k], fl[k], n[k]] as [number, number, number, number];
      ratios[k] = { allOverFoundation: ratio(av, fv), foundationOverNe: ratio(fv, nv), allOverNe: ratio(av, nv), foundationMinusFloor: r3(fv - flv) };
      console.log(
        line([`${label} (${unit})`, String(fv), String(av), String(flv), String(nv), String(r3(fv - flv)), (av / fv).toFixed(2), (fv / nv).toFixed(2), (av / nv).toFixed(2)]),
      );
    }
    console.log(line(["baseinfo collection, median (ms)", String(f.collectMedianMs), String(a.collectMedianMs), "", "", "", "", "", ""]));
    const extraEnd = r2(a.rssEndMiB - f.rssEndMiB);
    const extraMedian = r2(a.rssMedianMiB - f.rssMedianMiB);
    const extraAnonMedian = r2(a.anonMedianMiB - f.anonMedianMiB);
    const extraCpu = r3(a.cpuPct - f.cpuPct);
    console.log(`\nall-subitems − cpu,mem: VmRSS at end ${extraEnd} MiB, median ${extraMedian} MiB (RssAnon median ${extraAnonMedian} MiB); CPU ${extraCpu} % of one core`);
    console.log(`live rows of the all-subitems agent (last periodic scrape): ${Object.entries(a.rows ?? {}).map(([k, v]) => `${k} ${v}`).join(", ")}`);
    console.log(
      `(CPU over ${wallS.toFixed(0)} s including ${f.scrapes}/${a.scrapes}/${fl.scrapes}/${n.scrapes} periodic scrapes; scrape errors ${f.scrapeErrors}/${a.scrapeErrors}/${fl.scrapeErrors}/${n.scrapeErrors})`,
    );
    console.log(`(load average at start ${machine.loadavgStart}, at end of the duration ${machine.loadavgEnd}; processes ${machine.processesStart} → ${machine.processesEnd})`);

    const checks = [
      {
        who: "cpu,mem",
        target: `VmRSS at end − floor's <= ${TARGETS.rssOverFloorMiB} MiB`,
        value: `${r2(f.rssEndMiB - fl.rssEndMiB)} MiB (${f.rssEndMiB} − ${fl.rssEndMiB})`,
        ok: f.rssEndMiB - fl.rssEndMiB <= TARGETS.rssOverFloorMiB,
      },
      {
        who: "cpu,mem",
        target: `RssAnon at end <= ${TARGETS.anonOverNe} × node_exporter's`,
        value: `${f.anonEndMiB} MiB vs ${n.anonEndMiB} MiB (× ${ratio(f.anonEndMiB, n.anonEndMiB)})`,
        ok: f.anonEndMiB <= TARGETS.anonOverNe * n.anonEndMiB,
      },
      {
        who: "cpu,mem",
        target: `CPU <= ${TARGETS.cpuOverNe} × node_exporter's`,
        value: `${f.cpuPct} % vs ${n.cpuPct} % (× ${ratio(f.cpuPct, n.cpuPct)})`,
        ok: f.cpuPct <= TARGETS.cpuOverNe * n.cpuPct,
      },
      { who: "cpu,mem", target: `CPU <= ${TARGETS.cpuPct} % of one core`, value: `${f.cpuPct} %`, ok: f.cpuPct <= TARGETS.cpuPct },
      { who: "cpu,mem", target: `/metrics p99 < ${TARGETS.p99Ms} ms`, value: `${f.p99Ms} ms`, ok: f.p99Ms < TARGETS.p99Ms },
      { who: "cpu,mem", target: `start to first data <= ${TARGETS.startMs} ms (median of ${START_SAMPLES + 1} starts)`, value: `${f.startMs} ms`, ok: f.startMs <= TARGETS.startMs },
      { who: "cpu,mem", target: "no failed periodic scrape", value: `${f.scrapeErrors} errors`, ok: f.scrapeErrors === 0 },
      { who: "all", target: `CPU <= ${TARGETS.allCpuPct} % of one core`, value: `${a.cpuPct} %`, ok: a.cpuPct <= TARGETS.allCpuPct },
      {
        who: "all",
        target: `VmRSS at end − cpu,mem's <= ${TARGETS.allExtraRssMiB} MiB`,
        value: `${extraEnd} MiB (medians: ${extraMedian} MiB)`,
        ok: extraEnd <= TARGETS.allExtraRssMiB,
      },
      { who: "all", target: "no failed periodic scrape", value: `${a.scrapeErrors} errors`, ok: a.scrapeErrors === 0 },
    ];
    console.log("\ntargets:");
    for (const c of checks) console.log(`  ${c.ok ? "met   " : "MISSED"}  [${c.who}] ${c.target}: ${c.value}`);
    const missed = checks.filter((c) => !c.ok);
    if (o.out) {
      writeFileSync(
        o.out,
        `${JSON.stringify({
          date: new Date().toISOString(),
          durationS: r2(wallS),
          machine,
          configs: { foundation: FOUNDATION_SUBITEMS, all: ALL_SUBITEMS, reportPeriodS: REPORT_PERIOD_S },
          results,
          ratios,
          extra: { rssEndMiB: extraEnd, rssMedianMiB: extraMedian, anonMedianMiB: extraAnonMedian, cpuPct: extraCpu },
          targets: checks,
          rssTimeline: Object.fromEntries(targets.map((t) => [t.key, t.timeline])),
          collectSeconds: Object.fromEntries(targets.filter((t) => t.gala).map((t) => [t.key, t.collectS])),
        })}\n`,
      );
      console.log(`wrote ${o.out}`);
    }
    if (missed.length) console.log(`\n${missed.length} target(s) missed: ${missed.map((c) => `[${c.who}] ${c.target}`).join("; ")}`);
    return missed.length ? 1 : 0;
  } finally {
    await stopAll();
  }
}

process.exit(await main());

// What the baseline x64 runtime costs beside Bun's default x64 runtime, in one run:
// builds dist/gala-gopher twice (scripts/build.ts --target bun-linux-x64-baseline and
// --target bun-linux-x64) into a temp dir, then, alternating the two executables round
// by round, measures
//   * `--version`: spawn to exit;
//   * start to first data: spawn to the first /metrics holding gala_gopher_mem_* (baseinfo
//     cpu,mem from probes.init, report_period 5 s);
//   * VmRSS and RssAnon 3 s after the first data;
//   * CPU (utime + stime of the agent) over a loop of sequential scrapes of /metrics;
// and prints the medians side by side with the ratio baseline / default. It also says how
// much of the two executables is the same bytes (the runtime comes first, the program is
// appended to it).
//   bun run bench/baseline.ts [--rounds N (5)] [--scrapes N (2000)]
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { agentFiles, cliArgs, ROOT, rmrf, scrape, tempDir, waitFor } from "../test/harness.ts";

const CLK_TCK_MS = 10;
const SETTLE_MS = 3000;
const VARIANTS = [
  { name: "default", target: "bun-linux-x64" },
  { name: "baseline", target: "bun-linux-x64-baseline" },
] as const;
type VariantName = (typeof VARIANTS)[number]["name"];

class BenchArgumentError extends Error {
  readonly code = "BENCH_ARGUMENT";
}

function parseArgs(argv: string[]): { rounds: number; scrapes: number } {
  const o = { rounds: 5, scrapes: 2000 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--rounds" || a === "--scrapes") {
      const n = Number(argv[++i]);
      if (!Number.isInteger(n) || n < 1) throw new BenchArgumentError(`${a} needs a whole number above 0, not '${argv[i] ?? ""}'`);
      o[a === "--rounds" ? "rounds" : "scrapes"] = n;
    } else throw new BenchArgumentError(`unknown argument '${a}' (usage: bun run bench/baseline.ts [--rounds N] [--scrapes N])`);
  }
  return o;
}

interface Round {
  versionMs: number;
  startMs: number;
  rssMiB: number;
  anonMiB: number;
  cpuMsPer1000: number;
}

function statusKiB(pid: number, key: string): number {
  const m = new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!m) throw new Error(`/proc/${pid}/status has no ${key}`);
  return Number(m[1]);
}

function cpuTicks(pid: number): number {
  const s = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
  return Number(f[11]) + Number(f[12]);
}

async function versionMs(bin: string): Promise<number> {
  const t0 = performance.now();
  const p = Bun.spawn([bin, "--version"], { stdout: "pipe", stderr: "pipe" });
  const [out, code] = await Promise.all([new Response(p.stdout).text(), p.exited]);
  if (code !== 0 || !out.startsWith("gala-gopher ")) throw new Error(`${bin} --version: exit ${code}, '${out.trim()}'`);
  return performance.now() - t0;
}

async function measure(bin: string, scrapes: number): Promise<Round> {
  const version = await versionMs(bin);
  const files = await agentFiles();
  await Bun.write(files.probesInit, `baseinfo ${JSON.stringify({ cmd: { probe: ["cpu", "mem"] }, params: { report_period: 5 }, state: "running" })}\n`);
  const t0 = performance.now();
  const agent = Bun.spawn([bin, ...cliArgs(files)], { env: { ...process.env, GOPHER_LOG_STDERR: "0" }, stdout: "ignore", stderr: "ignore" });
  try {
    await waitFor("first data", async () => (await scrape(files.metricsPort)).includes("\ngala_gopher_mem_") || undefined, 30_000, 5);
    const startMs = performance.now() - t0;
    await Bun.sleep(SETTLE_MS);
    const rssMiB = statusKiB(agent.pid, "VmRSS") / 1024;
    const anonMiB = statusKiB(agent.pid, "RssAnon") / 1024;
    const ticks0 = cpuTicks(agent.pid);
    for (let i = 0; i < scrapes; i++) await scrape(files.metricsPort);
    const cpuMsPer1000 = ((cpuTicks(agent.pid) - ticks0) * CLK_TCK_MS * 1000) / scrapes;
    return { versionMs: version, startMs, rssMiB, anonMiB, cpuMsPer1000 };
  } finally {
    agent.kill("SIGTERM");
    await agent.exited;
    rmrf(files.dir);
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function commonPrefix(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}

async function main(): Promise<void> {
  if (process.arch !== "x64") {
    console.log(`bench/baseline.ts compares the two x64 runtimes; this is ${process.arch}: nothing to compare`);
    return;
  }
  const o = parseArgs(process.argv.slice(2));
  const dir = tempDir("gg-bench-baseline-");
  try {
    const bins = {} as Record<VariantName, string>;
    for (const v of VARIANTS) {
      bins[v.name] = join(dir, `gala-gopher-${v.name}`);
      const b = Bun.spawnSync([process.execPath, "run", join(ROOT, "scripts", "build.ts"), "--target", v.target, "--outfile", bins[v.name]], { stdout: "pipe", stderr: "pipe" });
      if (b.exitCode !== 0) throw new Error(`build --target ${v.target} failed:\n${b.stderr.toString()}${b.stdout.toString()}`);
      console.log(b.stdout.toString().trim().split("\n").pop());
    }
    const a = new Uint8Array(await Bun.file(bins.default).arrayBuffer());
    const b = new Uint8Array(await Bun.file(bins.baseline).arrayBuffer());
    const same = commonPrefix(a, b);
    console.log(`executables: default ${a.length} B, baseline ${b.length} B; the first ${same} B (${((100 * same) / Math.max(a.length, b.length)).toFixed(2)} %) are the same bytes`);

    const rounds: Record<VariantName, Round[]> = { default: [], baseline: [] };
    for (let r = 0; r < o.rounds; r++) {
      // Alternate which one goes first, so that drift on a shared machine hits both alike.
      const order = r % 2 ? [...VARIANTS].reverse() : VARIANTS;
      for (const v of order) rounds[v.name].push(await measure(bins[v.name], o.scrapes));
      console.log(`round ${r + 1}/${o.rounds} done`);
    }
    const rows: [string, keyof Round, number][] = [
      ["--version, spawn to exit (ms)", "versionMs", 1],
      ["start to first data (ms)", "startMs", 0],
      ["VmRSS after first data (MiB)", "rssMiB", 1],
      ["RssAnon after first data (MiB)", "anonMiB", 1],
      [`CPU per 1000 scrapes (ms), ${o.scrapes} scrapes`, "cpuMsPer1000", 0],
    ];
    console.log(`\nmedians of ${o.rounds} rounds each, same run, alternating:`);
    console.log(`| measure | default (bun-linux-x64) | baseline (bun-linux-x64-baseline) | baseline / default |`);
    console.log(`|---|---:|---:|---:|`);
    for (const [label, key, digits] of rows) {
      const d = median(rounds.default.map((x) => x[key]));
      const bl = median(rounds.baseline.map((x) => x[key]));
      console.log(`| ${label} | ${d.toFixed(digits)} | ${bl.toFixed(digits)} | ${(bl / d).toFixed(2)} |`);
    }
  } finally {
    rmrf(dir);
  }
}

try {
  await main();
} catch (e) {
  console.error(`bench/baseline.ts: ${(e as Error).message}`);
  process.exit(e instanceof BenchArgumentError ? 2 : 1);
}

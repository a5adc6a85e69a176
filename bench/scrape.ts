// Benchmark: a /metrics scrape flood against the compiled agent.
//   bun run bench/scrape.ts [--bin PATH (dist/gala-gopher)] [--duration SECONDS (60)]
//                           [--concurrency N (50)] [--out FILE.json]
// The agent runs baseinfo cpu,mem,nic,net,disk,fs,proc,host over the whole host with
// report_period 5 s (its minimum) and --save-probes. While `ab -c N` scrapes /metrics (gzip accepted,
// as Prometheus asks) for the duration, a Bun client measures:
//   * REST latency: GET /baseinfo every 250 ms (p50, p99, max);
//   * probe freshness: the longest time the gala_gopher_cpu_* sample lines did not change
//     (one scrape per 250 ms, retried on 503);
// then SIGTERM while the flood still runs: time to exit and whether --save-probes rewrote
// probes.init.
// ab's figures: successful scrapes per second, 503 answers.
import { readFileSync, writeFileSync } from "node:fs";
import { agentFiles, cliArgs, DIST_BIN, rmrf, waitFor, which } from "../test/harness.ts";

interface Opts { bin: string; durationS: number; concurrency: number; out?: string }

function parseArgs(argv: string[]): Opts {
  const o: Opts = { bin: DIST_BIN, durationS: 60, concurrency: 50 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === "--bin") o.bin = next();
    else if (a === "--duration") o.durationS = Number(next());
    else if (a === "--concurrency") o.concurrency = Number(next());
    else if (a === "--out") o.out = next();
    else throw new Error(`unknown argument ${a}; usage: bun run bench/scrape.ts [--bin PATH] [--duration S] [--concurrency N] [--out FILE]`);
  }
  if (!(o.durationS > 0)) throw new Error("--duration needs a positive number of seconds");
  if (!(o.concurrency >= 1)) throw new Error("--concurrency needs a positive number");
  return o;
}

/** The agent binary under test (a copy of an older build measures the "before" figure). */
function spawnBin(bin: string, args: string[]) {
  const proc = Bun.spawn([bin, ...args], { env: { ...process.env, GOPHER_LOG_STDERR: "0" }, stdout: "ignore", stderr: "ignore" });
  return {
    proc,
    async stop(): Promise<number> {
      proc.kill("SIGTERM");
      const t = setTimeout(() => proc.kill("SIGKILL"), 30_000);
      const code = await proc.exited;
      clearTimeout(t);
      return code;
    },
  };
}

const SUBITEMS = ["cpu", "mem", "nic", "net", "disk", "fs", "proc", "host"];
const REST_EVERY_MS = 250;

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;
}

/** The lines ab prints that the report needs. */
function parseAb(out: string): { complete: number; non2xx: number; failed: number; rps: number } {
  const num = (re: RegExp): number => Number(re.exec(out)?.[1] ?? 0);
  return {
    complete: num(/Complete requests:\s+(\d+)/),
    non2xx: num(/Non-2xx responses:\s+(\d+)/),
    failed: num(/Failed requests:\s+(\d+)/),
    rps: num(/Requests per second:\s+([\d.]+)/),
  };
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const ab = which("ab");
  if (!ab) throw new Error("ab not found (apt-get install apache2-utils)");
  const f = await agentFiles();
  writeFileSync(f.probesInit, `baseinfo ${JSON.stringify({ cmd: { probe: SUBITEMS }, params: { report_period: 5 }, state: "running" })}\n`);
  const agent = spawnBin(o.bin, [...cliArgs(f), "--save-probes"]);
  const metrics = `http://127.0.0.1:${f.metricsPort}/metrics`;
  const rest = `http://127.0.0.1:${f.restPort}/baseinfo`;
  try {
    await waitFor("first cpu sample", async () => (await (await fetch(metrics)).text()).includes("gala_gopher_cpu_"), 30_000, 50);
    const started = performance.now();
    const flood = Bun.spawn([ab, "-q", "-r", "-c", String(o.concurrency), "-t", String(o.durationS + 60), "-n", "100000000", "-H", "Accept-Encoding: gzip", metrics], {
      stdout: "pipe",
      stderr: "pipe",
    });
    const restMs: number[] = [];
    let restErrors = 0;
    let lastCpu = "";
    let lastChange = performance.now();
    let longestStaleMs = 0;
    let freshScrapes = 0;
    let freshFailed = 0;
    const end = started + o.durationS * 1000;
    const restLoop = (async () => {
      while (performance.now() < end) {
        const t0 = performance.now();
        try {
          const r = await fetch(rest, { signal: AbortSignal.timeout(10_000) });
          await r.text();
          if (r.status !== 200) restErrors++;
        } catch {
          restErrors++;
        }
        restMs.push(performance.now() - t0);
        await Bun.sleep(Math.max(0, REST_EVERY_MS - (performance.now() - t0)));
      }
    })();
    const freshLoop = (async () => {
      while (performance.now() < end) {
        const r = await fetch(metrics, { signal: AbortSignal.timeout(10_000) }).catch(() => undefined);
        if (r?.status === 200) {
          freshScrapes++;
          const cpu = (await r.text())
            .split("\n")
            .filter((l) => l.startsWith("gala_gopher_cpu_"))
            .join("\n");
          const now = performance.now();
          if (cpu !== lastCpu) {
            if (lastCpu) longestStaleMs = Math.max(longestStaleMs, now - lastChange);
            lastCpu = cpu;
            lastChange = now;
          }
        } else {
          await r?.text();
          freshFailed++;
        }
        await Bun.sleep(250);
      }
      longestStaleMs = Math.max(longestStaleMs, Math.min(end, performance.now()) - lastChange);
    })();
    await Promise.all([restLoop, freshLoop]);
    // SIGTERM while the flood still runs; ab then ends on its own (connections refused).
    const t0 = performance.now();
    const code = await agent.stop();
    const stopMs = performance.now() - t0;
    flood.kill("SIGINT"); // ab prints its summary on SIGINT
    const abOut = await new Response(flood.stdout).text();
    await flood.exited;
    const abRes = parseAb(abOut);
    const floodS = (t0 - started) / 1000;
    const saved = readFileSync(f.probesInit, "utf8").startsWith("# written by gala-gopher --save-probes");
    restMs.sort((a, b) => a - b);
    const result = {
      bin: o.bin,
      durationS: o.durationS,
      concurrency: o.concurrency,
      scrapesPerS: Math.round(((abRes.complete - abRes.non2xx) / floodS) * 10) / 10,
      abRequestsPerS: abRes.rps,
      answered503: abRes.non2xx,
      abFailed: abRes.failed,
      restRequests: restMs.length,
      restErrors,
      restP50Ms: Math.round(pct(restMs, 50) * 10) / 10,
      restP99Ms: Math.round(pct(restMs, 99) * 10) / 10,
      restMaxMs: Math.round(pct(restMs, 100) * 10) / 10,
      longestStaleCpuS: Math.round(longestStaleMs / 100) / 10,
      freshScrapes,
      freshFailed,
      sigtermExitMs: Math.round(stopMs),
      exitCode: code,
      savedProbes: saved,
    };
    console.log(JSON.stringify(result, null, 2));
    if (o.out) writeFileSync(o.out, JSON.stringify(result, null, 2) + "\n");
  } finally {
    if (agent.proc.exitCode === null) await agent.stop();
    rmrf(f.dir);
  }
}

await main();

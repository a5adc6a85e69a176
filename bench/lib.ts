// What the probe benchmarks share: a process's CPU time and memory from /proc, the median,
// pinning to one CPU, a redis-server and a redis-benchmark run with its CPU time per
// request, the agent binary built and the agent started with given probes.
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { agentFiles, cliArgs, DIST_BIN, hasDist, ROOT, rmrf, scrape, spawnAgent, waitFor, which, type AgentFiles, type Child } from "../test/harness.ts";

/** USER_HZ: the unit of /proc/<pid>/stat's times. */
export const CLK_TCK = 100;

/** utime + stime of a process, clock ticks. */
export function cpuTicks(pid: number): number {
  const s = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
  return Number(f[11]) + Number(f[12]);
}

/** Resident set size now and at its peak, MiB (NaN when /proc/<pid>/status lacks the line). */
export function memMiB(pid: number): { rssMiB: number; hwmMiB: number } {
  const s = readFileSync(`/proc/${pid}/status`, "utf8");
  const kib = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, "m").exec(s)?.[1] ?? NaN);
  return { rssMiB: kib("VmRSS") / 1024, hwmMiB: kib("VmHWM") / 1024 };
}

/** The median; of an even count, the mean of the middle two. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export const cpus = () => Number(Bun.spawnSync(["nproc"]).stdout.toString().trim()) || 1;

/** Pins to one CPU when there are at least two (redis-server on 0, the load on 1). */
export const pin = (cpu: number, cmd: string[]) => (cpus() >= 2 && which("taskset") ? ["taskset", "-c", String(cpu), ...cmd] : cmd);

/**
 * One redis-benchmark run (GET and SET, `requests` each, `clients` connections) against
 * the redis-server on `port`: the mean requests/s of the two and the CPU µs per request of
 * the server (`serverPid`; 0 leaves it out) and the client together.
 */
export function redisBenchmark(o: { port: number; serverPid: number; requests: number; clients: number; onCpu?: number }): { rps: number; cpuUsPerReq: number } {
  const before = o.serverPid ? cpuTicks(o.serverPid) : 0;
  const cmd = ["redis-benchmark", "-p", String(o.port), "-t", "get,set", "-n", String(o.requests), "-c", String(o.clients), "-q", "--csv"];
  const r = Bun.spawnSync(o.onCpu === undefined ? cmd : pin(o.onCpu, cmd), { stdout: "pipe", stderr: "pipe" });
  const rps = r.stdout
    .toString()
    .split("\n")
    .filter((l) => /^"(GET|SET)"/.test(l))
    .map((l) => Number(l.split(",")[1]!.replaceAll('"', "")));
  if (rps.length === 0) throw new Error(`redis-benchmark failed: ${r.stderr.toString()}${r.stdout.toString()}`);
  const serverUs = o.serverPid ? ((cpuTicks(o.serverPid) - before) / CLK_TCK) * 1e6 : 0;
  const clientUs = Number(r.resourceUsage?.cpuTime.total ?? 0);
  return { rps: rps.reduce((a, b) => a + b, 0) / rps.length, cpuUsPerReq: (serverUs + clientUs) / (o.requests * rps.length) };
}

/** The value after the flag argv[i], which must be a positive number. */
function positiveArg(argv: string[], i: number): number {
  const v = Number(argv[i + 1]);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`${argv[i]} needs a positive number`);
  return v;
}

type NumberKey<T> = { [K in keyof T]: T[K] extends number ? K : never }[keyof T];

/**
 * Parses a bench's command line into `o` (its defaults): each of `numbers` is a flag followed
 * by a positive number for that option, each of `switches` a flag without a value; `--out
 * FILE` sets where the results go; `-h`/`--help` prints `usage` and exits. Anything else is an
 * error naming the argument.
 */
export function parseBenchArgs<T extends { out: string }>(
  argv: string[],
  o: T,
  flags: { numbers: Record<string, NumberKey<T>>; switches?: Record<string, (o: T) => void> },
  usage: string,
): T {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const key = Object.hasOwn(flags.numbers, a) ? flags.numbers[a] : undefined;
    const flip = flags.switches && Object.hasOwn(flags.switches, a) ? flags.switches[a] : undefined;
    if (key !== undefined) (o as Record<NumberKey<T>, number>)[key] = positiveArg(argv, i++);
    else if (flip) flip(o);
    else if (a === "--out") o.out = argv[++i] ?? o.out;
    else if (a === "-h" || a === "--help") {
      console.log(`usage: ${usage}`);
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  return o;
}

/** Builds dist/gala-gopher when missing or older than the newest file directly in `sourceDirs` (relative to the repository). */
export function ensureDist(sourceDirs: string[] = []): void {
  const newest = Math.max(0, ...sourceDirs.flatMap((d) => readdirSync(join(ROOT, d)).map((f) => statSync(join(ROOT, d, f)).mtimeMs)));
  if (!hasDist() || statSync(DIST_BIN).mtimeMs < newest) {
    const r = Bun.spawnSync([process.execPath, "run", join(ROOT, "scripts", "build.ts")], { cwd: ROOT, stdout: "inherit", stderr: "inherit" });
    if (r.exitCode !== 0) throw new Error("build failed");
  }
}

/** A redis-server on 127.0.0.1:`port` without persistence (pinned to `onCpu` when given), once it answers PING. */
export async function startRedis(port: number, onCpu?: number): Promise<Bun.Subprocess> {
  const cmd = ["redis-server", "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--protected-mode", "no"];
  const redis = Bun.spawn(onCpu === undefined ? cmd : pin(onCpu, cmd), { stdout: "ignore", stderr: "ignore" });
  try {
    await waitFor("redis-server", () => Bun.spawnSync(["redis-cli", "-p", String(port), "ping"]).stdout.toString().includes("PONG") || undefined, 10_000, 100);
  } catch (e) {
    redis.kill();
    throw e;
  }
  return redis;
}

export interface BenchAgent {
  child: Child;
  pid: number;
  files: AgentFiles;
  /** Stops the agent and removes its files. */
  stop(): Promise<void>;
}

/**
 * Starts dist/gala-gopher with the probes.init `lines`; waits until `probe` reports running
 * (undefined: until the agent serves its metrics), then `settleS` more seconds, so start-up
 * work (feature probes, BPF load, first collection) is over.
 */
export async function startBenchAgent(lines: string[], probe: string | undefined, settleS: number): Promise<BenchAgent> {
  const files = await agentFiles();
  if (lines.length) writeFileSync(files.probesInit, `${lines.join("\n")}\n`);
  const child = spawnAgent(cliArgs(files), { env: { GOPHER_LOG_STDERR: "0" } });
  const ready = probe === undefined ? "gala_gopher_agent_" : `gala_gopher_agent_probe_state{probe="${probe}",state="running"} 1`;
  await waitFor(probe === undefined ? "agent up" : `${probe} probe running`, async () => (await scrape(files.metricsPort)).includes(ready) || undefined, 30_000, 100);
  await Bun.sleep(settleS * 1000);
  return {
    child,
    pid: child.proc.pid,
    files,
    async stop() {
      await child.stop();
      rmrf(files.dir);
    },
  };
}

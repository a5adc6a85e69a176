// What the probe benchmarks share: a process's CPU time and memory from /proc, the median,
// pinning to one CPU, and a redis-benchmark run with its CPU time per request.
import { readFileSync } from "node:fs";
import { which } from "../test/harness.ts";

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
export function positiveArg(argv: string[], i: number): number {
  const v = Number(argv[i + 1]);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`${argv[i]} needs a positive number`);
  return v;
}

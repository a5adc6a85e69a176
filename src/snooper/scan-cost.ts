// Measures the snooper's scan cost on this machine's /proc with N extra processes:
//   bun src/snooper/scan-cost.ts [N=300] [seconds=15]
// The snooper runs on its own 1 s timer (so caches are as cold as in production), first
// with a steady process set, then with churn (5 processes start and 5 exit every second).
// Scans run once a second, so the mean scan cost in µs is also the CPU cost in µs/s.
import { HostFs, DEFAULT_HOST_PATHS } from "../host/fs.ts";
import type { Logger } from "../log/logger.ts";
import { emptyScope } from "../probe/settings.ts";
import { createSnooper } from "./snooper.ts";

export interface ScanCost {
  processes: number;
  steadyScans: number;
  /** Mean wall-clock time of one scan (includes time the host preempted us). */
  steadyMeanUs: number;
  /** Mean CPU time (user + system) of one scan. */
  steadyCpuUs: number;
  churnScans: number;
  churnMeanUs: number;
  churnCpuUs: number;
}

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => quiet };
const sleeper = () => Bun.spawn(["sleep", "600"], { stdout: "ignore", stderr: "ignore" });

export async function measureScanCost(extra = 300, seconds = 15): Promise<ScanCost> {
  const kids = Array.from({ length: extra }, sleeper);
  const s = createSnooper({ host: new HostFs(DEFAULT_HOST_PATHS), log: quiet, selfPid: process.pid, intervalMs: 1000 });
  try {
    await Bun.sleep(300);
    const scope = s.scopeFactory("baseinfo", {
      name: "baseinfo",
      subitems: ["proc"],
      mode: "whitelist",
      scope: { ...emptyScope(), proc_name: [{ comm: "^ggnothing$", cmdline: "" }] },
      customLabels: {},
      podLabels: [],
      params: {},
      wanted: true,
    });
    await Bun.sleep(4_000); // past the young-process window
    const a = s.stats();
    await Bun.sleep(seconds * 1000);
    const b = s.stats();
    const live = [...kids];
    const churnEnd = Date.now() + seconds * 1000;
    while (Date.now() < churnEnd) {
      for (let k = 0; k < 5; k++) live.shift()?.kill();
      for (let k = 0; k < 5; k++) {
        const c = sleeper();
        live.push(c);
        kids.push(c);
      }
      await Bun.sleep(1000);
    }
    const c = s.stats();
    scope[Symbol.dispose]();
    return {
      processes: b.processes,
      steadyScans: b.scans - a.scans,
      steadyMeanUs: Math.round(((b.scanMs - a.scanMs) / Math.max(1, b.scans - a.scans)) * 1000),
      steadyCpuUs: Math.round(((b.scanCpuMs - a.scanCpuMs) / Math.max(1, b.scans - a.scans)) * 1000),
      churnScans: c.scans - b.scans,
      churnMeanUs: Math.round(((c.scanMs - b.scanMs) / Math.max(1, c.scans - b.scans)) * 1000),
      churnCpuUs: Math.round(((c.scanCpuMs - b.scanCpuMs) / Math.max(1, c.scans - b.scans)) * 1000),
    };
  } finally {
    s.close();
    for (const k of kids) k.kill();
  }
}

if (import.meta.main) {
  const n = Number(process.argv[2] ?? 300);
  const seconds = Number(process.argv[3] ?? 15);
  console.log(JSON.stringify(await measureScanCost(n, seconds)));
}

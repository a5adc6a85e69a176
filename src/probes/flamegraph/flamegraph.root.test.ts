// The flamegraph probe against the kernel (root): a frame-pointer program spending ~95 % of
// its CPU in hot_leaf (through hot_caller) puts ≥ 75 % of its oncpu samples on exactly
// main → hot_caller → hot_leaf in the folded file, and the SVG names hot_leaf; a process
// sleeping 100 ms in a loop has ≈ all its off-CPU time under nanosleep. Skipped with the
// reason when not root or when the kernel cannot run the probe.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { detectFeatures } from "../../host/features.ts";
import { FlameRun } from "./index.ts";
import { hasPageFaultTracepoint } from "./kernel.ts";
import { parseFolded } from "./folded.ts";
import { compileFixture, flameContext, ListScope, rootPreflight } from "./test-kit.ts";

const go = Bun.spawnSync(["sh", "-c", "command -v go"]).stdout.toString().trim();
if (!go) console.warn("flamegraph.root.test: the go tool pprof test is skipped: no `go` on PATH");
const can = rootPreflight("flamegraph.root.test", (f) => (f.attach.perf_event.ok ? undefined : `perf_event programs unavailable: ${f.attach.perf_event.reason}`));
const mem = can && hasPageFaultTracepoint(detectFeatures());
if (can && !mem) console.warn("flamegraph.root.test: the mem test is skipped: no exceptions:page_fault_user tracepoint");
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "gg-flame-out-"));
  dirs.push(d);
  return d;
}

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) e.isDirectory() ? walk(join(d, e.name)) : out.push(join(d, e.name));
  };
  walk(dir);
  return out.sort();
}

/** CPU time of a live single-threaded process in units of 10 ms (its scheduler runtime, /proc/<pid>/schedstat). */
function cpuTicks(pid: number): number {
  return Number(readFileSync(`/proc/${pid}/schedstat`, "utf8").split(" ")[0]) / 10_000_000;
}

/**
 * Profiles `exe` for `seconds`, read while it still runs (an exited process's maps are
 * gone): through collect() once svg_period (1 s here) has passed, or through the stop.
 */
async function profile(subitems: string[], exe: string, seconds: number, via: "collect" | "stop") {
  const out = tempDir();
  const flame = tempDir();
  const child = Bun.spawn([exe, String(seconds + 0.5)], { stdout: "pipe" });
  let ticks = 0;
  const ctx = flameContext({ subitems, scope: new ListScope(new Set([child.pid])), params: { output_dir: out, flame_dir: flame, perf_sample_period: 10, svg_period: 1 } });
  try {
    const run = new FlameRun(ctx);
    const ticks0 = cpuTicks(child.pid); // runtime before sampling started is not sampled
    try {
      await Bun.sleep(seconds * 1000);
      ticks = cpuTicks(child.pid) - ticks0;
      if (via === "collect") {
        await run.collect();
        expect(run.lastFiles.length).toBe(3);
        child.kill();
        await Bun.sleep(1100); // what the stop writes lands in the next second's files
      }
    } finally {
      await run[Symbol.asyncDispose]();
    }
    if (via === "stop") await child.exited; // it prints its own count when done
  } finally {
    child.kill();
    ctx.kit.close();
  }
  return { pid: child.pid, out, flame, ctx, ticks, stdout: child.stdout, drops: JSON.stringify(ctx.kit.dropCounts.snapshot()) };
}

describe("flamegraph probe", () => {
  test.if(can)("oncpu: ≥ 75 % of a program's samples on main → hot_caller → hot_leaf; the SVG names hot_leaf", async () => {
    const exe = compileFixture("hotpath", ["-O0", "-fno-omit-frame-pointer"]);
    const r = await profile(["oncpu"], exe, 3, "collect"); // the program runs 3.5 s
    const svgs = filesUnder(join(r.out, "oncpu"));
    const all = filesUnder(join(r.flame, "oncpu"));
    const folded = all.filter((f) => f.endsWith(".folded"));
    const pprofs = all.filter((f) => f.endsWith(".pb.gz"));
    expect(folded.length).toBeGreaterThanOrEqual(1); // the collect's files, then maybe the stop's
    expect(svgs.length).toBe(folded.length);
    expect(pprofs.length).toBe(folded.length);
    expect(folded[0]).toMatch(/\/oncpu\/\d{8}-\d{6}\.folded$/);
    expect(svgs[0]).toMatch(/\/oncpu\/\d{8}\/\d{6}\.svg$/);
    const stacks = parseFolded(readFileSync(folded[0]!, "utf8"));
    let total = 0;
    let hot = 0;
    let strict = 0;
    for (const [stack, n] of stacks) {
      expect(stack.startsWith(`[${r.pid}]hotpath;`)).toBe(true);
      total += n;
      // The program's own stack is exactly main → hot_caller → hot_leaf; kernel frames after it
      // are an interrupt that the sample caught on its way back to hot_leaf (IPIs from other load).
      const user = stack.replace(/(;[^;]*_\[k\])+$/, "");
      if (/;main;hot_caller;hot_leaf$/.test(user)) hot += n;
      if (/;main;hot_caller;hot_leaf$/.test(stack)) strict += n;
    }
    const top = [...stacks].sort((a, b) => b[1] - a[1]).slice(0, 5);
    console.log(`hotpath: ${r.ticks.toFixed(1)} x 10 ms of CPU time, ${total} samples, ${hot} (${((100 * hot) / total).toFixed(1)} %) on main;hot_caller;hot_leaf (${strict} without interrupt frames); top: ${JSON.stringify(top)}`);
    // At 100 Hz one sample per 10 ms on the CPU: about as many samples as 10 ms units of its
    // scheduler runtime (more under steal time, which the runtime leaves out and the CPU clock
    // does not), at most one per 10 ms of the 3 s it was sampled (one thread).
    expect(r.ticks).toBeGreaterThan(30);
    expect(total).toBeGreaterThanOrEqual(Math.floor(r.ticks * 0.75)); // sampling: ±15 % seen on a loaded machine
    expect(total).toBeLessThanOrEqual(3.3 * 100);
    expect(hot / total).toBeGreaterThanOrEqual(0.75);
    const svg = readFileSync(svgs[0]!, "utf8");
    expect(svg).toContain(">hot_leaf");
    expect(svg).toContain("<title>hot_leaf (");
    expect(r.ctx.parseErrors).toEqual([]);
  }, 30_000);

  test.if(can && !!go)("pprof: `go tool pprof -top` reads the period's profile and puts hot_leaf first", async () => {
    const exe = compileFixture("hotpath", ["-O0", "-fno-omit-frame-pointer"]);
    const r = await profile(["oncpu"], exe, 2, "collect");
    const pprofs = filesUnder(join(r.flame, "oncpu")).filter((f) => f.endsWith(".pb.gz"));
    const out = Bun.spawnSync([go, "tool", "pprof", "-top", pprofs[0]!], { stdout: "pipe", stderr: "pipe" });
    const text = out.stdout.toString();
    expect(`${out.exitCode} ${out.stderr.toString().slice(0, 300)}`).toMatch(/^0 /);
    const first = text.split("\n").find((l) => /^\s+\d/.test(l)) ?? "";
    console.log(`go tool pprof -top, first row: ${first.trim()}`);
    expect(first).toMatch(/\shot_leaf$/);
    const flatPct = Number(/^\s*\S+\s+([\d.]+)%/.exec(first)?.[1]);
    expect(flatPct).toBeGreaterThanOrEqual(75);
    expect(text).toContain("Type: cpu");
  }, 240_000); // the first `go tool pprof` on a machine builds the tool (~2 min here)

  test.if(can && mem)("mem: every page a program touches is one page fault under touch_pages", async () => {
    const exe = compileFixture("toucher", ["-O0", "-fno-omit-frame-pointer"]);
    const r = await profile(["mem"], exe, 2, "stop");
    const rounds = Number((await new Response(r.stdout).text()).trim());
    const folded = filesUnder(join(r.flame, "mem")).filter((f) => f.endsWith(".folded"));
    expect(folded.length).toBe(1);
    let total = 0;
    let touched = 0;
    let mapped = 0;
    for (const [stack, bytes] of parseFolded(readFileSync(folded[0]!, "utf8"))) {
      expect(stack.startsWith(`[${r.pid}]toucher;`)).toBe(true);
      // mem also counts the bytes brk and mmap calls give ([brk] and [mmap] leaves, mem.root.test.ts):
      // the page-fault share below is of the faults.
      if (/;main;[^;]+;\[mmap\]$/.test(stack)) mapped += bytes;
      if (/;\[(mmap|brk)\]$/.test(stack)) continue;
      total += bytes;
      if (/;main;touch_pages(;|$)/.test(stack)) touched += bytes;
    }
    console.log(`toucher: ${rounds} rounds of 16 MiB, ${touched} bytes faulted in touch_pages of ${total}; ${mapped} bytes mapped by main`);
    expect(rounds).toBeGreaterThan(2);
    // Each round is exactly 4096 faults; the program ran 2.5 s and was read after 2 s (rounds
    // take the same time), so the rounds read are about 4/5 of its count, never more.
    const read = touched / (16 * 1024 * 1024);
    expect(read).toBeLessThanOrEqual(rounds + 1);
    expect(read).toBeGreaterThanOrEqual(rounds * 0.6 - 2);
    expect(touched / total).toBeGreaterThanOrEqual(0.97);
    // Each round maps 16 MiB before touching it: as many rounds as were read, give or take the
    // one whose mmap preceded the probe's start and the one mapped but not yet touched.
    expect(mapped % (16 * 1024 * 1024)).toBe(0);
    expect(mapped / (16 * 1024 * 1024) - read).toBeGreaterThanOrEqual(-1);
    expect(mapped / (16 * 1024 * 1024) - read).toBeLessThanOrEqual(1);
  }, 30_000);

  test.if(can)("offcpu: a process sleeping 100 ms in a loop has ≈ all its off-CPU time under nanosleep", async () => {
    const exe = compileFixture("sleeper", ["-O0", "-fno-omit-frame-pointer"]);
    const r = await profile(["offcpu"], exe, 2, "stop");
    const folded = filesUnder(join(r.flame, "offcpu")).filter((f) => f.endsWith(".folded"));
    expect(folded.length).toBe(1);
    const stacks = parseFolded(readFileSync(folded[0]!, "utf8"));
    let total = 0;
    let sleeping = 0;
    for (const [stack, us] of stacks) {
      expect(stack.startsWith(`[${r.pid}]sleeper;`)).toBe(true);
      total += us;
      if (/;clock_nanosleep;.*;do_nanosleep_\[k\];schedule_\[k\];__schedule_\[k\]$/.test(stack)) sleeping += us;
    }
    const top = [...stacks].sort((a, b) => b[1] - a[1]).slice(0, 3);
    console.log(`sleeper: ${total} us off CPU, ${sleeping} us (${((100 * sleeping) / total).toFixed(1)} %) under nanosleep; drops ${r.drops}; top: ${JSON.stringify(top)}`);
    // 2 s of 100 ms sleeps (the one in progress at the read is not counted yet).
    expect(total).toBeGreaterThan(1_700_000);
    expect(total).toBeLessThan(2_100_000);
    expect(sleeping / total).toBeGreaterThanOrEqual(0.97);
  }, 30_000);
});

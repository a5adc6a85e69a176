// proc_pygc against real Python interpreters: a script with automatic GC disabled calls
// gc.collect() N times per line and the row shows exactly N runs and positive time, per
// period, for the process in scope only. Two hooks: Debian's python3.x (stripped; USDT
// probes python:gc__start/gc__done behind semaphores) and, where the python3 on PATH links a
// libpython with symbols (pyenv, source builds), the entry and return of gc_collect_main.
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { ElfFile } from "../../libbpf/elf.ts";
import { readUsdtProbes } from "../../libbpf/usdt.ts";
import { Proc, TestScope, openRun, procContext, procPreflight, sleeping, type ProcTestContext } from "./test-kit.ts";

const SCRIPT = `
import gc, os, sys
gc.disable()
print("ready", os.getpid(), flush=True)
for line in sys.stdin:
    if line.startswith("exit"):
        break
    n = int(line)
    for _ in range(n):
        gc.collect()
    print("gc", n, flush=True)
`;

/** Debian's interpreter (python3-minimal): 3.11 on bookworm, later ones after it. */
const DEBIAN_PYTHON = ["/usr/bin/python3.11", "/usr/bin/python3.12", "/usr/bin/python3.13"].find((p) => existsSync(p)) ?? "/usr/bin/python3.11";

/** Why Debian's interpreter cannot serve (absent, or without semaphore-guarded GC probes). */
function usdtWhy(): string | undefined {
  if (!existsSync(DEBIAN_PYTHON)) return `${DEBIAN_PYTHON} is not installed (apt-get install python3-minimal)`;
  const gc = readUsdtProbes(DEBIAN_PYTHON).filter((p) => p.provider === "python" && p.name.startsWith("gc__"));
  if (gc.length < 2) return `${DEBIAN_PYTHON} has no python:gc__start/gc__done USDT notes`;
  if (gc.some((p) => p.semaphoreOffset === 0)) return `${DEBIAN_PYTHON}'s GC probes have no semaphore: this test is about semaphore-guarded probes`;
  return undefined;
}

/** The python3 on PATH when it maps a libpython with gc_collect_main (or upstream's collect_with_callback). */
function libpythonPython(): { python?: string; why?: string } {
  const python = Bun.which("python3");
  if (!python) return { why: "no python3 on PATH" };
  const r = Bun.spawnSync([python, "-c", "import sysconfig as s; print(s.get_config_var('LIBDIR') + '/' + (s.get_config_var('INSTSONAME') or ''))"], { stdout: "pipe", stderr: "pipe" });
  const lib = r.stdout.toString().trim();
  if (r.exitCode !== 0 || !/libpython[\d.]+\.so/.test(lib) || !existsSync(lib)) return { why: `the python3 on PATH links no shared libpython (${lib || r.stderr.toString().trim()})` };
  const elf = ElfFile.open(lib);
  if (!elf.symbol("gc_collect_main") && !elf.symbol("collect_with_callback")) return { why: `${lib} has no gc_collect_main/collect_with_callback symbol (stripped)` };
  return { python };
}

const pre = procPreflight("proc pygc root tests (USDT)", usdtWhy);
const lp = libpythonPython();
const preLib = procPreflight("proc pygc root tests (libpython function)", () => lp.why);

const procs: Proc[] = [];
afterAll(() => {
  for (const p of procs) p.kill();
});

async function python(bin: string, scope?: TestScope): Promise<Proc> {
  const p = new Proc([bin, "-c", SCRIPT]);
  procs.push(p);
  await p.waitFor(/ready/);
  if (scope) {
    await sleeping(p.pid); // in its read of stdin
    scope.add(p.pid);
  }
  return p;
}

async function gcRow(run: { collect(): void | Promise<void> }, ctx: ProcTestContext, tgid: number) {
  ctx.rec.rows = [];
  await run.collect();
  return ctx.rec.rows.find((r) => r.table === "proc_pygc" && r.row.tgid === String(tgid))?.row;
}

async function exactRuns(bin: string, nth: number): Promise<void> {
  const scope = new TestScope([]);
  const ctx = procContext({ subitems: ["proc_pygc"], scope });
  await using run = await openRun(ctx);
  const p = await python(bin, scope);
  const other = await python(bin); // the same interpreter file, out of scope
  await run.collect(); // the interpreter gets the probes
  expect(await gcRow(run, ctx, p.pid)).toBeUndefined();
  p.send("25");
  other.send("40");
  await p.waitFor(/gc 25/);
  await other.waitFor(/gc 40/);
  const first = (await gcRow(run, ctx, p.pid))!;
  p.send("10");
  await p.waitFor(/gc 10/);
  const second = (await gcRow(run, ctx, p.pid))!;
  console.log(`${bin} (run ${nth}): ${JSON.stringify(first)} then ${JSON.stringify(second)}`);
  expect(first.python_gc).toBe(25);
  expect(second.python_gc).toBe(10);
  for (const row of [first, second]) {
    expect(Number(row.latency_sum)).toBeGreaterThan(0);
    expect(Number(row.latency_max)).toBeGreaterThan(0);
    expect(Number(row.latency_max)).toBeLessThanOrEqual(Number(row.latency_sum));
  }
  expect(ctx.rec.rows.filter((r) => r.table === "proc_pygc" && r.row.tgid === String(other.pid))).toEqual([]);
  // Out of scope: its runs are not counted and its series go.
  scope.remove(p.pid);
  p.send("5");
  await p.waitFor(/gc 5\n/);
  expect(await gcRow(run, ctx, p.pid)).toBeUndefined();
  p.send("exit");
  other.send("exit");
}

describe("proc_pygc (root)", () => {
  test.if(pre.can)(`${DEBIAN_PYTHON} (USDT gc__start/gc__done behind semaphores): gc.collect() N times is N runs with positive time, per period, in scope only`, async () => {
    await exactRuns(DEBIAN_PYTHON, 1);
  });

  test.if(preLib.can)("python3 with a shared libpython (gc_collect_main entry/return): N runs per period, in scope only", async () => {
    await exactRuns(lp.python!, 1);
  });
});

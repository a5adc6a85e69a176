// oncpu samples of live programs of other runtimes, symbolized to their function names
// (root): a stripped Go binary (`-ldflags=-s -w`: no .symtab) spinning in main.hotLoop,
// named from its .gopclntab; a Java program (-XX:+PreserveFramePointer) spinning in
// Spin.hotMethod, named from the /tmp/perf-<pid>.map that `jcmd <pid> Compiler.perfmap`
// writes. Each is skipped, with the reason printed, when its toolchain is missing.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Proc } from "../../probe/test-root.ts";
import { rootPreflight } from "./test-kit.ts";
import { profileLive, share } from "./test-live.ts";

const which = (t: string) => Bun.spawnSync(["sh", "-c", `command -v ${t}`]).stdout.toString().trim();
const go = which("go") || (Bun.spawnSync(["test", "-x", "/usr/local/go/bin/go"]).exitCode === 0 ? "/usr/local/go/bin/go" : "");
const java = which("java");
const javac = which("javac");
const jcmd = which("jcmd");
const can = rootPreflight("runtimes.root.test", (f) => (f.attach.perf_event.ok ? undefined : `perf_event programs unavailable: ${f.attach.perf_event.reason}`));
if (can && !go) console.warn("runtimes.root.test: the Go test is skipped: no `go` on PATH or in /usr/local/go/bin");
const javaMissing = !java ? "java" : !javac ? "javac" : !jcmd ? "jcmd" : "";
if (can && javaMissing) console.warn(`runtimes.root.test: the Java test is skipped: no \`${javaMissing}\` on PATH (apt-get install openjdk-17-jdk-headless)`);

const scratch = mkdtempSync(join(tmpdir(), "gg-flame-rt-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function run(cmd: string[], env?: Record<string, string>): void {
  const r = Bun.spawnSync(cmd, { stderr: "pipe", env: env ? { ...process.env, ...env } : undefined });
  if (r.exitCode !== 0) throw new Error(`${cmd.join(" ")}: ${r.stderr.toString()}`);
}

describe("flamegraph oncpu, other runtimes", () => {
  test.if(can && !!go)("a live stripped Go program's samples are named from .gopclntab: main.main;main.hotLoop", async () => {
    const dir = join(scratch, "go");
    const exe = join(dir, "gohot");
    run([go, "build", "-ldflags=-s -w", "-o", exe, join(import.meta.dir, "testdata", "gohot", "main.go")], {
      GOTOOLCHAIN: "local",
      GO111MODULE: "off",
      GOCACHE: join(dir, "cache"),
      GOFLAGS: "",
    });
    expect(Bun.spawnSync(["sh", "-c", `readelf -S '${exe}' | grep -c '\\.symtab'`]).stdout.toString().trim()).toBe("0");
    const proc = new Proc([exe, "6"]);
    try {
      await proc.waitFor(/ready/);
      const p = await profileLive(proc, { subitems: ["oncpu"], seconds: 3 });
      const oncpu = p.stacks.get("oncpu") ?? [];
      // hotLoop is a leaf without a frame of its own (Go sets up no frame pointer there), so a
      // frame-pointer walk from inside it goes straight to its caller's caller: spinCaller
      // shows only when a sample lands in spinCaller's own code.
      const hot = share(oncpu, /;runtime\.main;main\.main;(main\.spinCaller;)?main\.hotLoop(;[^;]*_\[k\])*$/);
      const top = [...oncpu].sort((a, b) => b[1] - a[1]).slice(0, 3);
      console.log(`gohot (stripped): ${hot.total} samples, ${hot.matched} under runtime.main;main.main;main.hotLoop; top ${JSON.stringify(top)}`);
      expect(hot.total).toBeGreaterThan(100);
      expect(hot.matched / hot.total).toBeGreaterThanOrEqual(0.75);
      expect(p.parseErrors).toEqual([]);
    } finally {
      proc.kill();
    }
  }, 180_000);

  test.if(can && !javaMissing)("a live Java program's JIT samples are named from /tmp/perf-<pid>.map (jcmd Compiler.perfmap): Spin.hotMethod", async () => {
    const dir = join(scratch, "java");
    run([javac, "-d", dir, join(import.meta.dir, "testdata", "java", "Spin.java")]);
    const proc = new Proc([java, "-XX:+PreserveFramePointer", "-Xshare:auto", "-cp", dir, "Spin", "12"]);
    const perfMap = `/tmp/perf-${proc.pid}.map`;
    try {
      await proc.waitFor(/ready/, 30_000);
      await Bun.sleep(2000); // the loop gets compiled (C1, then C2)
      const p = await profileLive(proc, { subitems: ["oncpu"], seconds: 3, beforeRead: () => run([jcmd, String(proc.pid), "Compiler.perfmap"]) });
      const oncpu = p.stacks.get("oncpu") ?? [];
      const hot = share(oncpu, /;long Spin\.hotMethod\(long\)(;[^;]*_\[k\])*$/);
      const top = [...oncpu].sort((a, b) => b[1] - a[1]).slice(0, 3);
      console.log(`Spin (java): ${hot.total} samples, ${hot.matched} in Spin.hotMethod; top ${JSON.stringify(top)}`);
      expect(hot.total).toBeGreaterThan(100);
      // The JVM's own threads (compiler, GC) take some CPU too; the spinning thread most of it.
      expect(hot.matched / hot.total).toBeGreaterThanOrEqual(0.6);
      expect(p.parseErrors).toEqual([]);
    } finally {
      proc.kill();
      rmSync(perfMap, { force: true });
    }
  }, 120_000);
});

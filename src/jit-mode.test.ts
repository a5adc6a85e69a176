import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { agentFiles, cliArgs, hasDist, scrape, spawnAgent, waitFor } from "../test/harness.ts";
import { JIT_OPTIONS, jitReexec } from "./jit-mode.ts";

const [JIT_OPTION, JIT_VALUE] = JIT_OPTIONS[0]!;
const SET = JIT_OPTIONS.map(([k, v]) => `${k}=${v}`);

const base = { argv: ["bun", "/$bunfs/root/gala-gopher", "-c", "/etc/x.conf"], argv0: "/usr/bin/gala-gopher", env: { PATH: "/bin" }, compiled: true };

describe("jitReexec", () => {
  test("the compiled daemon re-executes itself with raised tier-up thresholds, same arguments and environment", () => {
    expect(jitReexec(base)).toEqual({ argv: ["/usr/bin/gala-gopher", "-c", "/etc/x.conf"], env: ["PATH=/bin", ...SET] });
  });
  test("never twice, and never over the operator's own choice", () => {
    expect(jitReexec({ ...base, env: { [JIT_OPTION]: "5" } })).toBeUndefined();
    expect(jitReexec({ ...base, env: { BUN_JSC_useDFGJIT: "0" } })).toBeUndefined();
    expect(jitReexec({ ...base, env: { JSC_useJIT: "0" } })).toBeUndefined();
    expect(jitReexec({ ...base, env: { GOPHER_JIT: "full" } })).toBeUndefined();
  });
  test("not from source, and not for gopher-ctl", () => {
    expect(jitReexec({ ...base, compiled: false })).toBeUndefined();
    expect(jitReexec({ ...base, argv0: "/usr/bin/gopher-ctl" })).toBeUndefined();
    expect(jitReexec({ ...base, argv: ["bun", "/$bunfs/root/gala-gopher", "ctl", "status"] })).toBeUndefined();
  });
});

const environ = (pid: number): string[] => readFileSync(`/proc/${pid}/environ`, "utf8").split("\0");

describe.skipIf(!hasDist())("compiled agent", () => {
  for (const [name, extra, expected] of [
    ["runs with the thresholds set, under its original pid", {}, `${JIT_OPTION}=${JIT_VALUE}`],
    ["GOPHER_JIT=full keeps the default tiers", { GOPHER_JIT: "full" }, undefined],
  ] as const) {
    test(name, async () => {
      const f = await agentFiles();
      const child = spawnAgent(cliArgs(f), { env: { GOPHER_LOG_STDERR: "0", ...extra } });
      try {
        await waitFor("metrics", async () => (await scrape(f.metricsPort).catch(() => "")) || undefined, 20_000, 50);
        expect(existsSync(`/proc/${child.proc.pid}`)).toBe(true);
        const set = environ(child.proc.pid).find((e) => e.startsWith(`${JIT_OPTION}=`));
        expect(set).toBe(expected);
        // Still named after the executable (comm comes from the file exec'd).
        expect(readFileSync(`/proc/${child.proc.pid}/comm`, "utf8").trim()).toBe("gala-gopher");
      } finally {
        await child.stop();
      }
    });
  }
});

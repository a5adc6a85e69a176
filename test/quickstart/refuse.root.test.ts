// scripts/quickstart.sh stops at once, with a message that says why and what to do, on a
// system it does not know and on an x86-64 CPU without what Bun needs (SSE4.2, POPCNT):
// run in a private mount namespace where a made-up /etc/os-release or /proc/cpuinfo is
// bind-mounted over the real one. Nothing is installed or started in either case: both
// checks come before the first package manager call.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, rmrf, tempDir, which } from "../harness.ts";
import { run } from "../rpm/build.ts";

const why = process.getuid?.() !== 0 ? "not root (bind mounts need root)" : !which("unshare") ? "no unshare (util-linux)" : undefined;
if (why) console.warn(`skipping the quickstart refusal tests: ${why}`);

const dir = tempDir("gg-quickstart-refuse-");
afterAll(() => rmrf(dir));
// Should a check ever let the script go on, it must not touch this machine: the package
// managers, bun and npm it would call first are stand-ins that only say they were called.
const stand = join(dir, "bin");
mkdirSync(stand);
for (const tool of ["apt-get", "dnf", "yum", "bun", "npm", "sudo"]) {
  writeFileSync(join(stand, tool), `#!/bin/sh\necho "stand-in ${tool} called: $*" >&2\nexit 99\n`, { mode: 0o755 });
}

/** Runs quickstart.sh with `over` bind-mounted on `target`; returns its exit code and output. */
async function quickstartWith(target: string, content: string): Promise<{ code: number; out: string }> {
  const fake = join(dir, target.replaceAll("/", "_"));
  writeFileSync(fake, content);
  const script = `mount --bind '${fake}' '${target}' && exec bash '${join(ROOT, "scripts", "quickstart.sh")}'`;
  const env = { ...process.env, PATH: `${stand}:${process.env.PATH ?? "/usr/bin:/bin"}` };
  const r = await run(["unshare", "-m", "--propagation", "private", "sh", "-c", script], { env, timeoutMs: 30_000 });
  return { code: r.code, out: r.stdout + r.stderr };
}

describe.skipIf(!!why)("quickstart.sh refuses what it cannot handle", () => {
  test("an unknown system: exit 1, names it and what to install by hand; nothing installed", async () => {
    const r = await quickstartWith("/etc/os-release", 'NAME="Plan 9"\nID=plan9\nPRETTY_NAME="Plan 9 from Bell Labs"\n');
    expect(r.code).toBe(1);
    expect(r.out).toContain("quickstart: unsupported system 'Plan 9 from Bell Labs' (ID=plan9 ID_LIKE=)");
    expect(r.out).toContain("apt-get on Debian/Ubuntu and dnf/yum on openEuler/Fedora/RHEL");
    expect(r.out).not.toContain("==>");
    expect(r.out).not.toContain("stand-in");
  });

  test.if(process.arch === "x64")("an x86-64 CPU without SSE4.2: exit 1, says what the runtime needs; nothing installed", async () => {
    const cpuinfo = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: QEMU Virtual CPU version 2.5+\nflags\t\t: fpu de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pse36 clflush mmx fxsr sse sse2 syscall nx lm nopl cpuid pni cx16 hypervisor lahf_lm\n\n";
    const r = await quickstartWith("/proc/cpuinfo", cpuinfo);
    expect(r.code).toBe(1);
    expect(r.out).toContain("quickstart: this CPU lacks 'sse4_2', which the Bun runtime needs (x86-64-v2");
    expect(r.out).not.toContain("==>");
    expect(r.out).not.toContain("stand-in");
  });
});

// `dnf install ./gala-gopher-*.rpm`, as on openEuler, into an empty install root. Here
// no repository provides glibc or /bin/sh, so the test builds a stand-in package
// ("host-base": this host's glibc libraries and dash as /bin/sh, Provides: glibc =
// <host glibc version>) and installs both local files together: dnf must resolve the
// package's Requires against it, run the scriptlets in the root, and the executable must
// run there. With a stand-in that says glibc 2.12, dnf must refuse.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DIST_BIN, rmrf, tempDir, which } from "../harness.ts";
import { buildRpm, packageVersion, rpmNoise, rpmSkipReason, run, type BuiltRpm } from "./build.ts";

const skip = rpmSkipReason() ?? (which("dnf") ? undefined : "dnf is not installed (Debian: apt-get install dnf)");
if (skip) console.warn(`skipping dnf tests: ${skip}`);

let work: string;
let pkg: BuiltRpm;

function hostGlibc(): string {
  const r = Bun.spawnSync(["getconf", "GNU_LIBC_VERSION"]);
  return /(\d+\.\d+)/.exec(r.stdout.toString())?.[1] ?? "2.36";
}

/** Builds the stand-in base package: glibc's libraries the agent and dash need, and /bin/sh. */
async function buildBase(version: string, topdir: string): Promise<string> {
  const libs = new Set<string>();
  for (const bin of [DIST_BIN, "/bin/dash"]) {
    const ldd = (await run(["ldd", bin])).stdout;
    for (const m of ldd.matchAll(/(\/\S+\.so[.\d]*)/g)) libs.add(m[1]!);
  }
  const spec = join(topdir, "host-base.spec");
  mkdirSync(topdir, { recursive: true });
  writeFileSync(
    spec,
    `Name: host-base
Version: ${version}
Release: 1
Summary: Stand-in for glibc and /bin/sh (test only)
License: LicenseRef-test-only
AutoReqProv: no
Provides: glibc = ${version}
Provides: /bin/sh
%global debug_package %{nil}
%global __os_install_post %{nil}
%global _build_id_links none
%description
The test host's glibc libraries and dash as /bin/sh, so that dnf can install
gala-gopher into an empty root.
%install
mkdir -p %{buildroot}/bin
cp /bin/dash %{buildroot}/bin/sh
${[...libs].map((l) => `install -D -m 0755 ${l} %{buildroot}${l}`).join("\n")}
%files
/bin/sh
${[...libs].join("\n")}
`,
  );
  const r = await run(["rpmbuild", "-bb", "--quiet", "--define", `_topdir ${topdir}`, spec]);
  if (r.code !== 0) throw new Error(`rpmbuild host-base: ${r.stderr}`);
  const out = (await run(["find", join(topdir, "RPMS"), "-name", "host-base-*.rpm"])).stdout.trim().split("\n")[0];
  if (!out) throw new Error("host-base rpm not built");
  return out;
}

function dnfArgs(root: string): string[] {
  return [
    "dnf", "-y", "-q",
    `--installroot=${root}`,
    `--setopt=reposdir=${join(work, "no-repos")}`,
    `--setopt=cachedir=${join(work, "dnf-cache")}`,
    "--setopt=install_weak_deps=False",
    "--releasever=1",
    "--disableplugin=*",
  ];
}

beforeAll(async () => {
  if (skip) return;
  work = tempDir("gg-dnf-");
  mkdirSync(join(work, "no-repos"));
  pkg = await buildRpm({ out: join(work, "out"), topdir: join(work, "top") });
}, 300_000);

afterAll(() => {
  if (work) rmrf(work);
});

describe.skipIf(!!skip)("dnf install", () => {
  test("dnf install ./gala-gopher.rpm resolves Requires against a glibc, runs the scriptlets, and the agent runs in the root", async () => {
    const base = await buildBase(hostGlibc(), join(work, "base-top"));
    const root = join(work, "root");
    mkdirSync(root);
    const r = await run([...dnfArgs(root), "install", base, pkg.path], { timeoutMs: 300_000 });
    console.log(`dnf install: exit ${r.code} in ${r.ms.toFixed(0)} ms${rpmNoise(r.stderr) ? `: ${rpmNoise(r.stderr)}` : ""}`);
    expect(r.code).toBe(0);
    expect(rpmNoise(r.stderr)).not.toMatch(/scriptlet failed|error/i);
    const q = await run(["rpm", "--root", root, "-q", "gala-gopher", "host-base"]);
    expect(q.stdout).toContain(`gala-gopher-${packageVersion()}-1.`);
    expect(existsSync(join(root, "usr/lib/systemd/system/gala-gopher.service"))).toBe(true);
    expect(readFileSync(join(root, "etc/gala-gopher/gala-gopher.conf"), "utf8")).toContain("web_server");
    // The executable in the root, with nothing but this glibc and /bin/sh beside it.
    if ((await run(["unshare", "-m", "true"])).code === 0) {
      mkdirSync(join(root, "proc"), { recursive: true });
      const v = await run(["unshare", "-m", "--propagation", "private", "/bin/sh", "-c", `mount -t proc proc "$1/proc" && exec chroot "$1" /usr/bin/gala-gopher --version`, "sh", root]);
      expect(v.code).toBe(0);
      expect(v.stdout).toStartWith(`gala-gopher ${packageVersion()}\n`);
    } else {
      console.warn("dnf test: unshare -m is not available; not running the executable in the root");
    }
    const e = await run([...dnfArgs(root), "remove", "gala-gopher"], { timeoutMs: 120_000 });
    expect(e.code).toBe(0);
    expect(existsSync(join(root, "usr/bin/gala-gopher"))).toBe(false);
  });

  test("dnf refuses the package when the only glibc is older than it needs", async () => {
    const base = await buildBase("2.12", join(work, "old-base-top"));
    const root = join(work, "old-root");
    mkdirSync(root);
    const r = await run([...dnfArgs(root), "install", base, pkg.path], { timeoutMs: 120_000 });
    expect(r.code).not.toBe(0);
    expect(r.stdout + r.stderr).toMatch(/nothing provides glibc >= 2\.\d+ needed by gala-gopher/);
  });
});

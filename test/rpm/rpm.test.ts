// The RPM as a distribution package: metadata, file list and modes, config flags,
// dependencies, scriptlets, the systemd unit (systemd-analyze verify), installing into
// an empty root and running the installed executable with no bun on PATH (and in a
// chroot holding nothing but the package and glibc), upgrading over an older build.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { appendFileSync, chmodSync, copyFileSync, existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { DIST_BIN, ROOT, agentFiles, freePort, rmrf, tempDir, waitFor, which } from "../harness.ts";
import { buildRpm, packageVersion, rpm, rpmNoise, rpmSkipReason, run, type BuiltRpm } from "./build.ts";

const skip = rpmSkipReason();
if (skip) console.warn(`skipping RPM tests: ${skip}`);
const haveRpmlint = which("rpmlint") !== undefined;
if (!skip && !haveRpmlint) console.warn("skipping the rpmlint test: rpmlint is not installed (apt-get install rpmlint)");
/** A private mount namespace (unshare -m) and chroot: the bare-root run needs both. */
const canChroot = which("chroot") !== undefined && Bun.spawnSync(["unshare", "-m", "true"], { stdout: "ignore", stderr: "ignore" }).exitCode === 0;
if (!skip && !canChroot) console.warn("skipping the chroot run: unshare -m or chroot is not available here");

const VERSION = packageVersion();
let work: string;
let rel1: BuiltRpm;
let rel2: BuiltRpm;

beforeAll(async () => {
  if (skip) return;
  work = tempDir("gg-rpm-");
  // Two builds (release 1 and 2) for the upgrade test, side by side.
  [rel1, rel2] = await Promise.all([
    buildRpm({ out: join(work, "out1"), topdir: join(work, "top1"), release: "1" }),
    buildRpm({ out: join(work, "out2"), topdir: join(work, "top2"), release: "2" }),
  ]);
  console.log(`rpm.sh: release 1 in ${(rel1.ms / 1000).toFixed(1)} s, release 2 in ${(rel2.ms / 1000).toFixed(1)} s (in parallel)`);
}, 300_000);

afterAll(() => {
  if (work) rmrf(work);
});

function sha256(path: string): string {
  return new Bun.CryptoHasher("sha256").update(readFileSync(path)).digest("hex");
}

/** Copies a file and the libraries ldd names for it into root (same paths). */
async function copyWithLibs(root: string, file: string, as = file): Promise<void> {
  const ldd = (await run(["ldd", file])).stdout;
  for (const lib of [...ldd.matchAll(/(\/\S+\.so[.\d]*)/g)].map((m) => m[1]!)) {
    const dst = join(root, lib);
    mkdirSync(dirname(dst), { recursive: true });
    if (!existsSync(dst)) copyFileSync(lib, dst);
  }
  mkdirSync(dirname(join(root, as)), { recursive: true });
  copyFileSync(file, join(root, as));
  chmodSync(join(root, as), 0o755);
}

/** Environment of a machine without bun: PATH holds only the install root's /usr/bin. */
function bareEnv(root: string, home: string, extra: Record<string, string> = {}): Record<string, string> {
  return { PATH: join(root, "usr", "bin"), HOME: home, LANG: "C", ...extra };
}

// Exactly what the package holds: mode, owner, group, path (symlink target after ->).
const EXPECTED_FILES = [
  "drwxr-x--- root root /etc/gala-gopher",
  "drwxr-x--- root root /etc/gala-gopher/extend_probes",
  "-rw-r----- root root /etc/gala-gopher/gala-gopher-custom.json",
  "-rw-r----- root root /etc/gala-gopher/gala-gopher.conf",
  "-rw-r----- root root /etc/gala-gopher/probes.init",
  "drwxr-xr-x root root /opt/gala-gopher",
  "drwxr-x--- root root /opt/gala-gopher/btf",
  "drwxr-x--- root root /opt/gala-gopher/extend_probes",
  "drwxr-x--- root root /opt/gala-gopher/lib",
  "drwxr-x--- root root /opt/gala-gopher/meta",
  "-rwxr-xr-x root root /usr/bin/gala-gopher",
  "lrwxrwxrwx root root /usr/bin/gopher-ctl -> gala-gopher",
  "-rw-r--r-- root root /usr/lib/systemd/system/gala-gopher.service",
  "drwxr-xr-x root root /usr/share/doc/gala-gopher",
  "-rw-r--r-- root root /usr/share/doc/gala-gopher/README.md",
  "-rw-r--r-- root root /usr/share/doc/gala-gopher/packaging.md",
  "drwxr-xr-x root root /usr/share/licenses/gala-gopher",
  "-rw-r--r-- root root /usr/share/licenses/gala-gopher/LICENSE",
  "drwxr-x--- root root /var/log/gala-gopher",
];

describe.skipIf(!!skip)("the package file", () => {
  test("rpm -qip: a complete header", async () => {
    const info = await rpm(["-qip", rel1.path]);
    console.log(info.trim());
    const field = (k: string) => new RegExp(`^${k}\\s*: (.*)$`, "m").exec(info)?.[1]?.trim();
    expect(field("Name")).toBe("gala-gopher");
    expect(field("Version")).toBe(VERSION);
    expect(field("Release")).toBe("1");
    expect(field("Architecture")).toBe(process.arch === "arm64" ? "aarch64" : "x86_64");
    expect(field("License")).toBe("MulanPSL-2.0");
    expect(field("URL")).toMatch(/^https:\/\//);
    expect(field("Summary")).toMatch(/^Observability agent/);
    expect(field("Group")).toBe("Applications/System");
    expect(info).toMatch(/Description :\n.*gala-gopher/);
    expect(Number(field("Size"))).toBeGreaterThan(statSync(DIST_BIN).size);
    expect(await rpm(["-qp", "--qf", "%{PAYLOADCOMPRESSOR}", rel1.path])).toBe("zstd");
    expect(rel1.path.endsWith(`gala-gopher-${VERSION}-1.${field("Architecture")}.rpm`)).toBe(true);
  });

  test("rpm -qlvp: exactly the expected files, modes and owners; the executable is not stripped", async () => {
    const rows = await rpm(["-qp", "--qf", "[%{FILEMODES:perms} %{FILEUSERNAME} %{FILEGROUPNAME} %{FILENAMES}\t%{FILELINKTOS}\\n]", rel1.path]);
    const got = rows
      .trim()
      .split("\n")
      .map((r) => {
        const [file, to] = r.split("\t");
        return to ? `${file} -> ${to}` : file;
      })
      .sort();
    expect(got).toEqual([...EXPECTED_FILES].sort());
    console.log((await rpm(["-qlvp", rel1.path])).trim());
    // Size and digest of the packaged executable are the built file's: nothing stripped it.
    const sizes = (await rpm(["-qp", "--qf", "[%{FILENAMES} %{FILESIZES} %{FILEDIGESTS}\\n]", rel1.path])).split("\n");
    const bin = sizes.find((l) => l.startsWith("/usr/bin/gala-gopher "))?.split(" ");
    expect(Number(bin?.[1])).toBe(statSync(DIST_BIN).size);
    expect(bin?.[2]).toBe(sha256(DIST_BIN));
  });

  test("the files under /etc are %config(noreplace); docs are %doc", async () => {
    const flags = (await rpm(["-qp", "--qf", "[%{FILEFLAGS:fflags} %{FILENAMES}\\n]", rel1.path])).trim().split("\n");
    const byPath = new Map(flags.map((l) => [l.slice(l.indexOf(" ") + 1), l.slice(0, l.indexOf(" "))]));
    for (const f of ["gala-gopher.conf", "probes.init", "gala-gopher-custom.json"]) {
      expect(byPath.get(`/etc/gala-gopher/${f}`)).toBe("cn");
    }
    expect(byPath.get("/usr/share/doc/gala-gopher/packaging.md")).toBe("d");
    expect(byPath.get("/usr/share/licenses/gala-gopher/LICENSE")).toBe("l");
    expect(byPath.get("/usr/bin/gala-gopher")).toBe("");
    expect((await rpm(["-qcp", rel1.path])).trim().split("\n").sort()).toEqual([
      "/etc/gala-gopher/gala-gopher-custom.json",
      "/etc/gala-gopher/gala-gopher.conf",
      "/etc/gala-gopher/probes.init",
    ]);
  });

  test("Requires: glibc (as new as the file needs) and /bin/sh only: no bun, node, clang, libbpf", async () => {
    // The newest GLIBC_x.y named anywhere in the executable (its imports and any library
    // embedded in it) is the floor the package must require.
    const bytes = readFileSync(DIST_BIN).toString("latin1");
    const vers = [...new Set([...bytes.matchAll(/GLIBC_2\.(\d+)/g)].map((m) => Number(m[1])))].sort((a, b) => a - b);
    const floor = `2.${vers.at(-1) ?? 17}`;
    const req = (await rpm(["-qp", "--requires", rel1.path])).trim().split("\n");
    const real = [...new Set(req.filter((r) => !r.startsWith("rpmlib(")))].sort();
    expect(real).toEqual(["/bin/sh", `glibc >= ${floor}`]);
    console.log(`Requires: ${real.join(", ")}`);
    // What the executable really links: every library is part of glibc.
    if (which("ldd")) {
      const ldd = (await run(["ldd", DIST_BIN])).stdout;
      const libs = [...ldd.matchAll(/^\s*(\S+\.so[.\d]*)/gm)].map((m) => m[1]!.replace(/^.*\//, "")).sort();
      expect(libs.filter((l) => !/^(linux-vdso\.so\.1|ld-linux-x86-64\.so\.2|ld-linux-aarch64\.so\.1|lib(c|m|dl|pthread|rt)\.so\.\d)$/.test(l))).toEqual([]);
    }
    const prov = (await rpm(["-qp", "--provides", rel1.path])).trim().split("\n").sort();
    expect(prov).toEqual([`gala-gopher = ${VERSION}-1`, `gala-gopher(${process.arch === "arm64" ? "aarch-64" : "x86-64"}) = ${VERSION}-1`, `gopher-ctl = ${VERSION}-1`].sort());
  });

  test("scriptlets: daemon-reload, preset on install, disable --now on erase, try-restart on upgrade", async () => {
    const scripts = await rpm(["-qp", "--scripts", rel1.path]);
    console.log(scripts.trim());
    expect(scripts).toContain("postinstall scriptlet (using /bin/sh)");
    expect(scripts).toContain("preuninstall scriptlet (using /bin/sh)");
    expect(scripts).toContain("postuninstall scriptlet (using /bin/sh)");
    // Run each scriptlet with a recording systemctl and a stand-in for /run/systemd/system.
    const dir = tempDir("gg-scriptlet-");
    try {
      const fakeBin = join(dir, "bin");
      const booted = join(dir, "run-systemd-system");
      mkdirSync(fakeBin);
      mkdirSync(booted);
      const log = join(dir, "calls");
      writeFileSync(join(fakeBin, "systemctl"), `#!/bin/sh\necho "$*" >> ${log}\n`);
      chmodSync(join(fakeBin, "systemctl"), 0o755);
      const calls = async (tag: "POSTIN" | "PREUN" | "POSTUN", arg: number, systemdRunning = true): Promise<string[]> => {
        writeFileSync(log, "");
        let body = await rpm(["-qp", "--qf", `%{${tag}}`, rel1.path]);
        body = body.replaceAll("/run/systemd/system", systemdRunning ? booted : join(dir, "absent"));
        const r = await run(["/bin/sh", "-c", body, "scriptlet", String(arg)], { env: { PATH: `${fakeBin}:/usr/bin:/bin` } });
        expect(r.code).toBe(0);
        return readFileSync(log, "utf8").trim().split("\n").filter(Boolean);
      };
      expect(await calls("POSTIN", 1)).toEqual(["daemon-reload", "--no-reload preset gala-gopher.service"]);
      expect(await calls("POSTIN", 2)).toEqual(["daemon-reload"]);
      expect(await calls("PREUN", 0)).toEqual(["--no-reload disable --now gala-gopher.service"]);
      expect(await calls("PREUN", 1)).toEqual([]);
      expect(await calls("POSTUN", 0)).toEqual(["daemon-reload"]);
      expect(await calls("POSTUN", 1)).toEqual(["daemon-reload", "try-restart gala-gopher.service"]);
      // Not booted with systemd (image build, container, rpm --root): no systemctl at all.
      expect(await calls("POSTIN", 1, false)).toEqual([]);
      expect(await calls("PREUN", 0, false)).toEqual([]);
    } finally {
      rmrf(dir);
    }
  });

  test.if(haveRpmlint)("rpmlint: no errors but the deliberate ones", async () => {
    const r = await run(["rpmlint", rel1.path, join(ROOT, "gala-gopher.spec")], { timeoutMs: 120_000 });
    console.log(r.stdout.trim());
    // Deliberate: 0750/0640 for configuration and logs (they name key files and
    // brokers), upstream's /opt/gala-gopher layout, and unsigned local builds (the
    // distributor signs and sets Packager).
    const allowed = /: E: (non-standard-dir-perm|non-readable \/etc\/gala-gopher\/|dir-or-file-in-opt \/opt\/gala-gopher|no-signature|no-packager-tag)/;
    const errors = r.stdout.split("\n").filter((l) => l.includes(": E: ") && !allowed.test(l));
    expect(errors).toEqual([]);
  });

  test("the spec's default version matches package.json", () => {
    const spec = readFileSync(join(ROOT, "gala-gopher.spec"), "utf8");
    expect(/%global gg_version (\S+)\}/.exec(spec)?.[1]).toBe(VERSION);
  });
});

describe.skipIf(!!skip)("installed into an empty root with rpm --root -i --nodeps", () => {
  let root: string;
  let home: string;

  beforeAll(async () => {
    if (skip) return;
    root = join(work, "root");
    home = join(work, "home");
    mkdirSync(root);
    mkdirSync(home);
    const r = await run(["rpm", "--root", root, "-i", "--nodeps", rel1.path]);
    // The empty root has no /bin/sh, so %post cannot run there; rpm says so and succeeds.
    console.log(`rpm --root -i: exit ${r.code} in ${r.ms.toFixed(0)} ms; ${rpmNoise(r.stderr).replaceAll("\n", " | ") || "no messages"}`);
    expect(r.code).toBe(0);
  });

  test("rpm -q and rpm -V: installed, every file as packaged", async () => {
    expect((await rpm(["--root", root, "-q", "gala-gopher"])).trim()).toBe(`gala-gopher-${VERSION}-1.${process.arch === "arm64" ? "aarch64" : "x86_64"}`);
    const v = await run(["rpm", "--root", root, "-V", "--nodeps", "gala-gopher"]);
    expect(v.stdout.trim()).toBe("");
    expect(v.code).toBe(0);
    expect(sha256(join(root, "usr/bin/gala-gopher"))).toBe(sha256(DIST_BIN));
    expect(readlinkSync(join(root, "usr/bin/gopher-ctl"))).toBe("gala-gopher");
    expect(statSync(join(root, "etc/gala-gopher/gala-gopher.conf")).mode & 0o777).toBe(0o640);
    expect(statSync(join(root, "var/log/gala-gopher")).isDirectory()).toBe(true);
  });

  test("--version runs with no bun on PATH, from a directory outside the repo", async () => {
    const env = bareEnv(root, home);
    expect(Bun.which("bun", { PATH: env.PATH })).toBeNull();
    expect(Bun.which("gala-gopher", { PATH: env.PATH })).toBe(join(root, "usr/bin/gala-gopher"));
    const r = await run([join(root, "usr/bin/gala-gopher"), "--version"], { cwd: home, env });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^gala-gopher ${VERSION.replaceAll(".", "\\.")}\\nCOMMIT_SHA1=\\S+\\n$`));
    // Invoked as gopher-ctl (the symlink) it is the control client.
    const ctl = await run([join(root, "usr/bin/gopher-ctl")], { cwd: home, env });
    expect(ctl.stdout + ctl.stderr).toContain("gopher-ctl probe get <probe_name>");
  });

  test("a real start from the install root: probes.init applied, /metrics, REST, gopher-ctl, lock, SIGTERM", async () => {
    const f = await agentFiles();
    try {
      writeFileSync(f.probesInit, '# boot probes\nbaseinfo {"cmd":{"probe":["cpu","mem"]},"params":{"report_period":5},"state":"running"}\n');
      const env = bareEnv(root, home, { GOPHER_LOG_STDERR: "0" });
      const args = ["-c", f.conf, "--run-dir", f.runDir, "--probes-init", f.probesInit];
      const t0 = performance.now();
      const agent = Bun.spawn([join(root, "usr/bin/gala-gopher"), ...args], { cwd: home, env, stdout: "ignore", stderr: "pipe" });
      let err = "";
      void new Response(agent.stderr).text().then((t) => (err = t));
      try {
        const text = await waitFor("mem series from probes.init", async () => {
          const r = await fetch(`http://127.0.0.1:${f.metricsPort}/metrics`);
          const t = await r.text();
          return t.includes("gala_gopher_mem_total_kB{") ? t : undefined;
        }, 15_000);
        console.log(`installed agent: start to first scrape with data ${(performance.now() - t0).toFixed(0)} ms`);
        expect(text).toMatch(/gala_gopher_mem_total_kB\{[^}]*machine_id="[0-9a-f-]{36}/);
        const get = await (await fetch(`http://127.0.0.1:${f.restPort}/baseinfo`)).text();
        expect(JSON.parse(get).state).toBe("running");
        const ctl = await run([join(root, "usr/bin/gopher-ctl"), "probe", "get", "baseinfo"], {
          cwd: home,
          env: { ...env, GOPHER_CTL_SOCKET: join(f.runDir, "gala_gopher_cmd.sock") },
        });
        expect(ctl.code).toBe(0);
        expect(ctl.stdout).toContain('"state":"running"');
        // Single instance: a second start with the same run dir exits 1 at once.
        const second = await run([join(root, "usr/bin/gala-gopher"), ...args], { cwd: home, env, timeoutMs: 20_000 });
        expect(second.code).toBe(1);
        expect(second.stderr).toContain("another gala-gopher holds");
        expect(readFileSync(join(f.runDir, "gala-gopher.pid"), "utf8").trim()).toBe(String(agent.pid));
      } finally {
        const t1 = performance.now();
        agent.kill("SIGTERM");
        const code = await agent.exited;
        const took = performance.now() - t1;
        console.log(`installed agent: SIGTERM to exit ${took.toFixed(0)} ms, status ${code}`);
        if (code !== 0 || took >= 5000) console.error(err);
        expect(code).toBe(0);
        expect(took).toBeLessThan(5000);
        expect(existsSync(join(f.runDir, "gala-gopher.pid"))).toBe(false);
      }
    } finally {
      rmrf(f.dir);
    }
  });

  test("--save-probes: the running configuration is written back to probes.init on SIGTERM", async () => {
    const f = await agentFiles();
    try {
      const env = bareEnv(root, home, { GOPHER_LOG_STDERR: "0" });
      const agent = Bun.spawn([join(root, "usr/bin/gala-gopher"), "-c", f.conf, "--run-dir", f.runDir, "--probes-init", f.probesInit, "--save-probes"], {
        cwd: home,
        env,
        stdout: "ignore",
        stderr: "ignore",
      });
      const put = await waitFor("REST", async () => {
        const r = await fetch(`http://127.0.0.1:${f.restPort}/baseinfo`, { method: "PUT", body: 'json={"cmd":{"probe":["mem"]},"state":"running"}' });
        return r.status === 200 ? r.text() : undefined;
      });
      expect(put).toContain("success");
      agent.kill("SIGTERM");
      expect(await agent.exited).toBe(0);
      const saved = readFileSync(f.probesInit, "utf8");
      expect(saved).toMatch(/^baseinfo \{.*"probe":\["mem"\].*"state":"running".*\}$/m);
    } finally {
      rmrf(f.dir);
    }
  });

  test.if(canChroot)("chroot holding only the package and glibc: the packaged config, probes.init and paths work", async () => {
    const croot = join(work, "chroot");
    mkdirSync(croot);
    expect((await run(["rpm", "--root", croot, "-i", "--nodeps", "--noscripts", rel1.path])).code).toBe(0);
    // glibc, exactly the files ldd names, and nothing else: no shell, no bun, no libbpf.
    const ldd = (await run(["ldd", join(croot, "usr/bin/gala-gopher")])).stdout;
    for (const lib of ldd.matchAll(/(\/\S+\.so[.\d]*)/g)) {
      const dst = join(croot, lib[1]!);
      mkdirSync(dirname(dst), { recursive: true });
      copyFileSync(lib[1]!, dst);
    }
    for (const d of ["proc", "sys", "dev"]) mkdirSync(join(croot, d), { recursive: true });
    const files = readdirSync(croot, { recursive: true }) as string[];
    expect(files.filter((p) => /(^|\/)(bun|node|clang|sh|bash|libbpf[^/]*)$/.test(p))).toEqual([]);
    appendFileSync(join(croot, "etc/gala-gopher/probes.init"), 'baseinfo {"cmd":{"probe":["mem"]},"params":{"report_period":5},"state":"running"}\n');
    const metricsPort = await freePort();
    const restPort = await freePort();
    const script = `mount -t proc proc "$1/proc" && mount --rbind /sys "$1/sys" && mount --rbind /dev "$1/dev" && exec chroot "$1" /usr/bin/gala-gopher`;
    const agent = Bun.spawn(["unshare", "-m", "--propagation", "private", "/bin/sh", "-c", script, "sh", croot], {
      env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", GOPHER_METRIC_PORT: String(metricsPort), GOPHER_REST_PORT: String(restPort), GOPHER_LOG_STDERR: "0" },
      stdout: "ignore",
      stderr: "pipe",
    });
    let err = "";
    void new Response(agent.stderr).text().then((t) => (err = t));
    try {
      const text = await waitFor("mem series in the chroot", async () => {
        const t = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
        return t.includes("gala_gopher_mem_total_kB{") ? t : undefined;
      }, 15_000);
      const id = readFileSync(join(croot, "opt/gala-gopher/machine_id"), "utf8").trim();
      expect(id).toMatch(/^[0-9a-f-]{36}$/);
      expect(text).toContain(`machine_id="${id}`);
      expect(lstatSync(join(croot, "opt/gala-gopher/machine_id")).mode & 0o777).toBe(0o440);
      expect(readFileSync(join(croot, "var/run/gala_gopher/gala-gopher.pid"), "utf8").trim()).toMatch(/^\d+$/);
      expect(readFileSync(join(croot, "var/log/gala-gopher/debug/gopher.log"), "utf8")).toContain("baseinfo: applied");
    } finally {
      agent.kill("SIGTERM");
      const code = await agent.exited;
      if (code !== 0) console.error(err);
      expect(code).toBe(0);
    }
    expect(existsSync(join(croot, "var/run/gala_gopher/gala-gopher.pid"))).toBe(false);
  });
});

describe.skipIf(!!skip)("upgrade and erase", () => {
  test("rpm -U to a newer release keeps an edited gala-gopher.conf and probes.init; rpm -e saves them", async () => {
    // A root with /bin/sh (dash and its glibc), so that the scriptlets of both releases
    // really run (chrooted, without systemd: they call no systemctl) and must succeed.
    const root = join(work, "upgrade-root");
    mkdirSync(root);
    await copyWithLibs(root, "/bin/dash", "/bin/sh");
    const inst = await run(["rpm", "--root", root, "-i", "--nodeps", rel1.path]);
    expect(rpmNoise(inst.stderr)).toBe("");
    expect(inst.code).toBe(0);
    const conf = join(root, "etc/gala-gopher/gala-gopher.conf");
    const init = join(root, "etc/gala-gopher/probes.init");
    const edited = readFileSync(conf, "utf8").replace('log_level = "info";', 'log_level = "debug";') + "# edited by the operator\n";
    writeFileSync(conf, edited);
    appendFileSync(init, 'baseinfo {"cmd":{"probe":["cpu"]},"state":"running"}\n');
    const editedInit = readFileSync(init, "utf8");
    const up = await run(["rpm", "--root", root, "-U", "--nodeps", rel2.path]);
    expect(rpmNoise(up.stderr)).toBe("");
    expect(up.code).toBe(0);
    expect((await rpm(["--root", root, "-q", "gala-gopher"])).trim()).toStartWith(`gala-gopher-${VERSION}-2.`);
    expect(readFileSync(conf, "utf8")).toBe(edited);
    expect(readFileSync(init, "utf8")).toBe(editedInit);
    expect(readdirSync(join(root, "etc/gala-gopher")).filter((n) => /\.rpm(new|save|orig)$/.test(n))).toEqual([]);
    expect(sha256(join(root, "usr/bin/gala-gopher"))).toBe(sha256(DIST_BIN));
    // rpm -V flags only the edited config files.
    const v = await run(["rpm", "--root", root, "-V", "--nodeps", "gala-gopher"]);
    expect(v.stdout.trim().split("\n").map((l) => l.replace(/^\S+\s+c\s+/, "")).sort()).toEqual([conf.slice(root.length), init.slice(root.length)].sort());

    const erase = await run(["rpm", "--root", root, "-e", "--nodeps", "gala-gopher"]);
    expect(rpmNoise(erase.stderr)).toMatch(/^(warning: \/etc\/gala-gopher\/(gala-gopher\.conf|probes\.init) saved as \S+\.rpmsave\n?){2}$/);
    expect(erase.code).toBe(0);
    expect(existsSync(join(root, "usr/bin/gala-gopher"))).toBe(false);
    expect(existsSync(join(root, "usr/lib/systemd/system/gala-gopher.service"))).toBe(false);
    expect(readFileSync(conf + ".rpmsave", "utf8")).toBe(edited);
  });
});

describe.skipIf(!!skip || !which("systemd-analyze"))("the systemd unit", () => {
  test("systemd-analyze verify: no warnings, against the installed executable", async () => {
    // A root with the package and the stock target units the unit refers to.
    const root = join(work, "verify-root");
    mkdirSync(root);
    expect((await run(["rpm", "--root", root, "-i", "--nodeps", "--noscripts", rel1.path])).code).toBe(0);
    const units = "/usr/lib/systemd/system";
    for (const n of readdirSync(units)) if (/\.(target|slice)$/.test(n)) copyFileSync(join(units, n), join(root, units, n));
    const r = await run(["systemd-analyze", "verify", `--root=${root}`, `${units}/gala-gopher.service`]);
    console.log(`systemd-analyze verify: exit ${r.code}, ${r.ms.toFixed(0)} ms${r.stderr ? `: ${r.stderr}` : ""}`);
    expect(r.stderr.trim()).toBe("");
    expect(r.code).toBe(0);
  });

  test("unit: Type=exec, the installed ExecStart, Restart=on-failure, RestartSec=1, root with eBPF access", () => {
    const unit = readFileSync(join(ROOT, "rpm/gala-gopher.service"), "utf8");
    const keys = new Map<string, string[]>();
    for (const l of unit.split("\n")) {
      const m = /^([A-Za-z]+)=(.*)$/.exec(l);
      if (m) keys.set(m[1]!, [...(keys.get(m[1]!) ?? []), m[2]!]);
    }
    const one = (k: string) => keys.get(k)?.join("\n");
    expect(one("Type")).toBe("exec");
    expect(one("ExecStart")).toBe("/usr/bin/gala-gopher");
    expect(one("Restart")).toBe("on-failure");
    expect(one("RestartSec")).toBe("1");
    expect(one("WantedBy")).toBe("multi-user.target");
    expect(one("RuntimeDirectory")).toBe("gala_gopher");
    expect(one("LimitMEMLOCK")).toBe("infinity");
    // Nothing that would take eBPF, tracefs, /proc or the processes' view of files away.
    for (const k of ["User", "DynamicUser", "CapabilityBoundingSet", "AmbientCapabilities", "PrivateTmp", "PrivateDevices", "ProtectHome", "ProtectKernelTunables", "ProtectKernelModules", "ProtectKernelLogs", "ProtectProc", "ProcSubset", "SystemCallFilter", "MemoryDenyWriteExecute", "PrivateUsers", "RestrictNamespaces", "ProtectHostname"]) {
      expect(keys.has(k)).toBe(false);
    }
    expect(one("ProtectSystem")).toBe("yes"); // /usr and /boot read-only; /etc stays writable for --save-probes
  });
});

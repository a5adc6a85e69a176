// The README's first command on a fresh machine: a Debian bookworm root made by
// `mmdebstrap --variant=minbase` with only git, curl and ca-certificates added, the
// project cloned into it (committed files only), /proc, /sys and /dev bound in; the
// first command of README.md's first ```sh block runs there as root under chroot, and
// the host must then find gala_gopher_mem_* on localhost:8888/metrics. A second run
// must find everything installed and skip it. Prints the command's wall time.
//
// Gate: GG_QUICKSTART=1 runs it (a missing tool, no root or no mirror is then a
// failure), GG_QUICKSTART=0 skips it; unset, it runs in CI (CI=true), where a missing
// prerequisite is a failure too, and is skipped with the reason elsewhere (it installs
// ~400 MB of packages into the root, 2-5 minutes).
// The mmdebstrap tarball is cached under ${GG_QUICKSTART_CACHE:-~/.cache/gala-gopher/quickstart}.
// The agent in the chroot shares the host's network and listens on the fixed ports 8888
// and 9999: every other test uses free ports, and test files run one after the other.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, renameSync, statSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { ROOT, rmrf, tempDir, which } from "../harness.ts";
import { run } from "../rpm/build.ts";
import { firstReadmeCommand } from "./readme.ts";

const gate = process.env.GG_QUICKSTART;
const SUITE = "bookworm";
const MIRROR_SOURCES = "/etc/apt/sources.list.d/debian.sources";
const FIXED_PORTS = [8888, 9999];
const CACHE = process.env.GG_QUICKSTART_CACHE || join(process.env.XDG_CACHE_HOME || join(homedir(), ".cache"), "gala-gopher", "quickstart");
/** A cached root older than this is rebuilt, so that it keeps up with point releases. */
const CACHE_MAX_AGE_MS = 7 * 24 * 3600 * 1000;

function mmdebstrapArgs(tarball: string): string[] {
  // The host's sources when they are for bookworm (the same mirror apt uses here), else mmdebstrap's default.
  const sources = existsSync(MIRROR_SOURCES) && readFileSync(MIRROR_SOURCES, "utf8").includes(SUITE) ? [MIRROR_SOURCES] : [];
  return ["mmdebstrap", "--mode=root", "--variant=minbase", "--quiet", "--include=git,curl,ca-certificates", "--aptopt=Acquire::Check-Valid-Until \"false\"", SUITE, tarball, ...sources];
}

function mirrorUrl(): string {
  const m = existsSync(MIRROR_SOURCES) ? /^URIs:\s*(\S+)/m.exec(readFileSync(MIRROR_SOURCES, "utf8")) : null;
  return m?.[1] ?? "http://deb.debian.org/debian";
}

function portBusy(port: number): boolean {
  try {
    Bun.listen({ hostname: "0.0.0.0", port, socket: { data() {} } }).stop(true);
    return false;
  } catch {
    return true;
  }
}

function skipReason(): string | undefined {
  if (gate === "0") return "GG_QUICKSTART=0";
  if (gate !== "1" && process.env.CI !== "true") return "not in CI; set GG_QUICKSTART=1 to run it (2-5 minutes, installs packages into a scratch root)";
  if (process.getuid?.() !== 0) return "not root (mmdebstrap --mode=root, chroot and mounts need root)";
  const missing = ["mmdebstrap", "unshare", "chroot", "git", "tar"].filter((t) => !which(t));
  if (missing.length) return `${missing.join(", ")} not installed (apt-get install mmdebstrap util-linux coreutils git tar)`;
  const mirror = mirrorUrl();
  const probe = Bun.spawnSync(["curl", "-fsS", "-o", "/dev/null", "--max-time", "15", `${mirror}/dists/${SUITE}/Release`]);
  if (probe.exitCode !== 0) return `the Debian mirror ${mirror} does not answer (${probe.stderr.toString().trim()})`;
  const busy = FIXED_PORTS.filter(portBusy);
  if (busy.length) return `port ${busy.join(" and ")} is in use on this host (the agent in the chroot listens there): stop what listens`;
  return undefined;
}

const skip = skipReason();
if (skip && (gate === "1" || process.env.CI === "true")) throw new Error(`the quickstart test must run here (${gate === "1" ? "GG_QUICKSTART=1" : "CI=true"}) but cannot: ${skip}`);
if (skip) console.warn(`skipping the quickstart test: ${skip}`);

let work = "";
let rootfs = "";
let rootfsNote = "";

/** The bookworm minbase tarball, from the cache or made now. */
async function baseTarball(): Promise<string> {
  mkdirSync(CACHE, { recursive: true });
  const key = new Bun.CryptoHasher("sha256").update(JSON.stringify(mmdebstrapArgs("")) + readFileSync(MIRROR_SOURCES, "utf8")).digest("hex").slice(0, 16);
  const tarball = join(CACHE, `${SUITE}-minbase-${key}.tar`);
  if (existsSync(tarball) && Date.now() - statSync(tarball).mtimeMs < CACHE_MAX_AGE_MS) {
    rootfsNote = `cached ${tarball}`;
    return tarball;
  }
  for (const old of readdirSync(CACHE)) if (old.endsWith(".tar") || old.includes(".tmp")) rmrf(join(CACHE, old));
  const tmp = `${tarball}.tmp-${process.pid}.tar`;
  const r = await run(mmdebstrapArgs(tmp), { timeoutMs: 600_000 });
  if (r.code !== 0) throw new Error(`mmdebstrap failed (${r.code}):\n${r.stderr.slice(-4000)}`);
  renameSync(tmp, tarball);
  rootfsNote = `built in ${(r.ms / 1000).toFixed(1)} s`;
  return tarball;
}

/** Processes whose root directory is the chroot (the agent the command started). */
function chrootPids(): number[] {
  const pids: number[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const r = readlinkSync(`/proc/${d}/root`);
      if (r === rootfs || r.startsWith(`${rootfs}/`)) pids.push(Number(d));
    } catch {
      // gone, or a kernel thread
    }
  }
  return pids;
}

async function stopChrootProcesses(): Promise<void> {
  for (const signal of ["SIGTERM", "SIGKILL"] as const) {
    for (const pid of chrootPids()) {
      try {
        process.kill(pid, signal);
      } catch {
        // exited meanwhile
      }
    }
    for (let i = 0; i < 50 && chrootPids().length; i++) await Bun.sleep(100);
  }
}

/** Mounts under the work dir in this mount namespace (the chroot's own live in a private one). */
function mountsUnder(dir: string): string[] {
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[4] ?? "")
    .filter((m) => m === dir || m.startsWith(`${dir}/`));
}

beforeAll(async () => {
  if (skip) return;
  const tarball = await baseTarball();
  work = tempDir("gg-quickstart-");
  rootfs = join(work, "root");
  mkdirSync(rootfs);
  const x = await run(["tar", "-C", rootfs, "-xf", tarball]);
  if (x.code !== 0) throw new Error(`tar -xf ${tarball} failed:\n${x.stderr}`);
  // Only what is committed: a clone of this checkout's HEAD.
  const c = await run(["git", "clone", "--quiet", ROOT, join(rootfs, "root", "gala-gopher")]);
  if (c.code !== 0) throw new Error(`git clone ${ROOT} failed:\n${c.stderr}`);
  // The network's own trust and name service, as any machine on it has: extra CA
  // certificates (a TLS-inspecting egress proxy) and resolv.conf.
  cpSync("/etc/resolv.conf", join(rootfs, "etc", "resolv.conf"), { dereference: true });
  const extraCa = "/usr/local/share/ca-certificates";
  if (existsSync(extraCa) && readdirSync(extraCa).length) {
    cpSync(extraCa, join(rootfs, extraCa), { recursive: true });
    const u = await run(["chroot", rootfs, "update-ca-certificates"]);
    if (u.code !== 0) throw new Error(`update-ca-certificates in the root failed:\n${u.stderr}`);
  }
  console.log(`fresh ${SUITE} root: ${rootfsNote}; extracted and cloned into ${rootfs}`);
}, 900_000);

afterAll(async () => {
  if (!work) return;
  await stopChrootProcesses();
  const left = mountsUnder(work);
  for (const m of left.reverse()) await run(["umount", "-l", m]);
  if (mountsUnder(work).length) console.error(`still mounted: ${mountsUnder(work).join(" ")}`);
  else rmrf(work);
});

/** Runs `command` as root in the chroot, in a private mount namespace holding the binds. */
async function inChroot(command: string, timeoutMs: number): Promise<{ code: number; out: string; seconds: number }> {
  const script = join(work, "enter.sh");
  writeFileSync(
    script,
    `set -eu
R=$1
# The root a mount point of its own, as / is on a machine (unshare -m inside needs it).
mount --bind "$R" "$R"
mount -t proc proc "$R/proc"
mount --bind /sys "$R/sys"
mount --bind /dev "$R/dev"
for m in /sys/fs/bpf /sys/kernel/tracing /sys/kernel/debug; do
  if mountpoint -q "$m" && [ -d "$R$m" ]; then mount --bind "$m" "$R$m"; fi
done
shift
exec chroot "$R" "$@"
`,
  );
  const env = ["HOME=/root", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8", "TERM=dumb"];
  for (const k of ["NODE_EXTRA_CA_CERTS", "SSL_CERT_FILE", "CURL_CA_BUNDLE", "GIT_SSL_CAINFO"]) {
    const v = process.env[k];
    if (v?.startsWith("/etc/ssl/")) env.push(`${k}=${v}`);
  }
  const cmd = ["unshare", "--mount", "--propagation", "private", "sh", script, rootfs, "/usr/bin/env", "-i", ...env, "/bin/bash", "-c", `cd /root/gala-gopher && ${command}`];
  const r = await run(cmd, { timeoutMs });
  const out = `${r.stdout}${r.stderr}`;
  writeFileSync(join(work, `run-${Date.now()}.log`), out);
  return { code: r.code, out, seconds: r.ms / 1000 };
}

async function metrics(): Promise<string> {
  const r = await fetch("http://127.0.0.1:8888/metrics", { signal: AbortSignal.timeout(10_000) });
  expect(r.status).toBe(200);
  return r.text();
}

describe.skipIf(!!skip)("README's first command on a fresh Debian bookworm", () => {
  test(
    "sets the machine up, builds, and starts an agent serving gala_gopher_mem_* on :8888; a second run skips what is done",
    async () => {
      // From the clone's README.md: the command and the scripts it runs are of one commit.
      const command = firstReadmeCommand(readFileSync(join(rootfs, "root", "gala-gopher", "README.md"), "utf8"));
      expect(command).toStartWith("bash scripts/quickstart.sh");
      console.log(`README's first command: ${command}`);

      const first = await inChroot(command, 780_000);
      console.log(`first run: exit ${first.code} in ${first.seconds.toFixed(1)} s (wall)`);
      if (first.code !== 0) console.log(first.out.slice(-6000));
      expect(first.code).toBe(0);
      // It said what it installed, and Bun came from npm.
      expect(first.out).toMatch(/==> installing on Debian GNU\/Linux 12 \(bookworm\): .*\bclang\b.*\bnpm\b/);
      expect(first.out).toContain("==> installing Bun (npm i -g bun)");
      expect(first.out).toMatch(/==> gala-gopher is running \(pid \d+\)/);

      const body = await metrics();
      const mem = body.split("\n").filter((l) => l.startsWith("gala_gopher_mem_"));
      console.log(`${mem.length} gala_gopher_mem_* samples, e.g. ${mem[0]}`);
      expect(mem.length).toBeGreaterThan(0);
      // The agent that answered is the chroot's.
      expect(chrootPids().length).toBeGreaterThan(0);

      const second = await inChroot(command, 300_000);
      console.log(`second run: exit ${second.code} in ${second.seconds.toFixed(1)} s (wall)`);
      if (second.code !== 0) console.log(second.out.slice(-6000));
      expect(second.code).toBe(0);
      expect(second.out).toContain("==> system packages: everything the build needs is installed");
      expect(second.out).not.toContain("==> installing Bun");
      expect(second.out).toMatch(/==> stopping the running agent \(pid \d+\)/);
      expect((await metrics()).split("\n").some((l) => l.startsWith("gala_gopher_mem_"))).toBe(true);
      console.log(`quickstart: first run ${first.seconds.toFixed(1)} s, second run ${second.seconds.toFixed(1)} s; root ${rootfsNote}`);
    },
    1_200_000,
  );
});

// End to end as a user: a Debian bookworm guest with systemd under qemu (TCG), the RPM
// installed with rpm -i, `systemctl start gala-gopher`, and from the host: scrape the
// guest's :8888 and PUT to its :9999 through qemu's user-mode port forwarding; then
// probes.init + `systemctl restart`, the GOPHER_SAVE_PROBES=1 opt-in, Restart=on-failure,
// `systemctl stop` timing and `rpm -e`; the eBPF tcp probe runs inside the unit. On the
// guest's Debian 6.1 kernel, with real activity in the guest: socket (the agent's own
// listener), io (8 MiB of direct writes to a loop device, exact; one failing read of a
// device-mapper error target, exactly one io_err event), proc (a static program's 1001
// failed open() calls, exact; 16 direct writes as 16 bios in proc_io), l7 (the host's
// scrapes as HTTP requests of the agent) and flamegraph oncpu (its busy loop named in the
// folded file). test/qemu/guest.sh is the guest's half, test/qemu/ggload.c the workload.
//
// Gate: GG_QEMU=1 runs it (a missing tool is then a failure), GG_QEMU=0 skips it; unset,
// it runs in CI (CI=true) when qemu-system-x86_64, mmdebstrap, mkfs.ext4 and rpmbuild are
// installed and we are root, and is skipped with the reason otherwise (it keeps both
// cores busy for about two minutes). The guest image is cached (test/qemu/image.sh);
// about 150 s end to end with a warm cache on 2 cores, plus ~40-55 s to build the image once.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { appendFileSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort, rmrf, tempDir, which } from "../harness.ts";
import { buildRpm, packageVersion, rpmSkipReason, run } from "../rpm/build.ts";
import { PARSERS as L7_PARSERS } from "../../src/probes/l7/index.ts";
import { PeriodWatch } from "./period-watch.ts";

const HERE = import.meta.dir;
const gate = process.env.GG_QEMU;

function skipReason(): string | undefined {
  if (gate === "0") return "GG_QEMU=0";
  if (gate !== "1" && process.env.CI !== "true") return "not in CI; set GG_QEMU=1 to run it (about 2 minutes)";
  if (process.arch !== "x64") return "the guest is x86_64 and TCG on another architecture is too slow";
  const missing = ["qemu-system-x86_64", "mmdebstrap", "mkfs.ext4", "cc"].filter((t) => !which(t));
  if (missing.length) return `${missing.join(", ")} not installed (apt-get install qemu-system-x86 mmdebstrap e2fsprogs)`;
  return rpmSkipReason();
}

const skip = skipReason();
if (skip && gate === "1") throw new Error(`GG_QEMU=1 but the qemu test cannot run: ${skip}`);
if (skip) console.warn(`skipping the qemu end-to-end test: ${skip}`);

// qemu's default model, qemu64 (x86-64-v1), plus exactly what every Bun x64 runtime
// needs: SSSE3, SSE4.1, SSE4.2 and POPCNT (x86-64-v2), and no AVX or AVX2. On plain qemu64
// any Bun runtime, baseline included, dies at once (SIGILL, or "this CPU is missing SSE4.2
// support, which Bun requires"): see docs/performance-baseline.md. GG_QEMU_CPU overrides
// it (e.g. max, Nehalem).
const QEMU_CPU = process.env.GG_QEMU_CPU || "qemu64,+ssse3,+sse4.1,+sse4.2,+popcnt";
const NO_AVX = QEMU_CPU.startsWith("qemu64");
const T0 = performance.now();
const lap = () => `${((performance.now() - T0) / 1000).toFixed(1)} s`;
let work: string;
let share: string;
let imageDir: string;
let qemu: ReturnType<typeof Bun.spawn> | undefined;
let consoleLog = "";
let metricsPort = 0;
let restPort = 0;
const timings: Record<string, string> = {};

beforeAll(async () => {
  if (skip) return;
  work = tempDir("gg-qemu-");
  share = join(work, "share");
  mkdirSync(share);
  const [img, pkg] = await Promise.all([
    run(["bash", join(HERE, "image.sh")], { timeoutMs: 600_000 }),
    buildRpm({ out: join(work, "out"), topdir: join(work, "top") }),
  ]);
  if (img.code !== 0) throw new Error(`test/qemu/image.sh failed:\n${img.stderr}`);
  imageDir = img.stdout.trim().split("\n").pop()!;
  timings.image = `${(img.ms / 1000).toFixed(1)} s (${img.stderr.includes("cached image") ? "cached" : "built"})`;
  timings.rpm = `${(pkg.ms / 1000).toFixed(1)} s`;
  console.log(`guest image ${imageDir}: ${timings.image}; rpm ${timings.rpm}`);
  copyFileSync(pkg.path, join(share, "gala-gopher.rpm"));
  copyFileSync(join(HERE, "guest.sh"), join(share, "test.sh"));
  // The guest's probe workload: static (no loader, so no failed syscalls of its own),
  // frame pointers in every function (the flamegraph names the hot path).
  const cc = await run(["cc", "-static", "-O0", "-g", "-fno-omit-frame-pointer", "-o", join(share, "ggload"), join(HERE, "ggload.c")], { timeoutMs: 60_000 });
  if (cc.code !== 0) throw new Error(`cc -static test/qemu/ggload.c failed (needs libc6-dev):\n${cc.stderr}`);
}, 900_000);

afterAll(async () => {
  if (qemu && qemu.exitCode === null) {
    qemu.kill("SIGKILL");
    await qemu.exited;
  }
  if (work && !process.env.GG_QEMU_KEEP) rmrf(work);
  else if (work) console.log(`kept ${work}`);
});

function bootQemu(): void {
  const kernel = existsSync(join(imageDir, "vmlinux")) ? join(imageDir, "vmlinux") : join(imageDir, "vmlinuz");
  const args = [
    "qemu-system-x86_64",
    // TCG only: KVM here is a software PVM that hangs with stock kernels (see docs/packaging.md).
    "-accel", "tcg,thread=multi",
    // The oldest CPU the package can run on: see QEMU_CPU.
    "-cpu", QEMU_CPU,
    "-smp", "2",
    "-m", "1024",
    "-nographic",
    "-no-reboot",
    "-kernel", kernel,
    "-initrd", join(imageDir, "initrd.img"),
    "-append", "root=/dev/vda rw console=ttyS0 quiet",
    "-drive", `file=${join(imageDir, "root.ext4")},if=virtio,format=raw,snapshot=on`,
    "-nic", `user,model=virtio-net-pci,restrict=on,hostfwd=tcp:127.0.0.1:${metricsPort}-:8888,hostfwd=tcp:127.0.0.1:${restPort}-:9999`,
    "-virtfs", `local,path=${share},mount_tag=hostshare,security_model=none,id=hs`,
    "-device", "virtio-rng-pci",
  ];
  qemu = Bun.spawn(args, { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const dec = new TextDecoder();
  const pump = async (s: ReadableStream<Uint8Array>) => {
    for await (const c of s) {
      const t = dec.decode(c);
      consoleLog += t;
      appendFileSync(join(work, "console.log"), t);
    }
  };
  void pump(qemu.stdout as ReadableStream<Uint8Array>);
  void pump(qemu.stderr as ReadableStream<Uint8Array>);
}

function guestLog(): string {
  const f = join(share, "test.log");
  return existsSync(f) ? readFileSync(f, "utf8") : "(no test.log)";
}

/** Waits for a file the guest writes in the share; fails early when the guest failed or qemu died. */
async function waitGuest(name: string, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!existsSync(join(share, name))) {
    if (existsSync(join(share, "FAILED"))) throw new Error(`guest failed: ${readFileSync(join(share, "FAILED"), "utf8")}\n${guestLog()}`);
    if (qemu?.exitCode !== null && qemu?.exitCode !== undefined) throw new Error(`qemu exited (${qemu.exitCode}) before ${name}\n${consoleLog.slice(-3000)}`);
    if (Date.now() > end) throw new Error(`timed out waiting for the guest's ${name}\n${guestLog()}\n--- console:\n${consoleLog.slice(-3000)}`);
    await Bun.sleep(100);
  }
  timings[name] = lap();
}

async function hostGet(port: number, path: string): Promise<{ status: number; body: string }> {
  const r = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(10_000) });
  return { status: r.status, body: await r.text() };
}

async function hostPut(path: string, doc: unknown): Promise<{ status: number; body: string }> {
  const r = await fetch(`http://127.0.0.1:${restPort}${path}`, { method: "PUT", body: `json=${JSON.stringify(doc)}`, signal: AbortSignal.timeout(10_000) });
  return { status: r.status, body: await r.text() };
}

/** Scrapes the guest until a series shows up (the first collection runs at once; TCG is slow). */
async function scrapeUntil(series: string | RegExp, timeoutMs = 30_000): Promise<string> {
  const end = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < end) {
    const r = await hostGet(metricsPort, "/metrics");
    last = r.body;
    if (r.status === 200 && (typeof series === "string" ? r.body.includes(series) : series.test(r.body))) return r.body;
    await Bun.sleep(250);
  }
  // What the agent says about its probes (state, unsupported reasons, failures) tells why.
  const agent = last.split("\n").filter((l) => /^gala_gopher_agent_(probe|bpf|kernel_feature)/.test(l) && !/ 0$/.test(l));
  throw new Error(`no ${series} in the guest's metrics; the agent's probe lines:\n${agent.join("\n")}`);
}

const scrapeMetrics = async (): Promise<string | undefined> => {
  const r = await hostGet(metricsPort, "/metrics");
  return r.status === 200 ? r.body : undefined;
};

/** The agent's non-zero gala_gopher_agent_* lines matching `what` (why a count is off). */
async function agentLines(what: RegExp): Promise<string> {
  const body = (await scrapeMetrics().catch(() => undefined)) ?? "";
  return body.split("\n").filter((l) => l.startsWith("gala_gopher_agent_") && what.test(l) && !/ 0$/.test(l)).join("; ");
}

function results(): Record<string, string> {
  const out: Record<string, string> = {};
  const f = join(share, "results.txt");
  if (!existsSync(f)) return out;
  for (const l of readFileSync(f, "utf8").split("\n")) {
    const i = l.indexOf("=");
    if (i > 0) out[l.slice(0, i)] = l.slice(i + 1);
  }
  return out;
}

const running = (probe: string) => new RegExp(`^gala_gopher_agent_probe_state\\{probe="${probe}",state="running"\\} 1$`, "m");
const total = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

/**
 * Waits until the probe's next collection ends (its collect-duration gauge changes); at
 * most 15 s, then goes on (the checks do not depend on it, it only makes a split of the
 * guest's activity over two periods unlikely).
 */
async function nextCollection(probe: string): Promise<void> {
  const series = new RegExp(`^gala_gopher_agent_probe_collect_duration_seconds\\{probe="${probe}"\\} (\\S+)$`, "m");
  const value = async () => series.exec((await hostGet(metricsPort, "/metrics")).body)?.[1];
  const first = await value();
  const end = Date.now() + 15_000;
  while (Date.now() < end && (await value()) === first) await Bun.sleep(100);
}

/**
 * io on the guest's kernel: 8 MiB of direct writes to a loop device are exactly the
 * write_bytes summed over the report periods (and the guest's /proc/diskstats agrees);
 * one failing direct read of a device-mapper error target is exactly one io_err event in
 * upstream's words, in the event log.
 */
async function checkIo(): Promise<void> {
  const put = await hostPut("/io", { cmd: { probe: ["io_trace", "io_err", "io_count", "page_cache"] }, params: { report_event: 1, report_period: 5 }, state: "running" });
  expect(put.body).toContain('"result": "success"');
  await scrapeUntil(running("io"), 60_000);
  // Start the writes just after a collection, so they normally fall in one period.
  await nextCollection("io");
  const watch = new PeriodWatch(scrapeMetrics, "io", /^gala_gopher_block_write_bytes\{[^}]*blk_name="(?<key>[^"]+)"[^}]*\} (?<value>\S+)$/gm);
  writeFileSync(join(share, "IOGO"), "");
  await waitGuest("IODONE", 90_000);
  await Bun.sleep(11_000); // two more report periods: the one holding the writes is shown
  const runs = await watch.stop();
  const r = results();
  const loopRuns = runs.get(r.loop_name!) ?? [];
  console.log(`io: ${r.loop_name} write_bytes per period ${JSON.stringify(loopRuns)}; diskstats sectors written ${r.loop_sectors_written}; dd rc ${r.loop_dd_rc}`);
  expect(r.loop_dd_rc).toBe("0");
  expect(Number(r.loop_sectors_written) * 512).toBe(8 << 20);
  expect(total(loopRuns)).toBe(8 << 20);
  // The failing read: dd failed, and the event log holds exactly one io_err event for it.
  expect(r.err_dd_rc).not.toBe("0");
  const [major, minor] = r.dm_dev!.split(":");
  const events = readFileSync(join(share, "events.log"), "utf8").split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
  const errs = events.filter((e) => e.Resource?.metric === "gala_gopher_block_err_code");
  console.log(`io_err events: ${JSON.stringify(errs.map((e) => e.Body))}`);
  expect(errs.length).toBe(1);
  expect(errs[0].Resource.labels.Device).toBe(r.dm_name);
  expect(errs[0].Body).toMatch(
    new RegExp(
      `IO errors occured\\.\\(Disk ${r.dm_name}\\(${major}:${minor}\\), COMM dd, PID ${r.err_dd_pid}, op: R\\S*, datalen 4096, ` +
        `blk_err\\(10\\) 'I/O error', scsi_err\\(0\\) 'UNKNOW', timestamp \\d+\\.\\d{6}\\)$`,
    ),
  );
}

/**
 * proc for the whole host: a static program's 1001 failed open() calls, exactly; another's
 * 16 direct 64 KiB writes to the loop device are 16 bios of 4 KiB or more in proc_io,
 * exactly, summed over every collection from before the programs start until two after
 * their work (they stay alive until then); proc_pygc loads (the guest has no Python).
 */
async function checkProc(): Promise<void> {
  const put = await hostPut("/proc", { cmd: { probe: ["proc_syscall", "proc_io", "proc_pygc"] }, params: { report_period: 5 }, state: "running" });
  expect(put.body).toContain('"result": "success"');
  await scrapeUntil(running("proc"), 60_000);
  const failed = new PeriodWatch(scrapeMetrics, "proc", /^gala_gopher_proc_syscall_failed\{[^}]*tgid="(?<key>\d+)"[^}]*\} (?<value>\S+)$/gm);
  const bios = new PeriodWatch(scrapeMetrics, "proc", /^gala_gopher_proc_greater_4k_io_write\{[^}]*tgid="(?<key>\d+)"[^}]*\} (?<value>\S+)$/gm);
  // Running means attached with the scope pushed; one whole collection more before the
  // guest starts (TCG is slow, the first collection walks every process).
  await failed.waitCollections(1, 60_000);
  writeFileSync(join(share, "PROCGO"), "");
  // Both programs did their work and now wait for PROCRELEASE (alive: their rows need their
  // labels). The collection that holds the end of it starts after PROCIO: two more.
  await waitGuest("PROCIO", 90_000);
  await Promise.all([failed.waitCollections(2, 60_000), bios.waitCollections(2, 60_000)]);
  const runs = await failed.stop();
  const bioRuns = await bios.stop();
  writeFileSync(join(share, "proc-release"), "go\n");
  await waitGuest("PROCDONE", 60_000);
  const r = results();
  const mine = runs.get(r.proc_pid!) ?? [];
  const dio = bioRuns.get(r.proc_dio_pid!) ?? [];
  console.log(`proc: ggload (pid ${r.proc_pid}) syscall_failed per period ${JSON.stringify(mine)}; it printed ${readFileSync(join(share, "ggload-fail.out"), "utf8").trim()}; ggload dio (pid ${r.proc_dio_pid}) greater_4k_io_write per period ${JSON.stringify(dio)}`);
  if (total(mine) !== 1001 || total(dio) !== 16) console.log(`proc: the agent's own counts: ${await agentLines(/probe="proc"|feature="proc"|proc_/)}`);
  expect(r.proc_rc).toBe("0");
  expect(total(mine)).toBe(1001);
  expect(r.proc_dio_rc).toBe("0");
  expect(total(dio)).toBe(16);
}

/**
 * l7 on the guest's 6.1 kernel (no sock_*_length tracepoints there: fds resolve through the
 * task's fd table): the probe loads and runs; with an http parser in this build, the host's
 * own scrapes of :8888 show up as HTTP requests on the agent's server side.
 */
async function checkL7(): Promise<void> {
  const put = await hostPut("/l7", { cmd: { probe: ["l7_bytes_metrics", "l7_rpc_metrics"] }, params: { report_period: 5, l7_protocol: ["http"] }, state: "running" });
  expect(put.body).toContain('"result": "success"');
  await scrapeUntil(running("l7"), 60_000);
  if (L7_PARSERS.has("http")) {
    await scrapeUntil(/^gala_gopher_l7_req_count\{[^}]*server_port="8888",l4_role="tcp_server",l7_role="server",protocol="http"[^}]*comm="gala-gopher"[^}]*\} [1-9]/m, 90_000);
  } else console.warn("qemu test: l7 checked for loading only: no http parser registered in src/probes/l7/protocols/index.ts");
  const stop = await hostPut("/l7", { state: "stopped" });
  expect(stop.body).toContain('"result": "success"');
}

/** flamegraph oncpu on the guest's kernel: the busy program's folded stacks name its hot function. */
async function checkFlamegraph(): Promise<void> {
  writeFileSync(join(share, "FLAMEGO"), "");
  await waitGuest("FLAMEDONE", 120_000);
  const r = results();
  console.log(`flamegraph: start ${r.flame_start}; stop ${r.flame_stop}; files ${r.flame_files}; lines with spin_caller;spin_leaf: ${r.flame_grep_hot}`);
  expect(r.flame_start).toContain('"result": "success"');
  expect(r.flame_stop).toContain('"result": "success"');
  expect(r.spin_rc).toBe("0");
  expect(r.spin_alive_at_stop).toBe("yes"); // else the test itself is wrong: its stacks cannot be symbolized
  expect(r.flame_files).toMatch(/^oncpu\/\d{8}-\d{6}(-\d+)?\.folded/);
  expect(Number(r.flame_grep_hot)).toBeGreaterThanOrEqual(1);
  // Of the program's samples, most are in main -> spin_caller -> spin_leaf.
  let all = 0;
  let hot = 0;
  for (const f of readdirSync(join(share, "flame"))) {
    for (const l of readFileSync(join(share, "flame", f), "utf8").split("\n")) {
      const m = /^(.*) (\d+)$/.exec(l);
      if (!m || !m[1]!.includes("ggload")) continue;
      all += Number(m[2]);
      if (/;main;spin_caller;spin_leaf(;|$)/.test(m[1]!)) hot += Number(m[2]);
    }
  }
  console.log(`flamegraph: ggload samples ${all}, in spin_leaf ${hot}`);
  expect(all).toBeGreaterThan(0);
  expect(hot / all).toBeGreaterThanOrEqual(0.5);
}

describe.skipIf(!!skip)("qemu guest: yum-style install, systemctl, curl from the host", () => {
  test(
    "rpm -i, systemctl start, scrape :8888 and PUT :9999 from the host, probes.init + restart, save opt-in, restart on failure, stop, rpm -e",
    async () => {
      metricsPort = await freePort();
      restPort = await freePort();
      const tBoot = performance.now();
      bootQemu();

      // Step 1: the service started by systemctl, seen from the host.
      await waitGuest("READY1", 240_000);
      const booted = (performance.now() - tBoot) / 1000;
      // The packaged executable answers --version on this CPU (no AVX, no AVX2).
      const r0 = results();
      console.log(`guest CPU (-cpu ${QEMU_CPU}), of avx avx2 sse4_2 popcnt ssse3 it has: [${r0.cpu_flags?.trim() ?? "?"}]; --version: ${r0.version}`);
      expect(r0.version_rc).toBe("0");
      expect(r0.version).toBe(`gala-gopher ${packageVersion()}`);
      if (NO_AVX) expect(r0.cpu_flags?.split(" ").filter((f) => f === "avx" || f === "avx2")).toEqual([]);
      const first = await hostGet(metricsPort, "/metrics");
      expect(first.status).toBe(200);
      expect(first.body).toContain("# TYPE gala_gopher_agent_");
      expect((await hostGet(metricsPort, "/healthz")).status).toBe(200);
      expect((await hostGet(restPort, "/baseinfo")).body).toBe("{}\n");
      const put1 = await hostPut("/baseinfo", { cmd: { probe: ["mem"] }, params: { report_period: 5 }, state: "running" });
      expect(put1.body).toContain('"result": "success"');
      const mem = await scrapeUntil("gala_gopher_mem_total_kB{");
      const r1 = results();
      // machine_id label: the persisted uuid and the guest's address on qemu's network.
      expect(mem).toContain(`machine_id="${r1.machine_id_file}-10.0.2.15"`);
      // An eBPF probe inside the hardened unit: tcp (BTF, embedded libbpf, tracepoints,
      // fentry/kprobes). The host's own scrapes are TCP connections to the agent.
      const tcp = await hostPut("/tcp", { cmd: { probe: ["tcp_stats"] }, params: { report_period: 5 }, state: "running" });
      expect(tcp.body).toContain('"result": "success"');
      await scrapeUntil(/^gala_gopher_tcp_link_rx_bytes\{[^}]*comm="gala-gopher",role="server"[^}]*server_port="8888"/m, 60_000);
      timings.tcp_probe = lap();
      // The socket probe on Debian's 6.1 kernel: the agent's own :8888 listener is found by
      // the socket walk, and fresh connections from the host are passive opens of it
      // (Connection: close, since fetch would otherwise reuse one connection).
      const sock = await hostPut("/socket", { cmd: { probe: ["tcp_socket", "udp_socket"] }, params: { report_period: 5 }, state: "running" });
      expect(sock.body).toContain('"result": "success"');
      await scrapeUntil(/^gala_gopher_endpoint_tcp_listendrop\{[^}]*comm="gala-gopher",role="server",client_ip="0.0.0.0"[^}]*server_port="8888"/m, 90_000);
      for (let i = 0; i < 5; i++) await fetch(`http://127.0.0.1:${metricsPort}/healthz`, { headers: { Connection: "close" }, keepalive: false }).then((r) => r.text());
      await scrapeUntil(/^gala_gopher_endpoint_tcp_passive_open\{[^}]*comm="gala-gopher",role="server"[^}]*server_port="8888"[^}]*\} [1-9]/m, 90_000);
      timings.socket_probe = lap();
      await checkL7();
      timings.l7_probe = lap();
      await checkIo();
      timings.io_probe = lap();
      await checkProc();
      timings.proc_probe = lap();
      await checkFlamegraph();
      timings.flamegraph_probe = lap();
      writeFileSync(join(share, "probes.init"), '# written by the operator\nbaseinfo {"cmd":{"probe":["cpu"]},"params":{"report_period":5},"state":"running"}\n');
      writeFileSync(join(share, "GO1"), "");

      // Step 2: after editing probes.init and `systemctl restart`, its probe runs; the
      // REST change of step 1 is gone (saving is off by default).
      await waitGuest("READY2", 120_000);
      const get2 = JSON.parse((await hostGet(restPort, "/baseinfo")).body);
      expect(get2.cmd.probe).toEqual(["cpu"]);
      expect(get2.state).toBe("running");
      await scrapeUntil("gala_gopher_cpu_");
      const after = (await hostGet(metricsPort, "/metrics")).body;
      expect(after).not.toContain("gala_gopher_mem_total_kB{");
      expect(after).not.toContain("gala_gopher_tcp_link_");
      writeFileSync(join(share, "GO2"), "");

      // Step 3: with GOPHER_SAVE_PROBES=1 (drop-in), a REST change survives a restart.
      await waitGuest("READY3", 120_000);
      const put3 = await hostPut("/baseinfo", { cmd: { probe: ["cpu", "mem"] }, params: { report_period: 5 }, state: "running" });
      expect(put3.body).toContain('"result": "success"');
      writeFileSync(join(share, "GO3"), "");
      await waitGuest("READY4", 120_000);
      const get4 = JSON.parse((await hostGet(restPort, "/baseinfo")).body);
      expect(get4.cmd.probe).toEqual(["cpu", "mem"]);
      expect(get4.state).toBe("running");
      await scrapeUntil("gala_gopher_mem_total_kB{");
      expect(readFileSync(join(share, "probes.init.saved"), "utf8")).toMatch(/^baseinfo \{.*"probe":\["cpu","mem"\]/m);
      writeFileSync(join(share, "GO4"), "");

      // The rest runs in the guest; then it powers off.
      const code = await Promise.race([qemu!.exited, Bun.sleep(180_000).then(() => -1)]);
      timings.poweroff = lap();
      const r = results();
      const log = guestLog();
      console.log(`guest log:\n${log}`);
      if (existsSync(join(share, "journal.log"))) console.log(`journal (tail):\n${readFileSync(join(share, "journal.log"), "utf8").split("\n").slice(-25).join("\n")}`);
      expect(code).toBe(0);
      expect(readFileSync(join(share, "guest.rc"), "utf8").trim()).toBe("0");
      expect(readFileSync(join(share, "journal.log"), "utf8")).toMatch(/\[tcp\] attached .*tcp_probe/);

      console.log(`guest kernel: ${r.kernel} (${r.kernel_version}); BTF: ${r.btf}`);
      expect(r.kernel).toMatch(/^\d+\.\d+\.\d+/);
      expect(r.rpm_q).toMatch(/^gala-gopher-/);
      expect(r.unit_path).toMatch(/^(\/usr)?\/lib\/systemd\/system\/gala-gopher\.service$/); // /lib is /usr/lib (merged /usr)
      expect(r.is_active).toBe("active");
      expect(r.ctl).toContain('"probe":["cpu"]'); // gopher-ctl (the symlink) after step 2
      expect(r.ctl).toContain('"state":"running"');
      expect(r.machine_id_file).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      expect(readFileSync(join(share, "run-dir.txt"), "utf8")).toContain("gala-gopher.pid");
      // Restart=on-failure, RestartSec=1.
      expect(Number(r.n_restarts)).toBeGreaterThanOrEqual(1);
      // SIGTERM: clean exit (status 0), well within 5 s; RuntimeDirectory removed.
      expect(r.stop_result).toBe("success");
      expect(r.stop_exec_main_code).toBe("1"); // CLD_EXITED: it exited, it was not killed
      expect(r.stop_exec_main_status).toBe("0");
      expect(Number(r.stop_ms)).toBeLessThan(5000);
      expect(r.pid_gone).toBe("yes");
      expect(r.run_dir_after_stop).toBe("removed");
      // rpm -e: %preun stopped and disabled it, files gone, edited config saved.
      expect(r.erase_active).not.toBe("active");
      expect(r.erase_bin).toBe("removed");
      expect(r.erase_rpmsave?.trim()).toBe("probes.init.rpmsave"); // edited (saved) by the agent; the rest removed

      const sum = {
        ...timings,
        boot_to_ready1: `${booted.toFixed(1)} s`,
        guest_boot_ms: r.boot_ms,
        install_ms: r.install_ms,
        start_ms: r.start_ms,
        restart_ms: [r.restart_probes_init_ms, r.restart_save_on_ms, r.restart_save_kept_ms].join("/"),
        restart_after_kill_ms: r.restart_after_kill_ms,
        stop_ms: r.stop_ms,
        is_enabled_after_install: r.is_enabled_after_install,
      };
      console.log(`qemu end to end: ${JSON.stringify(sum)}`);
    },
    600_000,
  );
});

// baseinfo on THIS machine, as root: every value checked against an independent reading
// taken in the same test (sysinfo(2), /sys/block/<dev>/stat, the peer end of a veth in
// another network namespace, `tc`, `df`), after the test itself caused a known amount of
// I/O, traffic or space use. Needs root, util-linux (losetup, mount), iproute2 (ip, tc),
// coreutils (dd, df). Everything created is removed in afterAll, also after a failure.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { totalmem } from "node:os";
import { join } from "node:path";
import { DEFAULT_HOST_PATHS, HostFs } from "../../host/fs.ts";
import { openBaseinfo } from "./index.ts";
import { recordingContext } from "./test-context.ts";

const isRoot = process.getuid?.() === 0;
const missing = ["losetup", "ip", "tc", "dd", "df", "mount", "umount"].filter((c) => !Bun.which(c));
const why = !isRoot ? "not running as root" : missing.length ? `missing commands: ${missing.join(", ")}` : "";
if (why) console.log(`skipping baseinfo root tests: ${why}`);
const canRun = why === "";

const cleanups: (() => void)[] = [];
afterAll(() => {
  for (const c of cleanups.reverse()) {
    try {
      c();
    } catch (e) {
      console.warn(`cleanup: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
});

function sh(cmd: string[], opts: { allowFail?: boolean } = {}): string {
  const p = Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe" });
  if (p.exitCode !== 0 && !opts.allowFail) throw new Error(`${cmd.join(" ")}: exit ${p.exitCode}: ${p.stderr.toString().trim()}`);
  return p.stdout.toString();
}

/** Root qdisc figures as `tc -s qdisc show` prints them (first qdisc = root). */
function tcRoot(dev: string): { dropped: number; backlog: number; backlogPackets: number } {
  const out = sh(["tc", "-s", "qdisc", "show", "dev", dev]);
  const m = /dropped (\d+)[\s\S]*?backlog (\d+)b (\d+)p/.exec(out);
  if (!m) throw new Error(`unexpected tc output: ${out}`);
  return { dropped: Number(m[1]), backlog: Number(m[2]), backlogPackets: Number(m[3]) };
}

function uptime(): number {
  return Number(readFileSync("/proc/uptime", "utf8").split(/\s+/)[0]);
}

const live = () => new HostFs(DEFAULT_HOST_PATHS);
const tmp = canRun ? mkdtempSync("/tmp/gg-root-") : "";
if (canRun) cleanups.push(() => rmSync(tmp, { recursive: true, force: true }));

describe.if(canRun)("baseinfo on this machine (root)", () => {
  test("mem total_kB and host memory_MB agree with sysinfo(2)", async () => {
    const ctx = recordingContext(live(), ["mem", "host"]);
    const run = openBaseinfo(ctx);
    await run.collect();
    const kb = totalmem() / 1024; // sysinfo totalram × mem_unit: the same pages MemTotal counts
    expect(ctx.table("system_meminfo")[0]?.total_kB).toBe(kb);
    expect(ctx.table("system_os")[0]?.memory_MB).toBe(String(Math.floor(kb / 1024)));
    expect(ctx.table("system_os")[0]?.kversion).toBe(sh(["uname", "-r"]).trim());
    await run[Symbol.asyncDispose]();
  });

  test("disk: 16 MiB written with O_DIRECT to a loop device (selected by dev_name)", async () => {
    const img = join(tmp, "disk.img");
    writeFileSync(img, "");
    sh(["truncate", "-s", "64M", img]);
    const devPath = sh(["losetup", "--find", "--show", img]).trim();
    cleanups.push(() => sh(["losetup", "-d", devPath], { allowFail: true }));
    const dev = devPath.replace("/dev/", "");
    const sysStat = () => readFileSync(`/sys/block/${dev}/stat`, "utf8").trim().split(/\s+/).map(Number);

    // Default selection: loop devices are not disks.
    const dflt = recordingContext(live(), ["disk"]);
    openBaseinfo(dflt).collect();
    expect(dflt.table("system_iostat").some((r) => r.disk_name === dev)).toBe(false);

    const ctx = recordingContext(live(), ["disk"], { dev_name: dev });
    const run = openBaseinfo(ctx);
    const before = sysStat();
    const t0 = uptime();
    await run.collect();
    expect(ctx.table("system_iostat")).toEqual([expect.objectContaining({ disk_name: dev, wspeed: undefined })]);
    sh(["dd", "if=/dev/zero", `of=${devPath}`, "bs=1M", "count=16", "oflag=direct", "status=none"]);
    await Bun.sleep(1000);
    const after = sysStat();
    const t1 = uptime();
    ctx.clear();
    await run.collect();
    const row = ctx.table("system_iostat")[0];
    expect(row?.disk_name).toBe(dev);
    // /sys/block/<dev>/stat: [4] write I/Os, [6] sectors written
    const ios = (after[4] ?? 0) - (before[4] ?? 0);
    const sectors = (after[6] ?? 0) - (before[6] ?? 0);
    expect(sectors).toBe(32768); // exactly the 16 MiB dd wrote
    expect(ios).toBeGreaterThan(0);
    // time-independent figures: exact
    expect(row?.wareq).toBe((16384 / ios).toFixed(2));
    expect(row?.rspeed).toBe("0.00");
    // rates over the period: KiB/s × seconds is the amount written
    const secs = t1 - t0;
    expect(Math.abs(Number(row?.wspeed_kB) * secs - 16384) / 16384).toBeLessThan(0.03);
    expect(Math.abs(Number(row?.wspeed) * secs - ios) / ios).toBeLessThan(0.03);
    expect(Number(row?.util)).toBeGreaterThanOrEqual(0);
    expect(Number(row?.util)).toBeLessThanOrEqual(100);
    console.log(`loop ${dev}: ${ios} write I/Os, ${sectors} sectors over ${secs.toFixed(2)} s -> ${JSON.stringify(row)}`);
    await run[Symbol.asyncDispose]();
  });

  test("nic: 100 × 1000-byte UDP datagrams over a veth into another namespace", async () => {
    const tag = String(process.pid % 100000);
    const ns = `gg-nic-${tag}`;
    const a = `ggva${tag}`;
    const b = `ggvb${tag}`;
    sh(["ip", "netns", "add", ns]);
    cleanups.push(() => sh(["ip", "netns", "del", ns], { allowFail: true }));
    sh(["ip", "link", "add", a, "address", "02:00:00:00:e7:01", "type", "veth", "peer", "name", b, "address", "02:00:00:00:e7:02"]);
    cleanups.push(() => sh(["ip", "link", "del", a], { allowFail: true }));
    sh(["ip", "link", "set", b, "netns", ns]);
    // No IPv6 (no ND/MLD chatter) and a permanent neighbour (no ARP): only our frames cross.
    writeFileSync(`/proc/sys/net/ipv6/conf/${a}/disable_ipv6`, "1");
    sh(["ip", "netns", "exec", ns, "sh", "-c", `echo 1 > /proc/sys/net/ipv6/conf/${b}/disable_ipv6`]);
    sh(["ip", "addr", "add", "169.254.231.1/30", "dev", a]);
    sh(["ip", "-n", ns, "addr", "add", "169.254.231.2/30", "dev", b]);
    sh(["ip", "neigh", "replace", "169.254.231.2", "lladdr", "02:00:00:00:e7:02", "dev", a, "nud", "permanent"]);
    sh(["ip", "link", "set", a, "up"]);
    sh(["ip", "-n", ns, "link", "set", b, "up"]);
    for (let i = 0; i < 50 && readFileSync(`/sys/class/net/${a}/operstate`, "utf8").trim() !== "up"; i++) await Bun.sleep(20);
    // A receiver on the far end, so no ICMP port-unreachable comes back.
    const sink = Bun.spawn(["ip", "netns", "exec", ns, process.execPath, "-e", 'await Bun.udpSocket({ hostname: "169.254.231.2", port: 9 }); await Bun.sleep(120000);'], { stdout: "ignore", stderr: "ignore" });
    cleanups.push(() => sink.kill("SIGKILL"));
    for (let i = 0; i < 100 && !sh(["ip", "netns", "exec", ns, "cat", "/proc/net/udp"]).includes(":0009 "); i++) await Bun.sleep(20);
    await Bun.sleep(300);

    // Physical-only by default: the veth is not reported without dev_name.
    const dflt = recordingContext(live(), ["nic"]);
    openBaseinfo(dflt).collect();
    expect(dflt.table("nic").some((r) => r.dev_name === a)).toBe(false);

    const peer = () => {
      const line = sh(["ip", "netns", "exec", ns, "cat", "/proc/net/dev"]).split("\n").find((l) => l.trim().startsWith(`${b}:`)) ?? "";
      const v = line.slice(line.indexOf(":") + 1).trim().split(/\s+/).map(Number);
      return { rxBytes: v[0] ?? 0, rxPackets: v[1] ?? 0 };
    };
    const ctx = recordingContext(live(), ["nic"], { dev_name: a });
    const run = openBaseinfo(ctx);
    const p0 = peer();
    const t0 = uptime();
    await run.collect();
    expect(ctx.table("nic")).toEqual([expect.objectContaining({ dev_name: a, status: "UP", tx_bytes: undefined, tc_backlog: 0, tc_ecn_mark: 0, tc_sent_drop: undefined })]);

    const sock = await Bun.udpSocket({ hostname: "169.254.231.1" });
    const payload = new Uint8Array(1000).fill(0x5a);
    for (let i = 0; i < 100; i++) sock.send(payload, 9, "169.254.231.2");
    sock.close();
    await Bun.sleep(1000);
    const p1 = peer();
    const t1 = uptime();
    ctx.clear();
    await run.collect();
    const row = ctx.table("nic")[0];
    const frame = 14 + 20 + 8 + 1000;
    // the peer end received exactly what this end sent, and that is what we sent
    expect(p1.rxPackets - p0.rxPackets).toBe(100);
    expect(p1.rxBytes - p0.rxBytes).toBe(100 * frame);
    expect(row?.tx_packets).toBe(100);
    expect(row?.tx_bytes).toBe(100 * frame);
    expect(row?.tx_dropped).toBe(0);
    expect(Math.abs((Number(row?.txspeed_KB) * (t1 - t0) * 1024) / (100 * frame) - 1)).toBeLessThan(0.03);
    // veth's default qdisc is noqueue: nothing queued or dropped, as tc reports it
    const tc0 = tcRoot(a);
    expect([row?.tc_sent_drop, row?.tc_sent_overlimits, row?.tc_backlog, row?.tc_ecn_mark]).toEqual([0, 0, tc0.backlog, 0]);

    // A starved htb class over a 10-packet pfifo: the qdisc queues 10 and drops the rest.
    sh(["tc", "qdisc", "replace", "dev", a, "root", "handle", "1:", "htb", "default", "10"]);
    sh(["tc", "class", "add", "dev", a, "parent", "1:", "classid", "1:10", "htb", "rate", "8bit", "ceil", "8bit", "burst", "1", "cburst", "1"]);
    sh(["tc", "qdisc", "add", "dev", a, "parent", "1:10", "handle", "10:", "pfifo", "limit", "10"]);
    const q0 = tcRoot(a);
    const p2 = peer();
    const sock2 = await Bun.udpSocket({ hostname: "169.254.231.1" });
    let refused = 0; // a qdisc drop comes back to the sender as ENOBUFS
    for (let i = 0; i < 50; i++) {
      try {
        sock2.send(payload, 9, "169.254.231.2");
      } catch {
        refused++;
      }
    }
    sock2.close();
    await Bun.sleep(300);
    ctx.clear();
    await run.collect();
    const q1 = tcRoot(a);
    const p3 = peer();
    const row2 = ctx.table("nic")[0];
    expect(q1.dropped - q0.dropped).toBeGreaterThan(0);
    expect(refused).toBeLessThanOrEqual(q1.dropped - q0.dropped);
    expect(row2?.tc_sent_drop).toBe(q1.dropped - q0.dropped);
    expect(row2?.tc_backlog).toBe(q1.backlog);
    expect(row2?.tc_backlog).toBeGreaterThan(0);
    expect(row2?.tc_ecn_mark).toBe(0); // htb and pfifo count no ECN marks
    expect(row2?.tx_packets).toBe(p3.rxPackets - p2.rxPackets);
    expect((row2?.tx_packets as number) + (row2?.tc_sent_drop as number) + q1.backlogPackets).toBe(50);
    console.log(`veth ${a} with htb: ${JSON.stringify(row2)}`);
    console.log(`veth ${a}: ${JSON.stringify(row)}`);
    await run[Symbol.asyncDispose]();
  });

  test("fs: a 10 MiB file on a 64 MiB tmpfs, then read-only", async () => {
    const mnt = join(tmp, "mnt");
    mkdirSync(mnt);
    sh(["mount", "-t", "tmpfs", "-o", "size=64m,nr_inodes=1000", "gg-root-tmpfs", mnt]);
    cleanups.push(() => sh(["umount", "-l", mnt], { allowFail: true }));
    writeFileSync(join(mnt, "blob"), new Uint8Array(10 * 1024 * 1024).fill(1));
    const ctx = recordingContext(live(), ["fs"]);
    const run = openBaseinfo(ctx);
    await run.collect();
    const row = ctx.table("system_df").find((r) => r.MountOn === mnt);
    expect(row).toEqual({
      MountOn: mnt,
      MountStatus: "rw",
      Fsname: "gg-root-tmpfs",
      Fstype: "tmpfs",
      Inodes: "1000",
      IUsed: 2, // the root directory and the file
      IFree: 998,
      IUsePer: 1,
      Blocks: "65536",
      Used: 10240,
      Free: 55296,
      UsePer: 16, // ⌈100 × 10240 / 65536⌉
    });
    // df's own view of the same mount
    const df = sh(["df", "-k", "--output=size,used,avail,pcent,itotal,iused,iavail,ipcent", mnt]).trim().split("\n")[1]?.trim().split(/\s+/) ?? [];
    expect(df).toEqual([String(row?.Blocks), String(row?.Used), String(row?.Free), `${String(row?.UsePer)}%`, String(row?.Inodes), String(row?.IUsed), String(row?.IFree), `${String(row?.IUsePer)}%`]);

    sh(["mount", "-o", "remount,ro", mnt]);
    ctx.clear();
    await run.collect();
    expect(ctx.table("system_df").find((r) => r.MountOn === mnt)?.MountStatus).toBe("ro");
    await run[Symbol.asyncDispose]();
  });
});

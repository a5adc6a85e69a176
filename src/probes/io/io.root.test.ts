// The io probe against real kernel activity on a loop device of its own: exact bytes with
// O_DIRECT, every request of the device counted (checked against /proc/diskstats), the
// periods adding up to the activity, page-cache loads and dirtied pages of buffered writes,
// a request held in flight by a frozen file system under the loop device's backing file as a
// latency event in upstream's words, a forced I/O error (the loop device's backing file on a
// full tmpfs) as an io_err event in upstream's words, and the same for a bio-based device (zram over its memory limit:
// the path device mapper takes). Gated on root, the BPF objects, a kernel that runs the
// probe, losetup and dd (the latency event case also on fsfreeze and mkfs.ext4, the zram case
// on the zram module); reasons are printed.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { detectFeatures } from "../../host/features.ts";
import { DEFAULT_HOST_PATHS, HostFs } from "../../host/fs.ts";
import type { Logger } from "../../log/logger.ts";
import type { ProbeRun, ScopeView } from "../../probe/define.ts";
import type { ParamValues } from "../../probe/settings.ts";
import { bpfRootPreflight, recordingContext } from "../../probe/test-root.ts";
import type { ProbeEvent, Row } from "../../store/table.ts";
import { ioUnsupported } from "./bpf.ts";
import probe from "./index.ts";

const MiB = 1024 * 1024;

function sh(cmd: string[]): { ok: boolean; out: string; err: string } {
  const r = Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe" });
  return { ok: r.exitCode === 0, out: r.stdout.toString(), err: r.stderr.toString() };
}

const can = bpfRootPreflight("io probe (root)", () => {
  for (const tool of ["losetup", "dd", "mount"]) if (!sh(["sh", "-c", `command -v ${tool}`]).ok) return `${tool} not installed`;
  return ioUnsupported(detectFeatures());
});

const work = can ? mkdtempSync(join(tmpdir(), "gopher-io-")) : "";
const cleanups: (() => void)[] = [];
afterAll(() => {
  for (const c of cleanups.reverse()) c();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** A loop device over `file`; detached after the tests. */
function loopDevice(file: string, sizeMiB: number): { path: string; name: string; major: number; minor: number } {
  if (!sh(["truncate", "-s", `${sizeMiB}M`, file]).ok) throw new Error(`truncate ${file} failed`);
  const r = sh(["losetup", "-f", "--show", file]);
  if (!r.ok) throw new Error(`losetup: ${r.err}`);
  const path = r.out.trim();
  cleanups.push(() => void sh(["losetup", "-d", path]));
  const name = path.slice("/dev/".length);
  const [major, minor] = new HostFs(DEFAULT_HOST_PATHS).readSys("block", name, "dev")!.trim().split(":").map(Number);
  return { path, name, major: major!, minor: minor! };
}

interface DiskStats {
  ios: number;
  sectorsRead: number;
  sectorsWritten: number;
}

function diskstats(name: string): DiskStats {
  const line = sh(["cat", "/proc/diskstats"]).out.split("\n").find((l) => l.trim().split(/\s+/)[2] === name);
  if (!line) throw new Error(`${name} not in /proc/diskstats`);
  const f = line.trim().split(/\s+/).map(Number);
  // reads, writes, discards and flushes completed
  return { ios: f[3]! + f[7]! + (f[14] ?? 0) + (f[18] ?? 0), sectorsRead: f[5]!, sectorsWritten: f[9]! };
}

const wholeHost: ScopeView = {
  wholeHost: true,
  pids: () => new Set(),
  excluded: () => new Set(),
  containers: () => new Map(),
  includes: () => true,
  labelFor: () => undefined,
  onChange: () => () => undefined,
  [Symbol.dispose]: () => undefined,
};

async function open(subitems: string[], extra: ParamValues = {}, limits: Record<string, number> = {}): Promise<{ rows: { table: string; row: Row }[]; events: ProbeEvent[]; run: ProbeRun; infos: string[] }> {
  const params: ParamValues = { report_period: 60, sample_period: 5000, latency_thr: 0, report_event: 1, dev_name: "", ...extra };
  const infos: string[] = [];
  const log: Logger = { debug() {}, info: (m) => void infos.push(m), warn: (m) => console.warn(`[io test] ${m}`), error: (m) => console.error(`[io test] ${m}`), child: () => log };
  const ctx = recordingContext({ definition: probe, subitems, scope: wholeHost, params, log, limits });
  const { rows, events } = ctx.rec;
  const kit = ctx.kit;
  const run = await probe.open(ctx);
  cleanups.push(() => {
    void run[Symbol.asyncDispose]();
    kit.close();
  });
  return { rows, events, run, infos };
}

/** Rows of `table` for one device, and the sum of a field over them. */
function of(rows: { table: string; row: Row }[], table: string, dev: { major: number; minor: number }): Row[] {
  return rows.filter((r) => r.table === table && r.row.major === String(dev.major) && r.row.first_minor === String(dev.minor)).map((r) => r.row);
}
const total = (rows: Row[], field: string) => rows.reduce((a, r) => a + Number(r[field] ?? 0), 0);

describe("io probe (root)", () => {
  // Both program sets: tp_btf (used wherever it loads) and the raw_tp fallback.
  for (const variant of ["tp_btf", "raw_tp"]) test.if(can)(`64 MiB written and 32 MiB read with O_DIRECT (${variant}): exact bytes, every request counted, periods add up`, async () => {
    const dev = loopDevice(join(work, `direct-${variant}.img`), 128);
    const { rows, run, infos } = await open(["io_trace", "io_count"], {}, { raw_tp: variant === "raw_tp" ? 1 : 0 });
    expect(infos.some((m) => m.startsWith(`attached (${variant})`))).toBe(true);
    await run.collect(); // the period before: whatever it saw is not ours
    rows.length = 0;
    const before = diskstats(dev.name);
    expect(sh(["dd", "if=/dev/zero", `of=${dev.path}`, "bs=1M", "count=64", "oflag=direct"]).ok).toBe(true);
    await run.collect();
    const writePeriod = rows.splice(0);
    expect(sh(["dd", `if=${dev.path}`, "of=/dev/null", "bs=1M", "count=32", "iflag=direct"]).ok).toBe(true);
    await run.collect();
    const readPeriod = rows.splice(0);
    const after = diskstats(dev.name);

    // Each period holds its own activity, exactly.
    expect(total(of(writePeriod, "io_count", dev), "write_bytes")).toBe(64 * MiB);
    expect(total(of(writePeriod, "io_count", dev), "read_bytes")).toBe(0);
    expect(total(of(readPeriod, "io_count", dev), "read_bytes")).toBe(32 * MiB);
    expect(total(of(readPeriod, "io_count", dev), "write_bytes")).toBe(0);
    // The kernel's own accounting of the device agrees.
    expect((after.sectorsWritten - before.sectorsWritten) * 512).toBe(64 * MiB);
    expect((after.sectorsRead - before.sectorsRead) * 512).toBe(32 * MiB);

    const lat = [...of(writePeriod, "io_latency", dev), ...of(readPeriod, "io_latency", dev)];
    expect(lat.length).toBe(2);
    const ios = after.ios - before.ios;
    expect(ios).toBeGreaterThanOrEqual(96); // at least one request per MiB
    for (const stage of ["req", "driver", "device"]) expect(total(lat, `count_latency_${stage}`)).toBe(ios);
    for (const r of lat) {
      const n = Number(r.count_latency_req);
      expect(Number(r.latency_req_sum)).toBeGreaterThan(0);
      expect(Number(r.latency_req_max)).toBeGreaterThanOrEqual(Number(r.latency_req_sum) / n);
      expect(Number(r.latency_req_max)).toBeGreaterThanOrEqual(Number(r.latency_req_last));
      // request = driver + device for every request, so for the sums too
      expect(Number(r.latency_req_sum)).toBe(Number(r.latency_driver_sum) + Number(r.latency_device_sum));
      expect(r.blk_name).toBe(dev.name);
      expect(r.disk_name).toBe(dev.name);
    }
  });

  test.if(can)("latency_thr raises the latency event in upstream's words; dev_name keeps only the named device", async () => {
    const dev = loopDevice(join(work, "event.img"), 16);
    const other = loopDevice(join(work, "other.img"), 16);
    const { rows, events, run } = await open(["io_trace", "io_count"], { latency_thr: 10, dev_name: dev.name });
    await run.collect();
    rows.length = 0;
    events.length = 0;
    const dd = Bun.spawn(["dd", "if=/dev/zero", `of=${dev.path}`, "bs=64k", "count=16", "oflag=direct"], { stdout: "ignore", stderr: "ignore" });
    expect(await dd.exited).toBe(0);
    expect(sh(["dd", "if=/dev/zero", `of=${other.path}`, "bs=64k", "count=16", "oflag=direct"]).ok).toBe(true);
    await run.collect();
    expect(total(of(rows, "io_count", dev), "write_bytes")).toBe(16 * 65536);
    expect(of(rows, "io_count", other)).toEqual([]); // dev_name filters it out
    expect(rows.every((r) => r.row.blk_name === dev.name)).toBe(true);
    // latency_thr is in ms (not upstream's << 3): the event comes exactly when the period's
    // request-stage maximum reaches 10 ms.
    const reqMax = Math.max(...of(rows, "io_latency", dev).map((r) => Number(r.latency_req_max)));
    const ev = events.filter((e) => e.metric === "latency_req_max");
    expect(ev.length).toBe(reqMax >= 10_000_000 ? 1 : 0);
    for (const e of ev) {
      expect(e).toMatchObject({ entity: "block", key: `${dev.major}_${dev.minor}`, device: dev.name });
      expect(e.message).toMatch(
        new RegExp(`^IO latency occured\\.\\(Disk ${dev.name}\\(${dev.major}:${dev.minor}\\), COMM dd, PID ${dd.pid}, op: W#[#A][#S]#, datalen 65536, drv_latency \\d+, dev_latency \\d+\\)$`),
      );
    }
  });

  // A request that really takes long: loop A's backing file lives on an ext4 file system
  // (on loop B) that is frozen while a write to A is in flight. Loop A writes its backing
  // file through the page cache (dio 0), so its worker waits in the frozen file system's
  // sb_start_write until the thaw; the request stays in flight that long.
  const slowWhy = !can ? "" : ["fsfreeze", "mkfs.ext4"].find((t) => !sh(["sh", "-c", `command -v ${t}`]).ok);
  if (slowWhy) console.warn(`io probe (root): latency event case skipped: ${slowWhy} not installed`);
  test.if(can && !slowWhy)("a request held by a frozen file system raises exactly one latency event in upstream's words; a higher latency_thr none", async () => {
    const lower = join(work, "frozen.img");
    if (!sh(["truncate", "-s", "64M", lower]).ok) throw new Error(`truncate ${lower} failed`);
    const mkfs = sh(["mkfs.ext4", "-q", "-F", lower]);
    if (!mkfs.ok) throw new Error(`mkfs.ext4: ${mkfs.err}`);
    const fsDev = loopDevice(lower, 64); // same size: truncate keeps the file system
    const mnt = join(work, "frozen");
    sh(["mkdir", "-p", mnt]);
    const m = sh(["mount", "-t", "ext4", fsDev.path, mnt]);
    if (!m.ok) throw new Error(`mount ext4 ${fsDev.path}: ${m.err}`);
    cleanups.push(() => void (sh(["umount", mnt]).ok || sh(["umount", "-l", mnt])));
    const dev = loopDevice(join(mnt, "backing.img"), 16);
    expect(sh(["cat", `/sys/block/${dev.name}/loop/dio`]).out.trim()).toBe("0");
    const thaw = () => void sh(["fsfreeze", "-u", mnt]);
    cleanups.push(thaw); // runs first: nothing below can be released while frozen

    const fires = await open(["io_trace"], { latency_thr: 10, dev_name: dev.name });
    const quiet = await open(["io_trace"], { latency_thr: 1000, dev_name: dev.name });
    for (const p of [fires, quiet]) {
      await p.run.collect();
      p.rows.length = 0;
      p.events.length = 0;
    }
    const inflightWrites = () => Number(sh(["cat", `/sys/block/${dev.name}/inflight`]).out.trim().split(/\s+/)[1]);
    const freeze = sh(["fsfreeze", "-f", mnt]);
    if (!freeze.ok) throw new Error(`fsfreeze -f ${mnt}: ${freeze.err}`);
    let dd: ReturnType<typeof Bun.spawn>;
    try {
      dd = Bun.spawn(["dd", "if=/dev/zero", `of=${dev.path}`, "bs=64k", "count=1", "oflag=direct"], { stdout: "ignore", stderr: "ignore" });
      const deadline = Date.now() + 5000;
      while (inflightWrites() !== 1 && Date.now() < deadline) await Bun.sleep(1);
      expect(inflightWrites()).toBe(1);
      await Bun.sleep(60);
      // Still held: the loop worker is blocked on the frozen file system, dd waits for it.
      expect(inflightWrites()).toBe(1);
      expect(dd.exitCode).toBeNull();
    } finally {
      thaw();
    }
    expect(await dd.exited).toBe(0);
    for (const p of [fires, quiet]) await p.run.collect();

    for (const p of [fires, quiet]) {
      const lat = of(p.rows, "io_latency", dev);
      expect(lat.length).toBe(1);
      expect(Number(lat[0]!.count_latency_req)).toBe(1);
      expect(Number(lat[0]!.latency_req_max)).toBeGreaterThanOrEqual(60_000_000);
      expect(Number(lat[0]!.latency_req_max)).toBeLessThan(1000_000_000); // below the quiet probe's latency_thr
      expect(p.rows.every((r) => r.row.blk_name === dev.name)).toBe(true); // dev_name: not loop B
    }
    expect(quiet.events).toEqual([]);
    expect(fires.events.length).toBe(1);
    const ev = fires.events[0]!;
    expect(ev).toMatchObject({ entity: "block", metric: "latency_req_max", key: `${dev.major}_${dev.minor}`, device: dev.name });
    expect(ev.message).toMatch(
      new RegExp(`^IO latency occured\\.\\(Disk ${dev.name}\\(${dev.major}:${dev.minor}\\), COMM dd, PID ${dd!.pid}, op: W#[#A][#S]#, datalen 65536, drv_latency \\d+, dev_latency \\d+\\)$`),
    );
  });

  test.if(can)("buffered writes and reads: pages loaded into and dirtied in the page cache of the device", async () => {
    const dev = loopDevice(join(work, "cached.img"), 16);
    const { rows, run } = await open(["page_cache", "io_count"]);
    await run.collect();
    rows.length = 0;
    expect(sh(["dd", "if=/dev/zero", `of=${dev.path}`, "bs=4k", "count=256", "conv=fsync"]).ok).toBe(true);
    await run.collect();
    const pc = of(rows, "io_pagecache", dev);
    expect(total(pc, "load_page_cache")).toBe(256);
    expect(total(pc, "mark_page_dirty")).toBe(256);
    expect(total(of(rows, "io_count", dev), "write_bytes")).toBe(256 * 4096);
    rows.length = 0;
    expect(sh(["dd", `if=${dev.path}`, "of=/dev/null", "bs=4k", "count=256"]).ok).toBe(true);
    await run.collect();
    if (rows.some((r) => r.table === "io_pagecache" && r.row.access_pagecache !== undefined)) {
      expect(total(of(rows, "io_pagecache", dev), "access_pagecache")).toBeGreaterThanOrEqual(256);
    } else console.warn("io probe (root): access_pagecache has no source on this kernel (no filemap lookup tracepoints)");
  });

  test.if(can)("a forced I/O error (backing file on a full tmpfs) raises io_err in upstream's words", async () => {
    const small = join(work, "small");
    sh(["mkdir", "-p", small]);
    const m = sh(["mount", "-t", "tmpfs", "-o", "size=2M", "tmpfs", small]);
    if (!m.ok) throw new Error(`mount tmpfs: ${m.err}`);
    cleanups.push(() => void sh(["umount", small]));
    const dev = loopDevice(join(small, "backing"), 16);
    const { events, run } = await open(["io_trace", "io_err"]);
    const dd = Bun.spawn(["dd", "if=/dev/zero", `of=${dev.path}`, "bs=1M", "count=4", "oflag=direct"], { stdout: "ignore", stderr: "pipe" });
    expect(await dd.exited).not.toBe(0);
    expect(await new Response(dd.stderr).text()).toContain("No space left on device");
    await run.collect(); // drains the ring
    const mine = events.filter((e) => e.key === `${dev.major}_${dev.minor}`);
    expect(mine.length).toBeGreaterThanOrEqual(1);
    for (const e of mine) {
      expect(e).toMatchObject({ entity: "block", metric: "err_code", device: dev.name });
      expect(e.message).toMatch(
        new RegExp(
          `^IO errors occured\\.\\(Disk ${dev.name}\\(${dev.major}:${dev.minor}\\), COMM dd, PID ${dd.pid}, op: W\\S*, datalen \\d+, ` +
            `blk_err\\(3\\) 'critical space allocation', scsi_err\\(0\\) 'UNKNOW', timestamp \\d+\\.\\d{6}\\)$`,
        ),
      );
    }
  });

  // A bio-based device (no requests): zram refuses writes beyond its memory limit with BLK_STS_IOERR.
  const zram = can && new HostFs(DEFAULT_HOST_PATHS).exists("/sys/class/zram-control/hot_add");
  if (can && !zram) console.warn("io probe (root): bio-based error case skipped: no zram module (/sys/class/zram-control)");
  for (const variant of ["tp_btf", "raw_tp"]) test.if(!!zram)(`a failed bio of a bio-based device (zram over its memory limit, ${variant}) raises io_err from block_bio_complete`, async () => {
    const id = sh(["cat", "/sys/class/zram-control/hot_add"]).out.trim();
    expect(id).toMatch(/^\d+$/);
    const name = `zram${id}`;
    cleanups.push(() => {
      sh(["sh", "-c", `echo 1 > /sys/block/${name}/reset`]);
      sh(["sh", "-c", `echo ${id} > /sys/class/zram-control/hot_remove`]);
    });
    expect(sh(["sh", "-c", `echo 16M > /sys/block/${name}/disksize && echo 256K > /sys/block/${name}/mem_limit`]).ok).toBe(true);
    const [major, minor] = new HostFs(DEFAULT_HOST_PATHS).readSys("block", name, "dev")!.trim().split(":");
    const { events, run } = await open(["io_err"], {}, { raw_tp: variant === "raw_tp" ? 1 : 0 });
    const dd = Bun.spawn(["dd", "if=/dev/urandom", `of=/dev/${name}`, "bs=64k", "count=64", "oflag=direct"], { stdout: "ignore", stderr: "ignore" });
    expect(await dd.exited).not.toBe(0);
    await run.collect();
    const mine = events.filter((e) => e.key === `${major}_${minor}`);
    expect(mine.length).toBeGreaterThanOrEqual(1);
    for (const e of mine) {
      expect(e).toMatchObject({ entity: "block", metric: "err_code", device: name });
      expect(e.message).toMatch(
        new RegExp(`^IO errors occured\\.\\(Disk ${name}\\(${major}:${minor}\\), COMM dd, PID ${dd.pid}, op: W\\S*, datalen 65536, blk_err\\(10\\) 'I/O error', scsi_err\\(0\\) 'UNKNOW', timestamp \\d+\\.\\d{6}\\)$`),
      );
    }
  });
});

import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { countRow, errEvent, IoAggregator, latencyEvent, latencyRow, pagecacheRow } from "./aggregate.ts";
import { blkErr, decodeCpuStats, decodeErr, DEFAULT_REQ_FLAG_BITS, ERR, kernelRwbs, PERIOD, statusErrno, STATS, upstreamRwbs, type CpuStats, type PeriodSlot } from "./decode.ts";
import { ioTables } from "./tables.ts";

const B = DEFAULT_REQ_FLAG_BITS;

function slot(epoch = 0, o: Partial<PeriodSlot> = {}): PeriodSlot {
  return { epoch, maxPid: 0, maxLen: 0, maxFlags: 0, maxComm: "", max: [0, 0, 0], last: [0, 0, 0], lastTs: [0n, 0n, 0n], jitter: [0, 0, 0], ...o };
}

function cpu(o: Partial<CpuStats> = {}): CpuStats {
  return {
    periods: [slot(), slot()],
    sum: [0n, 0n, 0n],
    count: [0n, 0n, 0n],
    readBytes: 0n,
    writeBytes: 0n,
    accessPagecache: 0n,
    markBufferDirty: 0n,
    loadPageCache: 0n,
    markPageDirty: 0n,
    ...o,
  };
}

const dev = { major: 7, firstMinor: 0 };
const names = { blk: "loop0", disk: "loop0" };

describe("IoAggregator", () => {
  test("per-period deltas over CPUs sum to the kernel's totals", () => {
    const agg = new IoAggregator();
    // Cumulative totals per CPU at the end of each of four periods.
    const cumulative = [
      [cpu({ readBytes: 4096n, count: [1n, 1n, 1n], sum: [10n, 2n, 8n] }), cpu()],
      [cpu({ readBytes: 8192n, count: [2n, 2n, 2n], sum: [30n, 4n, 26n] }), cpu({ writeBytes: 512n, count: [1n, 1n, 1n], sum: [5n, 1n, 4n] })],
      [cpu({ readBytes: 8192n, count: [2n, 2n, 2n], sum: [30n, 4n, 26n] }), cpu({ writeBytes: 512n, count: [1n, 1n, 1n], sum: [5n, 1n, 4n] })],
      [cpu({ readBytes: 10240n, count: [3n, 3n, 3n], sum: [40n, 5n, 35n], markPageDirty: 3n }), cpu({ writeBytes: 1024n, count: [2n, 2n, 2n], sum: [9n, 2n, 7n] })],
    ];
    let read = 0;
    let write = 0;
    let count = 0;
    let sum = 0;
    let dirty = 0;
    let rows = 0;
    cumulative.forEach((cpus, i) => {
      const { active } = agg.period(i + 1, [{ dev, cpus }]);
      for (const p of active) {
        read += p.readBytes;
        write += p.writeBytes;
        count += p.stages[0]!.count;
        sum += p.stages[0]!.sum;
        dirty += p.markPageDirty;
        rows++;
      }
    });
    expect({ read, write, count, sum, dirty }).toEqual({ read: 10240, write: 1024, count: 5, sum: 49, dirty: 3 });
    expect(rows).toBe(3); // the idle third period reports nothing
  });

  test("max, jitter and last come from the ended period's slot; stale slots are ignored", () => {
    const agg = new IoAggregator();
    const a = cpu({ count: [2n, 0n, 0n], sum: [300n, 0n, 0n] });
    a.periods[1] = slot(3, { max: [200, 0, 0], last: [100, 0, 0], lastTs: [50n, 0n, 0n], jitter: [100, 0, 0], maxPid: 42, maxComm: "dd", maxFlags: 1, maxLen: 4096 });
    const b = cpu({ count: [1n, 0n, 0n], sum: [150n, 0n, 0n] });
    b.periods[1] = slot(3, { max: [150, 0, 0], last: [150, 0, 0], lastTs: [60n, 0n, 0n] });
    b.periods[0] = slot(2, { max: [999, 0, 0], last: [999, 0, 0], lastTs: [10n, 0n, 0n] }); // an older period
    const { active } = agg.period(3, [{ dev, cpus: [a, b] }]);
    const st = active[0]!.stages[0]!;
    expect(st).toEqual({ max: 200, last: 150, sum: 450, jitter: 100, count: 3 });
    expect(active[0]!.slowest).toEqual({ pid: 42, comm: "dd", flags: 1, len: 4096 });
  });

  test("a recreated entry counts from zero; idle disks are retired after the idle periods", () => {
    const agg = new IoAggregator(2);
    agg.period(1, [{ dev, cpus: [cpu({ readBytes: 1000n })] }]);
    const again = agg.period(2, [{ dev, cpus: [cpu({ readBytes: 300n })] }]);
    expect(again.active[0]!.readBytes).toBe(300);
    expect(agg.period(3, [{ dev, cpus: [cpu({ readBytes: 300n })] }]).retire).toEqual([]);
    expect(agg.period(4, [{ dev, cpus: [cpu({ readBytes: 300n })] }]).retire).toEqual([dev]);
  });
});

describe("rows", () => {
  const agg = new IoAggregator();
  const c = cpu({ readBytes: 8192n, count: [1n, 1n, 1n], sum: [30n, 10n, 20n], loadPageCache: 2n });
  c.periods[1] = slot(1, { max: [30, 10, 20], last: [30, 10, 20], lastTs: [1n, 1n, 1n] });
  const p = agg.period(1, [{ dev, cpus: [c] }]).active[0]!;

  test("io_latency, io_count and io_pagecache carry exactly the spec's fields", () => {
    const fields = (name: string) => ioTables.find((t) => t.name === name)!.fields.map((f) => f.name).sort();
    expect(Object.keys(latencyRow(p, names)!).sort()).toEqual(fields("io_latency"));
    expect(Object.keys(countRow(p, names)!).sort()).toEqual(fields("io_count"));
    expect(Object.keys(pagecacheRow(p, names, true)!).sort()).toEqual(fields("io_pagecache"));
    expect(latencyRow(p, names)).toMatchObject({ major: "7", first_minor: "0", latency_req_max: 30, latency_driver_sum: 10, count_latency_device: 1 });
    expect(countRow(p, names)).toMatchObject({ read_bytes: 8192, write_bytes: 0 });
    expect(pagecacheRow(p, names, false)!.access_pagecache).toBeUndefined();
  });

  test("latency event: latency_thr ms against the request-stage maximum in ns (not upstream's × 8)", () => {
    const slow = { ...p, stages: [{ ...p.stages[0]!, max: 30_000_000 }, ...p.stages.slice(1)] };
    expect(latencyEvent(slow, names, 0, B)).toBeUndefined();
    expect(latencyEvent(p, names, 10, B)).toBeUndefined(); // 30 ns: upstream's 30 >= 80 would not fire either
    expect(latencyEvent({ ...p, stages: [{ ...p.stages[0]!, max: 80 }, ...p.stages.slice(1)] }, names, 10, B)).toBeUndefined(); // upstream's × 8 fired here
    expect(latencyEvent(slow, names, 31, B)).toBeUndefined(); // 30 ms < 31 ms
    const e = latencyEvent(slow, names, 30, B)!; // 30 ms >= 30 ms
    expect(e).toMatchObject({ entity: "block", key: "7_0", metric: "latency_req_max", device: "loop0" });
    expect(e.message).toBe("IO latency occured.(Disk loop0(7:0), COMM , PID 0, op: R####, datalen 0, drv_latency 10, dev_latency 20)");
  });
});

describe("decode", () => {
  test("rwbs: the kernel's form and upstream's 5-character form", () => {
    const sync = 1 << B.sync;
    expect(kernelRwbs(1 | sync, B)).toBe("WS");
    expect(kernelRwbs(0 | (1 << B.rahead), B)).toBe("RA");
    expect(kernelRwbs(1 | (1 << B.preflush) | (1 << B.fua), B)).toBe("FWF");
    expect(kernelRwbs(2, B)).toBe("F");
    expect(upstreamRwbs(1 | sync, B)).toBe("W##S#");
  });

  test("block status → upstream's blk_err number and text", () => {
    expect(blkErr(statusErrno(10))).toEqual({ code: 10, text: "I/O error" });
    expect(blkErr(statusErrno(3))).toEqual({ code: 3, text: "critical space allocation" });
    expect(blkErr(statusErrno(17))).toEqual({ code: 0, text: "UNKNOW" }); // -ENODEV is not in upstream's table
  });

  test("io_err record and its event text", () => {
    const v = new DataView(new ArrayBuffer(ERR.size));
    v.setUint32(ERR.major, 7, true);
    v.setUint32(ERR.first_minor, 3, true);
    v.setUint32(ERR.pid, 1234, true);
    v.setUint32(ERR.data_len, 1048576, true);
    v.setUint32(ERR.flags, 1, true);
    v.setUint32(ERR.status, 10, true);
    v.setBigUint64(ERR.ts_ns, 5_000_123_456n, true);
    new TextEncoder().encodeInto("dd", new Uint8Array(v.buffer, ERR.comm, 16));
    const e = decodeErr(v);
    expect(e).toMatchObject({ major: 7, firstMinor: 3, pid: 1234, comm: "dd", status: 10 });
    expect(errEvent(e, { blk: "loop3", disk: "loop3" }, B)).toEqual({
      entity: "block",
      key: "7_3",
      metric: "err_code",
      device: "loop3",
      message: "IO errors occured.(Disk loop3(7:3), COMM dd, PID 1234, op: W, datalen 1048576, blk_err(10) 'I/O error', scsi_err(0) 'UNKNOW', timestamp 5000.123456)",
    });
  });

  test("per-CPU stats value", () => {
    const v = new DataView(new ArrayBuffer(STATS.size));
    v.setUint32(STATS.period + PERIOD.size + PERIOD.epoch, 9, true);
    v.setBigUint64(STATS.period + PERIOD.size + PERIOD.max + 16, 77n, true);
    v.setBigUint64(STATS.count + 8, 5n, true);
    v.setBigUint64(STATS.write_bytes, 1n << 60n, true);
    const s = decodeCpuStats(v);
    expect(s.periods[1].epoch).toBe(9);
    expect(s.periods[1].max[2]).toBe(77);
    expect(s.count[1]).toBe(5n);
    expect(s.writeBytes).toBe(1n << 60n);
  });
});

test("tables.ts matches spec metrics.json (feature io)", () => {
  const spec = JSON.parse(readFileSync(join(import.meta.dir, "../../../../shared/spec/metrics.json"), "utf8")) as {
    feature: string;
    table_name: string;
    entity_name: string;
    meta_version: string;
    fields: { name: string; type: string; description: string }[];
  }[];
  const want = spec.filter((t) => t.feature === "io").map((t) => ({ name: t.table_name, entity: t.entity_name, version: t.meta_version, fields: t.fields }));
  const got: unknown = ioTables.map((t) => ({ name: t.name, entity: t.entity, version: t.version, fields: t.fields }));
  expect(got).toEqual(want);
});

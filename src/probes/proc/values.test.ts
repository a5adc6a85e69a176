import { describe, expect, test } from "bun:test";
import { decodeVals, ioctlRow, PeriodDeltas, S, SLOT_COUNT, TABLE_SLOTS, VALS_BYTES } from "./values.ts";

function vals(set: Record<number, number>): Float64Array {
  const v = new Float64Array(SLOT_COUNT);
  for (const [k, n] of Object.entries(set)) v[Number(k)] = n;
  return v;
}

describe("proc values", () => {
  test("decodes struct proc_vals little-endian u64 slots", () => {
    const buf = new DataView(new ArrayBuffer(VALS_BYTES + 8));
    buf.setBigUint64(8 + S.OFFCPU * 8, 2_000_000_123n, true);
    buf.setBigUint64(8 + S.SYSCALL_FAILED * 8, 1000n, true);
    const v = decodeVals(buf, 8);
    expect(v[S.OFFCPU]).toBe(2_000_000_123);
    expect(v[S.SYSCALL_FAILED]).toBe(1000);
    expect(v[S.READ]).toBe(0);
  });

  test("every field of a table is fed by one distinct slot", () => {
    const slots = TABLE_SLOTS.flatMap((t) => t.fields.map(([, s]) => s));
    expect(new Set(slots).size).toBe(slots.length);
    for (const t of TABLE_SLOTS) {
      expect(t.fields.map(([f]) => f)).toEqual(t.table.fields.filter((f) => f.type !== "key").map((f) => f.name));
      // Slots only (not the exit marker or the ioctl time, read outside the tables).
      for (const [, s] of t.fields) {
        if (typeof s !== "number") continue;
        expect([S.EXITED, S.IOCTL]).not.toContain(s);
        expect(s).toBeLessThan(SLOT_COUNT);
      }
    }
  });

  test("deltas per period sum to the cumulative value; tables appear once active", () => {
    const d = new PeriodDeltas();
    const on = new Set(["proc_syscall", "proc_offcpu"]);
    expect(d.rows(7, vals({}), on)).toEqual([]);
    const r1 = d.rows(7, vals({ [S.SYSCALL_FAILED]: 600 }), on);
    expect(r1).toEqual([{ table: TABLE_SLOTS[0]!.table, row: { tgid: "7", syscall_failed: 600 } }]);
    const r2 = d.rows(7, vals({ [S.SYSCALL_FAILED]: 1000, [S.OFFCPU]: 5 }), on);
    expect(r2.map((r) => [r.table.name, r.row])).toEqual([
      ["proc_syscall", { tgid: "7", syscall_failed: 400 }],
      ["proc_cpu", { tgid: "7", iowait_ns: 0, offcpu_ns: 5 }],
    ]);
    // A quiet period still reports zeros for the tables it was active in.
    const r3 = d.rows(7, vals({ [S.SYSCALL_FAILED]: 1000, [S.OFFCPU]: 5 }), on);
    expect(r3.map((r) => r.row)).toEqual([
      { tgid: "7", syscall_failed: 0 },
      { tgid: "7", iowait_ns: 0, offcpu_ns: 0 },
    ]);
    // Disabled subitems emit nothing.
    expect(d.rows(7, vals({ [S.READ]: 9 }), new Set(["proc_io"])).map((r) => r.row)).toEqual([{ tgid: "7", ns_mount: 0, ns_umount: 0, ns_read: 9, ns_write: 0, ns_fsync: 0 }]);
  });

  test("proc_io and proc_pygc: counts per period, the period's maxima, GC time in ms", () => {
    const d = new PeriodDeltas();
    const on = new Set(["proc_io", "proc_pygc"]);
    const table = (rows: ReturnType<PeriodDeltas["rows"]>, name: string) => rows.find((r) => r.table.name === name)?.row;
    const r1 = d.rows(3, vals({ [S.BIO_WRITE_BIG]: 1024, [S.BIO_WRITE_SMALL]: 100, [S.BIO_ERR]: 2, [S.PYGC]: 7, [S.PYGC_NS]: 3_500_000 }), on, { bio: 4_000_000, pygc: 900_000 });
    expect(table(r1, "proc_io")).toEqual({ tgid: "3", less_4k_io_read: 0, less_4k_io_write: 100, greater_4k_io_read: 0, greater_4k_io_write: 1024, bio_latency: 4_000_000, bio_err_count: 2, hang_count: 0 });
    expect(table(r1, "proc_pygc")).toEqual({ tgid: "3", python_gc: 7, latency_sum: 3.5, latency_max: 0.9 });
    const r2 = d.rows(3, vals({ [S.BIO_WRITE_BIG]: 1024, [S.BIO_WRITE_SMALL]: 100, [S.BIO_READ_BIG]: 512, [S.BIO_ERR]: 2, [S.PYGC]: 7, [S.PYGC_NS]: 3_500_000 }), on, { bio: 250, pygc: 0 });
    expect(table(r2, "proc_io")).toEqual({ tgid: "3", less_4k_io_read: 0, less_4k_io_write: 0, greater_4k_io_read: 512, greater_4k_io_write: 0, bio_latency: 250, bio_err_count: 0, hang_count: 0 });
    expect(table(r2, "proc_pygc")).toEqual({ tgid: "3", python_gc: 0, latency_sum: 0, latency_max: 0 });
    // A maximum alone (a bio completed, its count was in an earlier period) makes the table active.
    expect(d.rows(4, vals({}), on, { bio: 10, pygc: 0 }).map((r) => r.table.name)).toEqual(["proc_io"]);
  });

  test("a reused entry (values went down) counts from zero; forget drops the history", () => {
    const d = new PeriodDeltas();
    const on = new Set(["proc_syscall"]);
    d.rows(9, vals({ [S.SYSCALL_FAILED]: 50 }), on);
    expect(d.rows(9, vals({ [S.SYSCALL_FAILED]: 3 }), on)[0]!.row).toEqual({ tgid: "9", syscall_failed: 3 });
    d.forget(9);
    expect([...d.tgids()]).toEqual([]);
    expect(d.rows(9, vals({}), on)).toEqual([]);
  });

  test("ioctl row: the _IOC fields of the slowest call and the period's time", () => {
    // BLKGETSIZE64 = _IOR(0x12, 114, size_t) = 0x80081272
    expect(ioctlRow(5, { ns: 10, fd: 3, cmd: 0x80081272 }, 99)).toEqual({ tgid: "5", ioctl_fd: "3", ioctl_dir: "2", ioctl_type: "18", ioctl_nr: "114", ioctl_size: 8, ns_ioctl: 99 });
    const d = new PeriodDeltas();
    d.rows(5, vals({ [S.IOCTL]: 40 }), new Set());
    d.rows(5, vals({ [S.IOCTL]: 100 }), new Set());
    expect(d.ioctlDelta(5)).toBe(60);
    expect(d.ioctlDelta(6)).toBe(0);
  });
});

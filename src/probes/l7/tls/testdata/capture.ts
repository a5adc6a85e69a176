// Test helper: the records of testdata/tlstest.bpf.c's ring (what tls.h emitted through the
// stand-in l7_emit), per process and direction, and the checks every TLS test makes on them.
import { expect } from "bun:test";
import type { BpfObject } from "../../../../libbpf/object.ts";
import { sumPerCpuU64 } from "../../../../libbpf/percpu.ts";
import { RingBufferReader } from "../../../../libbpf/ringbuf.ts";

/** struct tls_test_rec: tgid u32, fd s32, len u64, ts u64, cap u32, dir u8, ssl u8, pad, data. */
export interface TlsRecord {
  tgid: number;
  fd: number;
  len: number;
  ts: bigint;
  cap: number;
  dir: "send" | "recv";
  ssl: number;
  data: Buffer;
}

/** tls.h's enum tls_stat. */
const STATS = ["TLS_SSL_NO_FD", "TLS_GO_NO_FD", "TLS_GO_UNPAIRED", "TLS_SSL_UNPAIRED"] as const;

export class TlsCapture implements Disposable {
  readonly records: TlsRecord[] = [];
  private readonly reader: RingBufferReader;

  constructor(private readonly obj: BpfObject) {
    this.reader = new RingBufferReader(obj.map("tls_test_events"));
  }

  drain(): void {
    this.reader.drain((v, off) => {
      const cap = v.getUint32(off + 24, true);
      this.records.push({
        tgid: v.getUint32(off, true),
        fd: v.getInt32(off + 4, true),
        len: Number(v.getBigUint64(off + 8, true)),
        ts: v.getBigUint64(off + 16, true),
        cap,
        dir: v.getUint8(off + 28) === 0 ? "send" : "recv",
        ssl: v.getUint8(off + 29),
        data: Buffer.from(new Uint8Array(v.buffer, v.byteOffset + off + 32, cap)),
      });
    });
  }

  /** The plaintext process `tgid` moved in `dir`, in order (latin1). */
  stream(tgid: number, dir: "send" | "recv"): string {
    this.drain();
    return Buffer.concat(this.records.filter((r) => r.tgid === tgid && r.dir === dir).map((r) => r.data)).toString("latin1");
  }

  /** Waits (up to `ms`) for `cond`, draining the ring. */
  async until(cond: () => boolean, ms = 15_000): Promise<void> {
    const end = Date.now() + ms;
    for (;;) {
      this.drain();
      if (cond() || Date.now() > end) return;
      await Bun.sleep(20);
    }
  }

  /** Every record of `pids`: whole (cap == len), ssl = 1, and on a socket the process accepted or created. */
  expectSocketsAndSsl(pids: number[]): void {
    const sockets = this.obj.map("tt_sockets");
    const v = new Uint32Array(1);
    for (const pid of pids) {
      const recs = this.records.filter((r) => r.tgid === pid);
      expect(recs.length).toBeGreaterThan(0);
      for (const r of recs) {
        expect({ pid, fd: r.fd, ssl: r.ssl, whole: r.cap === r.len }).toEqual({ pid, fd: r.fd, ssl: 1, whole: true });
        expect({ pid, fd: r.fd, socket: sockets.lookup(new Int32Array([pid, r.fd]), v) }).toEqual({ pid, fd: r.fd, socket: true });
      }
    }
    expect(this.lost()).toBe(0);
  }

  lost(): number {
    const v = new BigUint64Array(1);
    return this.obj.map("tls_test_lost").lookup(new Uint32Array([0]), v) ? Number(v[0]) : 0;
  }

  stats(): Record<(typeof STATS)[number], number> {
    const m = this.obj.map("tls_stats");
    return Object.fromEntries(STATS.map((s, i) => [s, Number(sumPerCpuU64(m, new Uint32Array([i]))[0])])) as Record<(typeof STATS)[number], number>;
  }

  [Symbol.dispose](): void {
    this.reader[Symbol.dispose]();
  }
}

// Decoding of the io probe's kernel records (bpf/io/io.h) and the texts of its events:
// the layouts below are checked against the object's BTF when it loads (bpf.ts), the
// rwbs strings follow the kernel's blk_fill_rwbs and upstream's own 5-character form,
// and block status codes map to upstream's blk_err numbers and descriptions.

export const STAGES = 3;
export const STAGE_NAMES = ["req", "driver", "device"] as const;

/** Byte offsets of the C structs (bpf/io/io.h). */
export const PERIOD = { epoch: 0, max_pid: 4, max_len: 8, max_flags: 12, max_comm: 16, max: 32, last: 56, last_ts: 80, jitter: 104, size: 128 } as const;
export const STATS = {
  period: 0,
  sum: 256,
  count: 280,
  read_bytes: 304,
  write_bytes: 312,
  access_pagecache: 320,
  mark_buffer_dirty: 328,
  load_page_cache: 336,
  mark_page_dirty: 344,
  size: 352,
} as const;
export const ERR = { major: 0, first_minor: 4, pid: 8, data_len: 12, flags: 16, status: 20, ts_ns: 24, comm: 32, size: 48 } as const;
export const INFLIGHT = { queued_ns: 0, issue_ns: 8, pid: 16, failed: 20, comm: 24, size: 40 } as const;
export const CFG = { epoch: 0, err_tp: 4, size: 8 } as const;
export const DEV_KEY_SIZE = 8;

/** Reasons of the kernel's `drops` counters, by index (GIO_DROP_*). */
export const DROP_REASONS = ["inflight_full", "device_map_full", "ringbuf_full"] as const;

export class LayoutMismatch extends Error {
  readonly code = "EIO_LAYOUT";
  constructor(detail: string) {
    super(`io.bpf.o does not match src/probes/io/decode.ts: ${detail}`);
  }
}

/** Throws when a struct of the object's BTF differs from the offsets this file expects. */
export function checkLayout(name: string, btf: { size: number; members: Map<string, { offset: number }> } | undefined, want: Readonly<Record<string, number>>): void {
  if (!btf) throw new LayoutMismatch(`struct ${name} missing from its BTF`);
  for (const [field, off] of Object.entries(want)) {
    if (field === "size") {
      if (btf.size !== off) throw new LayoutMismatch(`sizeof(struct ${name}) is ${btf.size}, expected ${off}`);
      continue;
    }
    const m = btf.members.get(field);
    if (!m || m.offset !== off) throw new LayoutMismatch(`struct ${name}.${field} at ${m?.offset ?? "nowhere"}, expected ${off}`);
  }
}

export interface PeriodSlot {
  epoch: number;
  maxPid: number;
  maxLen: number;
  maxFlags: number;
  maxComm: string;
  max: number[];
  last: number[];
  lastTs: bigint[];
  jitter: number[];
}

/** One disk on one CPU. Cumulative values are bigint (nanosecond sums outgrow 2^53). */
export interface CpuStats {
  periods: [PeriodSlot, PeriodSlot];
  sum: bigint[];
  count: bigint[];
  readBytes: bigint;
  writeBytes: bigint;
  accessPagecache: bigint;
  markBufferDirty: bigint;
  loadPageCache: bigint;
  markPageDirty: bigint;
}

function cString(v: DataView, off: number, len: number): string {
  let s = "";
  for (let i = 0; i < len; i++) {
    const c = v.getUint8(off + i);
    if (c === 0) break;
    s += String.fromCharCode(c);
  }
  return s;
}

function u64s(v: DataView, off: number, n: number): bigint[] {
  const out: bigint[] = [];
  for (let i = 0; i < n; i++) out.push(v.getBigUint64(off + i * 8, true));
  return out;
}

function decodePeriod(v: DataView, off: number): PeriodSlot {
  return {
    epoch: v.getUint32(off + PERIOD.epoch, true),
    maxPid: v.getUint32(off + PERIOD.max_pid, true),
    maxLen: v.getUint32(off + PERIOD.max_len, true),
    maxFlags: v.getUint32(off + PERIOD.max_flags, true),
    maxComm: cString(v, off + PERIOD.max_comm, 16),
    max: u64s(v, off + PERIOD.max, STAGES).map(Number),
    last: u64s(v, off + PERIOD.last, STAGES).map(Number),
    lastTs: u64s(v, off + PERIOD.last_ts, STAGES),
    jitter: u64s(v, off + PERIOD.jitter, STAGES).map(Number),
  };
}

export function decodeCpuStats(v: DataView): CpuStats {
  if (v.byteLength < STATS.size) throw new LayoutMismatch(`stats value of ${v.byteLength} bytes < ${STATS.size}`);
  return {
    periods: [decodePeriod(v, STATS.period), decodePeriod(v, STATS.period + PERIOD.size)],
    sum: u64s(v, STATS.sum, STAGES),
    count: u64s(v, STATS.count, STAGES),
    readBytes: v.getBigUint64(STATS.read_bytes, true),
    writeBytes: v.getBigUint64(STATS.write_bytes, true),
    accessPagecache: v.getBigUint64(STATS.access_pagecache, true),
    markBufferDirty: v.getBigUint64(STATS.mark_buffer_dirty, true),
    loadPageCache: v.getBigUint64(STATS.load_page_cache, true),
    markPageDirty: v.getBigUint64(STATS.mark_page_dirty, true),
  };
}

export interface DevKey {
  major: number;
  firstMinor: number;
}

export function decodeDevKey(k: Uint8Array): DevKey {
  const v = new DataView(k.buffer, k.byteOffset, k.byteLength);
  return { major: v.getUint32(0, true), firstMinor: v.getUint32(4, true) };
}

export function devKeyBytes(d: DevKey): Uint32Array {
  return new Uint32Array([d.major, d.firstMinor]);
}

export interface ErrRecord extends DevKey {
  pid: number;
  dataLen: number;
  flags: number;
  status: number;
  tsNs: bigint;
  comm: string;
}

export function decodeErr(v: DataView, off = 0): ErrRecord {
  if (v.byteLength - off < ERR.size) throw new LayoutMismatch(`io_err record of ${v.byteLength - off} bytes < ${ERR.size}`);
  return {
    major: v.getUint32(off + ERR.major, true),
    firstMinor: v.getUint32(off + ERR.first_minor, true),
    pid: v.getUint32(off + ERR.pid, true),
    dataLen: v.getUint32(off + ERR.data_len, true),
    flags: v.getUint32(off + ERR.flags, true),
    status: v.getUint32(off + ERR.status, true),
    tsNs: v.getBigUint64(off + ERR.ts_ns, true),
    comm: cString(v, off + ERR.comm, 16),
  };
}

// ---- rwbs -----------------------------------------------------------------------------

/** Bit numbers of the REQ_* flags on the running kernel (enum req_flag_bits differs by version). */
export interface ReqFlagBits {
  fua: number;
  rahead: number;
  sync: number;
  meta: number;
  preflush: number;
}

/** Values of 6.1 – 6.18 (used when the kernel's BTF does not answer). */
export const DEFAULT_REQ_FLAG_BITS: ReqFlagBits = { sync: 11, meta: 12, preflush: 16, fua: 17, rahead: 19 };

const REQ_OP = { READ: 0, WRITE: 1, FLUSH: 2, DISCARD: 3, SECURE_ERASE: 5 } as const;

function has(flags: number, bit: number): boolean {
  return bit >= 0 && bit < 32 && ((flags >>> bit) & 1) === 1;
}

/** The kernel's rwbs text of a request (blk_fill_rwbs), as block tracepoints print it. */
export function kernelRwbs(flags: number, b: ReqFlagBits): string {
  let s = has(flags, b.preflush) ? "F" : "";
  const op = flags & 0xff;
  if (op === REQ_OP.WRITE) s += "W";
  else if (op === REQ_OP.DISCARD) s += "D";
  else if (op === REQ_OP.SECURE_ERASE) s += "DE";
  else if (op === REQ_OP.FLUSH) s += "F";
  else if (op === REQ_OP.READ) s += "R";
  else s += "N";
  if (has(flags, b.fua)) s += "F";
  if (has(flags, b.rahead)) s += "A";
  if (has(flags, b.sync)) s += "S";
  if (has(flags, b.meta)) s += "M";
  return s;
}

/** Upstream ioprobe's own 5-character op text (op, then F/A/S/M or '#'), used in latency events. */
export function upstreamRwbs(flags: number, b: ReqFlagBits): string {
  const op = flags & 0xff;
  const c = op === REQ_OP.WRITE ? "W" : op === REQ_OP.DISCARD ? "D" : op === REQ_OP.SECURE_ERASE ? "E" : op === REQ_OP.FLUSH ? "F" : op === REQ_OP.READ ? "R" : "N";
  return c + (has(flags, b.fua) ? "F" : "#") + (has(flags, b.rahead) ? "A" : "#") + (has(flags, b.sync) ? "S" : "#") + (has(flags, b.meta) ? "M" : "#");
}

// ---- block status -----------------------------------------------------------------------

/** blk_status_t → errno, as the kernel's blk_status_to_errno (block/blk-core.c). */
const STATUS_ERRNO: Readonly<Record<number, number>> = {
  0: 0,
  1: -95, // NOTSUPP: EOPNOTSUPP
  2: -110, // TIMEOUT: ETIMEDOUT
  3: -28, // NOSPC
  4: -67, // TRANSPORT: ENOLINK
  5: -121, // TARGET: EREMOTEIO
  6: -52, // NEXUS / RESV_CONFLICT: EBADE
  7: -61, // MEDIUM: ENODATA
  8: -84, // PROTECTION: EILSEQ
  9: -12, // RESOURCE: ENOMEM
  10: -5, // IOERR: EIO
  11: -78, // DM_REQUEUE: EREMCHG
  12: -11, // AGAIN: EAGAIN
  13: -16, // DEV_RESOURCE: EBUSY
  15: -109, // ZONE_OPEN_RESOURCE: ETOOMANYREFS
  16: -75, // ZONE_ACTIVE_RESOURCE: EOVERFLOW
  17: -19, // OFFLINE: ENODEV
  18: -62, // DURATION_LIMIT: ETIME
  19: -22, // INVAL: EINVAL
};

export function statusErrno(status: number): number {
  return STATUS_ERRNO[status] ?? -5; // out of the table: the kernel answers -EIO
}

/** Upstream's errno → (blk_err, text) table (ioprobe.c blk_err_desc). */
const UPSTREAM_BLK_ERR: ReadonlyMap<number, [number, string]> = new Map([
  [0, [0, "OK"]],
  [-95, [1, "operation not supported"]],
  [-110, [2, "timeout"]],
  [-28, [3, "critical space allocation"]],
  [-67, [4, "recoverable transport"]],
  [-121, [5, "critical target"]],
  [-52, [6, "critical nexus"]],
  [-61, [7, "critical medium"]],
  [-84, [8, "protection"]],
  [-12, [9, "kernel resource"]],
  [-16, [13, "device resource"]],
  [-11, [12, "nonblocking retry"]],
  [-78, [11, "dm internal retry"]],
  [-109, [15, "open zones exceeded"]],
  [-75, [16, "active zones exceeded"]],
  [-5, [10, "I/O error"]],
]);

/** Upstream's blk_err number and text for an errno; unknown ones give (0, "UNKNOW") as upstream. */
export function blkErr(errno: number): { code: number; text: string } {
  const e = UPSTREAM_BLK_ERR.get(errno);
  return e ? { code: e[0], text: e[1] } : { code: 0, text: "UNKNOW" };
}

// Decoding of the l7 probe's kernel records (bpf/l7/l7.h): struct l7_event (ring records)
// and struct l7_conn (the l7_conns map). Field offsets come from the object's BTF and every
// record is checked against its size before it is read.
import { ipText } from "../../host/ip.ts";
import type { MemberLayout } from "../../libbpf/btf.ts";

/** enum l7_rec_kind */
export const REC_DATA = 1;
export const REC_CLOSE = 2;
/** enum l7_dir */
export const DIR_SEND = 0;
export const DIR_RECV = 1;
/** enum l7_l4 */
export const L4_TCP = 1;
export const L4_UDP = 2;
/** enum l7_role */
export const ROLE_UNKNOWN = 0;
export const ROLE_CLIENT = 1;
export const ROLE_SERVER = 2;
/** enum l7_verdict */
export const VERDICT_CAPTURE = 1;
export const VERDICT_IGNORE = 2;
/** enum l7_conn_flags */
export const CONN_CLOSED = 1;
export const CONN_SSL = 2;
/** L7_CAP_MAX */
export const CAP_MAX = 65536;
/** enum l7_drop_reason, as gala_gopher_agent_bpf_dropped_total reasons. */
export const DROP_REASONS = ["conn_map_full", "ring_full", "calls_full", "close_record_lost", "scratch_busy"] as const;

export class L7DecodeError extends Error {
  readonly code = "EL7DECODE";
}

type Members = Map<string, MemberLayout>;

/** A little-endian u64 as a number (exact below 2^53), without a BigInt. */
function u64(view: DataView, at: number): number {
  return view.getUint32(at + 4, true) * 4294967296 + view.getUint32(at, true);
}

function member(m: Members, struct: string, name: string, size?: number): number {
  const f = m.get(name);
  if (!f) throw new L7DecodeError(`struct ${struct} has no member ${name}`);
  if (size !== undefined && f.size !== size) throw new L7DecodeError(`struct ${struct}.${name} is ${f.size} bytes, expected ${size}`);
  return f.offset;
}

/** Offsets of struct l7_event. */
export class EventLayout {
  readonly kind: number;
  readonly tgid: number;
  readonly connId: number;
  readonly ts: number;
  readonly len: number;
  readonly cap: number;
  readonly fd: number;
  readonly dir: number;
  readonly l4: number;
  readonly ssl: number;
  readonly peerFamily: number;
  readonly peerPort: number;
  readonly peerAddr: number;
  constructor(
    readonly size: number,
    m: Members,
  ) {
    const s = "l7_event";
    this.kind = member(m, s, "kind", 4);
    this.tgid = member(m, s, "tgid", 4);
    this.connId = member(m, s, "conn_id", 8);
    this.ts = member(m, s, "ts_ns", 8);
    this.len = member(m, s, "len", 8);
    this.cap = member(m, s, "cap", 4);
    this.fd = member(m, s, "fd", 4);
    this.dir = member(m, s, "dir", 1);
    this.l4 = member(m, s, "l4", 1);
    this.ssl = member(m, s, "ssl", 1);
    this.peerFamily = member(m, s, "peer_family", 1);
    this.peerPort = member(m, s, "peer_port", 2);
    this.peerAddr = member(m, s, "peer_addr", 16);
  }
}

/**
 * One ring record, decoded in place into a reused object (no allocation per record but the
 * payload view). `data` is valid only during the ring callback.
 */
export class EventView {
  kind = 0;
  tgid = 0;
  connId = 0;
  tsNs = 0;
  len = 0;
  fd = 0;
  dir = 0;
  l4 = 0;
  ssl = false;
  peerFamily = 0;
  peerPort = 0;
  /** Offset of the 16 peer address bytes in `view`. */
  peerAt = 0;
  view!: DataView;
  data: Uint8Array = new Uint8Array(0);
  private baseHi = -1;

  /** Reads the record at `off` (`length` bytes); throws on a record that does not fit its header. */
  read(l: EventLayout, view: DataView, off: number, length: number): this {
    if (length < l.size) throw new L7DecodeError(`l7 ring record of ${length} bytes, shorter than its ${l.size}-byte header`);
    this.view = view;
    this.kind = view.getUint32(off + l.kind, true);
    this.tgid = view.getUint32(off + l.tgid, true);
    this.connId = u64(view, off + l.connId);
    // Kernel ns relative to the high word of the first record: exact in a double for 2^21 s.
    const hi = view.getUint32(off + l.ts + 4, true);
    if (this.baseHi < 0) this.baseHi = hi;
    this.tsNs = (hi - this.baseHi) * 4294967296 + view.getUint32(off + l.ts, true);
    this.len = u64(view, off + l.len);
    const cap = view.getUint32(off + l.cap, true);
    if (cap > CAP_MAX || l.size + cap > length) throw new L7DecodeError(`l7 ring record says ${cap} captured bytes, but ${length - l.size} follow its header`);
    if (cap > this.len) throw new L7DecodeError(`l7 ring record captured ${cap} bytes of a ${this.len}-byte call`);
    this.fd = view.getInt32(off + l.fd, true);
    this.dir = view.getUint8(off + l.dir);
    this.l4 = view.getUint8(off + l.l4);
    this.ssl = view.getUint8(off + l.ssl) !== 0;
    this.peerFamily = view.getUint8(off + l.peerFamily);
    this.peerPort = view.getUint16(off + l.peerPort, true);
    this.peerAt = off + l.peerAddr;
    this.data = new Uint8Array(view.buffer, view.byteOffset + off + l.size, cap);
    return this;
  }

  /** The datagram peer the call named (UDP), or undefined: the socket's own peer. */
  peer(): { ip: string; port: number } | undefined {
    if (this.peerFamily !== 2 && this.peerFamily !== 10) return undefined;
    const n = this.peerFamily === 2 ? 4 : 16;
    return { ip: ipText(this.peerFamily, new Uint8Array(this.view.buffer, this.view.byteOffset + this.peerAt, n)), port: this.peerPort };
  }
}

export interface ConnInfo {
  connId: number;
  tgid: number;
  fd: number;
  family: number;
  l4: number;
  role: number;
  flags: number;
  localIp: string;
  remoteIp: string;
  localPort: number;
  remotePort: number;
  netns: number;
  bytesSent: number;
  bytesRecv: number;
  segsSent: number;
  segsRecv: number;
}

/** Offsets of struct l7_conn. */
export class ConnLayout {
  private readonly o: Record<string, number>;
  constructor(
    readonly size: number,
    m: Members,
  ) {
    const s = "l7_conn";
    const sizes: Record<string, number> = {
      bytes_sent: 8,
      bytes_recv: 8,
      segs_sent: 8,
      segs_recv: 8,
      tgid: 4,
      fd: 4,
      local_addr: 16,
      remote_addr: 16,
      local_port: 2,
      remote_port: 2,
      family: 2,
      l4: 1,
      role: 1,
      flags: 4,
      netns: 4,
    };
    this.o = Object.fromEntries(Object.entries(sizes).map(([k, n]) => [k, member(m, s, k, n)]));
  }

  decode(connId: number, view: DataView, off: number): ConnInfo {
    const o = this.o;
    const family = view.getUint16(off + o.family!, true);
    const n = family === 2 ? 4 : 16;
    const addr = (at: number) => ipText(family, new Uint8Array(view.buffer, view.byteOffset + off + at, n));
    return {
      connId,
      tgid: view.getUint32(off + o.tgid!, true),
      fd: view.getInt32(off + o.fd!, true),
      family,
      l4: view.getUint8(off + o.l4!),
      role: view.getUint8(off + o.role!),
      flags: view.getUint32(off + o.flags!, true),
      localIp: family === 2 || family === 10 ? addr(o.local_addr!) : "no_ip",
      remoteIp: family === 2 || family === 10 ? addr(o.remote_addr!) : "no_ip",
      localPort: view.getUint16(off + o.local_port!, true),
      remotePort: view.getUint16(off + o.remote_port!, true),
      netns: view.getUint32(off + o.netns!, true),
      bytesSent: Number(view.getBigUint64(off + o.bytes_sent!, true)),
      bytesRecv: Number(view.getBigUint64(off + o.bytes_recv!, true)),
      segsSent: Number(view.getBigUint64(off + o.segs_sent!, true)),
      segsRecv: Number(view.getBigUint64(off + o.segs_recv!, true)),
    };
  }
}

// rtnetlink RTM_GETQDISC dump over a raw NETLINK_ROUTE socket (libc through bun:ffi), so
// the agent reads qdisc statistics without running `tc`. The wire parsing is pure
// (parseQdiscMessages) and tested on hand-built messages; only dumpQdiscs touches the
// kernel. Everything is little/host-endian as netlink is (x86_64, aarch64).
import { dlopen, FFIType, ptr } from "bun:ffi";

const AF_NETLINK = 16;
const SOCK_RAW = 3;
const SOCK_CLOEXEC = 0o2000000;
const NETLINK_ROUTE = 0;
const SOL_SOCKET = 1;
const SO_RCVTIMEO = 20;

const NLMSG_HDRLEN = 16;
const NLMSG_ERROR = 2;
const NLMSG_DONE = 3;
const NLM_F_REQUEST = 0x1;
const NLM_F_DUMP = 0x300;
const RTM_NEWQDISC = 36;
const RTM_GETQDISC = 38;
const TCMSG_LEN = 20;

const TCA_KIND = 1;
const TCA_STATS = 3;
const TCA_XSTATS = 4;
const TCA_STATS2 = 7;
const TCA_STATS_QUEUE = 3;
const TCA_STATS_APP = 4;

/** tcm_parent of a device's root qdisc (TC_H_ROOT). */
export const TC_H_ROOT = 0xffffffff;
/** tcm_parent of the ingress/clsact pseudo-qdisc (TC_H_INGRESS). */
export const TC_H_INGRESS = 0xfffffff1;

/** One qdisc of one device, as the kernel reports it in RTM_NEWQDISC. */
export interface QdiscInfo {
  readonly ifindex: number;
  readonly handle: number;
  readonly parent: number;
  readonly kind: string;
  /** gnet_stats_queue (TCA_STATS2/TCA_STATS_QUEUE), else the legacy struct tc_stats. */
  readonly drops?: number;
  readonly overlimits?: number;
  /** Bytes queued right now. */
  readonly backlog?: number;
  readonly qlen?: number;
  /** ECN-marked packets from the qdisc's xstats, for kinds that count them; else undefined. */
  readonly ecnMarks?: number;
}

export interface QdiscDump {
  readonly qdiscs: QdiscInfo[];
  readonly errors: string[];
}

function align4(n: number): number {
  return (n + 3) & ~3;
}

/** Attributes (rtattr: u16 len, u16 type, payload) of one region, by type; last wins. */
function attrs(view: DataView, start: number, end: number, errors: string[]): Map<number, [number, number]> {
  const out = new Map<number, [number, number]>();
  let off = start;
  while (off + 4 <= end) {
    const len = view.getUint16(off, true);
    const type = view.getUint16(off + 2, true) & 0x3fff; // strip NLA_F_NESTED / NLA_F_NET_BYTEORDER
    if (len < 4 || off + len > end) {
      errors.push(`bad rtattr length ${len} at ${off}`);
      break;
    }
    out.set(type, [off + 4, off + len]);
    off += align4(len);
  }
  return out;
}

/**
 * ECN marks out of a qdisc's xstats blob, where the qdisc kind counts them (layouts of
 * include/uapi/linux/pkt_sched.h). Kinds without such a counter give undefined.
 */
export function ecnMarksFromXstats(kind: string, view: DataView, start: number, end: number): number | undefined {
  const len = end - start;
  const u32 = (o: number): number | undefined => (o + 4 <= len ? view.getUint32(start + o, true) : undefined);
  switch (kind) {
    case "fq_codel":
      // struct tc_fq_codel_xstats { type; union { qd_stats { maxpacket, drop_overlimit, ecn_mark, ... } } }
      return u32(0) === 0 ? u32(12) : undefined;
    case "codel":
      // tc_codel_xstats { maxpacket, count, lastcount, ldelay, drop_next, drop_overlimit, ecn_mark, ... }
      return u32(24);
    case "red":
    case "choke":
      // tc_red_xstats / tc_choke_xstats { early, pdrop, other, marked, ... }
      return u32(12);
    case "sfb":
      // tc_sfb_xstats { earlydrop, penaltydrop, bucketdrop, queuedrop, childdrop, marked, ... }
      return u32(20);
    case "fq_pie":
      // tc_fq_pie_xstats { packets_in, dropped, overlimit, overmemory, ecn_mark, ... }
      return u32(16);
    case "pie":
      // 5.x: { __u64 prob; delay, avg_dq_rate, dq_rate_estimating, packets_in, dropped, overlimit, maxq, ecn_mark }
      // older: { prob, delay, avg_dq_rate, packets_in, dropped, overlimit, maxq, ecn_mark } (all u32)
      return len >= 40 ? u32(36) : u32(28);
    default:
      return undefined;
  }
}

/**
 * Parses a netlink receive buffer holding RTM_NEWQDISC messages (one or many, as one
 * recv returns them). Total on garbage: bad lengths stop the walk with an error.
 * `done` tells whether NLMSG_DONE (or an error) ended the dump in this buffer.
 */
export function parseQdiscMessages(buf: Uint8Array): QdiscDump & { done: boolean; error?: number } {
  const qdiscs: QdiscInfo[] = [];
  const errors: string[] = [];
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let off = 0;
  let done = false;
  let error: number | undefined;
  while (off + NLMSG_HDRLEN <= buf.byteLength) {
    const len = view.getUint32(off, true);
    const type = view.getUint16(off + 4, true);
    if (len < NLMSG_HDRLEN || off + len > buf.byteLength) {
      errors.push(`bad nlmsg length ${len} at ${off}`);
      break;
    }
    if (type === NLMSG_DONE) {
      done = true;
      break;
    }
    if (type === NLMSG_ERROR) {
      error = len >= NLMSG_HDRLEN + 4 ? view.getInt32(off + NLMSG_HDRLEN, true) : -1;
      if (error !== 0) errors.push(`netlink error ${error}`);
      done = true;
      break;
    }
    if (type === RTM_NEWQDISC && len >= NLMSG_HDRLEN + TCMSG_LEN) {
      const t = off + NLMSG_HDRLEN;
      const ifindex = view.getInt32(t + 4, true);
      const handle = view.getUint32(t + 8, true);
      const parent = view.getUint32(t + 12, true);
      const a = attrs(view, t + TCMSG_LEN, off + len, errors);
      const kindAt = a.get(TCA_KIND);
      let kind = "";
      if (kindAt) {
        const raw = buf.subarray(kindAt[0], kindAt[1]);
        const nul = raw.indexOf(0);
        kind = new TextDecoder().decode(nul >= 0 ? raw.subarray(0, nul) : raw);
      }
      const q: { -readonly [K in keyof QdiscInfo]: QdiscInfo[K] } = { ifindex, handle, parent, kind };
      let xstats = a.get(TCA_XSTATS);
      const s2 = a.get(TCA_STATS2);
      if (s2) {
        const n = attrs(view, s2[0], s2[1], errors);
        const queue = n.get(TCA_STATS_QUEUE);
        // struct gnet_stats_queue { qlen, backlog, drops, requeues, overlimits }
        if (queue && queue[1] - queue[0] >= 20) {
          q.qlen = view.getUint32(queue[0], true);
          q.backlog = view.getUint32(queue[0] + 4, true);
          q.drops = view.getUint32(queue[0] + 8, true);
          q.overlimits = view.getUint32(queue[0] + 16, true);
        }
        xstats ??= n.get(TCA_STATS_APP);
      }
      const s1 = a.get(TCA_STATS);
      // struct tc_stats { u64 bytes; packets, drops, overlimits, bps, pps, qlen, backlog }
      if (q.drops === undefined && s1 && s1[1] - s1[0] >= 36) {
        q.drops = view.getUint32(s1[0] + 12, true);
        q.overlimits = view.getUint32(s1[0] + 16, true);
        q.qlen = view.getUint32(s1[0] + 28, true);
        q.backlog = view.getUint32(s1[0] + 32, true);
      }
      if (xstats) q.ecnMarks = ecnMarksFromXstats(kind, view, xstats[0], xstats[1]);
      qdiscs.push(q);
    }
    off += align4(len);
  }
  return { qdiscs, errors, done, error };
}

/** The RTM_GETQDISC dump request (nlmsghdr + zeroed tcmsg). */
export function qdiscDumpRequest(seq: number): Uint8Array {
  const b = new Uint8Array(NLMSG_HDRLEN + TCMSG_LEN);
  const v = new DataView(b.buffer);
  v.setUint32(0, b.byteLength, true);
  v.setUint16(4, RTM_GETQDISC, true);
  v.setUint16(6, NLM_F_REQUEST | NLM_F_DUMP, true);
  v.setUint32(8, seq, true);
  v.setUint32(12, 0, true);
  return b;
}

type Libc = {
  socket(domain: number, type: number, proto: number): number;
  send(fd: number, buf: Uint8Array, len: number): number;
  recv(fd: number, buf: Uint8Array, len: number): number;
  setsockopt(fd: number, level: number, name: number, val: Uint8Array, len: number): number;
  close(fd: number): number;
};

let libc: Libc | null | undefined;
function loadLibc(): Libc | null {
  if (libc !== undefined) return libc;
  try {
    const lib = dlopen("libc.so.6", {
      socket: { args: [FFIType.i32, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
      send: { args: [FFIType.i32, FFIType.ptr, FFIType.u64, FFIType.i32], returns: FFIType.i64 },
      recv: { args: [FFIType.i32, FFIType.ptr, FFIType.u64, FFIType.i32], returns: FFIType.i64 },
      setsockopt: { args: [FFIType.i32, FFIType.i32, FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i32 },
      close: { args: [FFIType.i32], returns: FFIType.i32 },
    });
    const s = lib.symbols;
    libc = {
      socket: (d, t, p) => s.socket(d, t, p),
      send: (fd, b, l) => Number(s.send(fd, ptr(b), l, 0)),
      recv: (fd, b, l) => Number(s.recv(fd, ptr(b), l, 0)),
      setsockopt: (fd, lv, n, v, l) => s.setsockopt(fd, lv, n, ptr(v), l),
      close: (fd) => s.close(fd),
    };
  } catch {
    libc = null;
  }
  return libc;
}

let seqCounter = 1;

/**
 * Dumps every qdisc of the caller's network namespace. Returns an error text instead
 * of throwing (no libc, socket refused, kernel error, timeout after 1 s).
 */
export function dumpQdiscs(): QdiscDump | { error: string } {
  const c = loadLibc();
  if (!c) return { error: "libc.so.6 not loadable (bun:ffi)" };
  const fd = c.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) return { error: "socket(AF_NETLINK, NETLINK_ROUTE) failed" };
  try {
    const tv = new Uint8Array(16);
    new DataView(tv.buffer).setBigInt64(0, 1n, true); // 1 s receive timeout: never hang a collect
    c.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, tv, 16);
    const seq = seqCounter++;
    const req = qdiscDumpRequest(seq);
    if (c.send(fd, req, req.byteLength) !== req.byteLength) return { error: "send(RTM_GETQDISC) failed" };
    const qdiscs: QdiscInfo[] = [];
    const errors: string[] = [];
    const buf = new Uint8Array(64 * 1024);
    for (let i = 0; i < 10_000; i++) {
      const n = c.recv(fd, buf, buf.byteLength);
      if (n <= 0) return { error: n === 0 ? "netlink socket closed" : "recv on netlink socket failed or timed out" };
      const r = parseQdiscMessages(buf.subarray(0, n));
      qdiscs.push(...r.qdiscs);
      errors.push(...r.errors);
      if (r.error !== undefined && r.error !== 0) return { error: `kernel answered RTM_GETQDISC with error ${r.error}` };
      if (r.done) return { qdiscs, errors };
    }
    return { error: "qdisc dump did not end" };
  } finally {
    c.close(fd);
  }
}

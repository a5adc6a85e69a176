// Decoding of the tcp probe's kernel records (struct gtcp_conn of bpf/tcp/tcp.h). Field
// offsets come from the object's BTF (ConnLayout.fromBtf), so the C struct can change
// without a second copy of its layout here; the enum sizes below are checked against it.
import type { MemberLayout } from "../../libbpf/btf.ts";
import { ipText } from "../../host/ip.ts";

/** enum gtcp_hist */
export const H = {
  SRTT: 0,
  RCV_RTT: 1,
  SYN_SRTT: 2,
  SND_CWND: 3,
  NOTSENT: 4,
  NOTACK: 5,
  REORDERING: 6,
  SND_WND: 7,
  RCV_WND: 8,
  AVL_SND_WND: 9,
  RTO: 10,
  ATO: 11,
  RCVBUF: 12,
  SNDBUF: 13,
  SYS_DELAY: 14,
  NET_DELAY: 15,
} as const;
export const N_HIST = 16;
export const HIST_SLOTS = 8;
/** enum gtcp_max: one per histogram, then these. */
export const M_LOST_OUT = 16;
export const M_SACKED_OUT = 17;
export const N_MAX = 18;
/** enum gtcp_ctr */
export const C = {
  RX_BYTES: 0,
  TX_BYTES: 1,
  SEGS_IN: 2,
  SEGS_OUT: 3,
  RETRANS: 4,
  SK_DROPS: 5,
  BACKLOG_DROPS: 6,
  FILTER_DROPS: 7,
  RMEM_DROPS: 8,
  TMOUT: 9,
  SNDBUF_LIMIT: 10,
  TCP_OOM: 11,
  SEND_RSTS: 12,
  RECV_RSTS: 13,
  ZERO_RCV_WND: 14,
  ZERO_SND_WND: 15,
} as const;
export const N_CTR = 16;
/** enum gtcp_flags */
export const F = { ESTABLISHED: 1, CLOSED: 2, TX_FROZEN: 4, FIN_RCVD: 8, ADOPTED: 16 } as const;
/** enum gtcp_rec_type / gtcp_drop_reason */
export const REC_CONN = 1;
/**
 * enum gtcp_drop_reason, as gala_gopher_agent_bpf_dropped_total reasons; null: counted by
 * the kernel but nothing was lost (a closed connection's record went to the spill map).
 */
export const DROP_REASONS = ["conn_map_full", null, "closed_record_lost"] as const;

const FIELDS = [
  "rec_type",
  "flags",
  "sk",
  "id",
  "tgid",
  "family",
  "role",
  "state",
  "comm",
  "laddr",
  "raddr",
  "lport",
  "rport",
  "max_epoch",
  "ctr",
  "hsum",
  "hist",
  "maxv",
] as const;
type Field = (typeof FIELDS)[number];

/** Byte offsets of struct gtcp_conn. */
export class ConnLayout {
  private constructor(
    readonly size: number,
    readonly off: Readonly<Record<Field, number>>,
  ) {}

  static fromBtf(l: { size: number; members: Map<string, MemberLayout> }): ConnLayout {
    const off = {} as Record<Field, number>;
    for (const f of FIELDS) {
      const m = l.members.get(f);
      if (!m) throw new Error(`struct gtcp_conn has no member ${f} (object and decoder out of step)`);
      off[f] = m.offset;
    }
    const size = (f: Field) => l.members.get(f)!.size;
    const expect = (f: Field, n: number) => {
      if (size(f) !== n) throw new Error(`struct gtcp_conn.${f} is ${size(f)} bytes, decoder expects ${n}`);
    };
    expect("ctr", N_CTR * 8);
    expect("hsum", N_HIST * 8);
    expect("hist", N_HIST * HIST_SLOTS * 4);
    expect("maxv", 2 * N_MAX * 4);
    expect("comm", 16);
    expect("laddr", 16);
    return new ConnLayout(l.size, off);
  }
}

/** One connection as read from the map or the ring (cumulative values). */
export interface ConnRecord {
  /** `<sk>:<id>`: unique per connection even when a socket address is reused. */
  readonly key: string;
  readonly sk: bigint;
  readonly flags: number;
  readonly tgid: number;
  readonly family: number;
  /** 0 server, 1 client. */
  readonly role: number;
  readonly comm: string;
  readonly laddr: string;
  readonly raddr: string;
  readonly lport: number;
  readonly rport: number;
  readonly ctr: Float64Array;
  readonly hsum: Float64Array;
  readonly hist: Uint32Array;
  /** Maxima of the period whose epoch was asked for (zeros when the socket saw nothing). */
  readonly max: Uint32Array;
}

const dec = new TextDecoder();

function cString(b: Uint8Array): string {
  const end = b.indexOf(0);
  return dec.decode(end < 0 ? b : b.subarray(0, end));
}

/**
 * Decodes the record at `off` of `view`. `epoch` selects the maxima slot (tag == epoch);
 * other slots read as zeros.
 */
export function decodeConn(view: DataView, off: number, l: ConnLayout, epoch: number): ConnRecord {
  const o = l.off;
  const u8 = new Uint8Array(view.buffer, view.byteOffset + off, l.size);
  const sk = view.getBigUint64(off + o.sk, true);
  const id = view.getBigUint64(off + o.id, true);
  const family = view.getUint16(off + o.family, true);
  const ctr = new Float64Array(N_CTR);
  for (let i = 0; i < N_CTR; i++) ctr[i] = Number(view.getBigUint64(off + o.ctr + i * 8, true));
  const hsum = new Float64Array(N_HIST);
  for (let i = 0; i < N_HIST; i++) hsum[i] = Number(view.getBigUint64(off + o.hsum + i * 8, true));
  const hist = new Uint32Array(N_HIST * HIST_SLOTS);
  for (let i = 0; i < hist.length; i++) hist[i] = view.getUint32(off + o.hist + i * 4, true);
  const max = new Uint32Array(N_MAX);
  for (let s = 0; s < 2; s++) {
    if (view.getUint32(off + o.max_epoch + s * 4, true) !== epoch >>> 0) continue;
    for (let i = 0; i < N_MAX; i++) max[i] = Math.max(max[i]!, view.getUint32(off + o.maxv + (s * N_MAX + i) * 4, true));
  }
  const alen = family === 2 ? 4 : 16;
  return {
    key: `${sk.toString(16)}:${id.toString(16)}`,
    sk,
    flags: view.getUint32(off + o.flags, true),
    tgid: view.getUint32(off + o.tgid, true),
    family,
    role: view.getUint8(off + o.role),
    comm: cString(u8.subarray(o.comm, o.comm + 16)),
    laddr: ipText(family, u8.slice(o.laddr, o.laddr + alen)),
    raddr: ipText(family, u8.slice(o.raddr, o.raddr + alen)),
    lport: view.getUint16(off + o.lport, true),
    rport: view.getUint16(off + o.rport, true),
    ctr,
    hsum,
    hist,
    max,
  };
}

// Decoding of the socket probe's kernel records (bpf/socket/socket.h). Field offsets come
// from the object's BTF (Layouts.fromBtf), so the C structs can change without a second
// copy of their layout here; the enum values below mirror the header and their counts
// are checked against the BTF sizes.
import type { MemberLayout } from "../../libbpf/btf.ts";
import { ipText } from "../../host/ip.ts";

/** enum gsock_ctr: counters of one endpoint_tcp key. */
export const C = {
  PASSIVE_OPEN: 0,
  PASSIVE_FAIL: 1,
  RETRAN_SYNACK: 2,
  RETRAN_SYN: 3,
  REQ_DROP: 4,
  ACTIVE_OPEN: 5,
  ACTIVE_FAIL: 6,
  SYN_SENT: 7,
  SYN_DROP: 8,
} as const;
export const N_CTR = 9;
/** Upstream's estab_latency bucket bounds, ns (outputs.md §2.4.1). */
export const LATENCY_BOUNDS = [3_000_000, 10_000_000, 50_000_000, 100_000_000, 500_000_000, 1_000_000_000, 10_000_000_000] as const;
export const N_BUCKETS = LATENCY_BOUNDS.length;
/** enum gsock_role */
export const ROLE = { CLIENT: 0, SERVER: 1 } as const;
/** enum gsock_drop, as gala_gopher_agent_bpf_dropped_total reasons. */
export const DROP_REASONS = ["tcp_stats_map_full", "connecting_map_full", "listeners_map_full", "udp_socks_map_full", "closing_map_full"] as const;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;

type Members = Map<string, MemberLayout>;

/** socket.bpf.o and this decoder disagree (a struct, member or record size). */
export class SocketObjectError extends Error {
  readonly code = "ESOCKETOBJ";
  constructor(message: string) {
    super(`socket.bpf.o: ${message}`);
    this.name = "SocketObjectError";
  }
}

function need(m: Members, struct: string, name: string): MemberLayout {
  const f = m.get(name);
  if (!f) throw new SocketObjectError(`struct ${struct} has no member ${name}`);
  return f;
}

const dec = new TextDecoder();
function cString(b: Uint8Array): string {
  const end = b.indexOf(0);
  return dec.decode(end < 0 ? b : b.subarray(0, end));
}

/** Reads named members of one struct at a base offset of a buffer. */
class StructView {
  readonly size: number;
  constructor(
    readonly struct: string,
    layout: { size: number; members: Members },
    private readonly names: readonly string[],
  ) {
    this.size = layout.size;
    for (const n of names) need(layout.members, struct, n);
    this.m = layout.members;
  }
  private readonly m: Members;
  off(name: string): number {
    return this.m.get(name)!.offset;
  }
  u8(v: DataView, base: number, name: string): number {
    return v.getUint8(base + this.off(name));
  }
  u16(v: DataView, base: number, name: string): number {
    return v.getUint16(base + this.off(name), true);
  }
  u32(v: DataView, base: number, name: string): number {
    return v.getUint32(base + this.off(name), true);
  }
  u64(v: DataView, base: number, name: string, index = 0): number {
    return Number(v.getBigUint64(base + this.off(name) + index * 8, true));
  }
  big(v: DataView, base: number, name: string): bigint {
    return v.getBigUint64(base + this.off(name), true);
  }
  bytes(v: DataView, base: number, name: string, len: number): Uint8Array {
    return new Uint8Array(v.buffer, v.byteOffset + base + this.off(name), len);
  }
  ip(v: DataView, base: number, name: string, family: number): string {
    return ipText(family, this.bytes(v, base, name, family === 2 ? 4 : 16));
  }
  str(v: DataView, base: number, name: string): string {
    return cString(this.bytes(v, base, name, this.m.get(name)!.size));
  }
}

/** One endpoint_tcp key with its cumulative counters (struct gsock_tcp_key + gsock_tcp_val). */
export interface TcpStat {
  /** Stable identity of the kernel map entry (the key's bytes). */
  id: string;
  tgid: number;
  role: number;
  family: number;
  port: number;
  client: string;
  server: string;
  comm: string;
  ctr: number[];
  hist: number[];
  hsum: number;
  /** Largest latency of the period whose epoch was asked for (0: none). */
  max: number;
}

/** A TCP listener or UDP socket of the walk (struct gsock_walk). */
export interface WalkRecord {
  sk: bigint;
  ino: number;
  tgid: number;
  netns: number;
  drops: number;
  ackBacklog: number;
  maxAckBacklog: number;
  synQlen: number;
  lport: number;
  rport: number;
  proto: number;
  family: number;
  laddr: string;
  raddr: string;
  comm: string;
}

/** UDP payload bytes of one socket (struct gsock_udp). */
export interface UdpBytes {
  sk: bigint;
  ino: number;
  tgid: number;
  family: number;
  lport: number;
  rport: number;
  laddr: string;
  raddr: string;
  comm: string;
  tx: number;
  rx: number;
}

export class Layouts {
  private constructor(
    readonly key: StructView,
    readonly val: StructView,
    readonly walk: StructView,
    readonly udp: StructView,
    readonly listenKey: StructView,
    readonly owner: StructView,
    readonly cfg: Members,
  ) {}

  static fromBtf(layout: (name: string) => { size: number; members: Members } | undefined): Layouts {
    const get = (n: string) => {
      const l = layout(n);
      if (!l) throw new SocketObjectError(`no BTF for struct ${n}`);
      return l;
    };
    const val = get("gsock_tcp_val");
    if (need(val.members, "gsock_tcp_val", "ctr").size !== N_CTR * 8) throw new SocketObjectError("struct gsock_tcp_val: ctr does not match N_CTR of decode.ts");
    if (need(val.members, "gsock_tcp_val", "hist").size !== N_BUCKETS * 8) throw new SocketObjectError("struct gsock_tcp_val: hist does not match N_BUCKETS of decode.ts");
    return new Layouts(
      new StructView("gsock_tcp_key", get("gsock_tcp_key"), ["tgid", "port", "role", "family", "client", "server"]),
      new StructView("gsock_tcp_val", val, ["ctr", "hist", "hsum", "max_epoch", "maxv", "comm"]),
      new StructView("gsock_walk", get("gsock_walk"), ["sk", "ino", "tgid", "netns", "drops", "ack_backlog", "max_ack_backlog", "syn_qlen", "lport", "rport", "proto", "family", "laddr", "raddr", "comm"]),
      new StructView("gsock_udp", get("gsock_udp"), ["ino", "tx", "rx", "tgid", "lport", "rport", "family", "laddr", "raddr", "comm"]),
      new StructView("gsock_listen_key", get("gsock_listen_key"), ["netns", "port"]),
      new StructView("gsock_owner", get("gsock_owner"), ["sk", "tgid", "comm"]),
      get("gsock_cfg").members,
    );
  }

  decodeTcp(keys: DataView, kOff: number, vals: DataView, vOff: number, epoch: number): TcpStat {
    const k = this.key;
    const v = this.val;
    const family = k.u8(keys, kOff, "family");
    const ctr: number[] = [];
    for (let i = 0; i < N_CTR; i++) ctr.push(v.u64(vals, vOff, "ctr", i));
    const hist: number[] = [];
    for (let i = 0; i < N_BUCKETS; i++) hist.push(v.u64(vals, vOff, "hist", i));
    const slot = epoch & 1;
    const max = v.u64(vals, vOff, "max_epoch", slot) === epoch ? v.u64(vals, vOff, "maxv", slot) : 0;
    return {
      id: Buffer.from(keys.buffer, keys.byteOffset + kOff, k.size).toString("hex"),
      tgid: k.u32(keys, kOff, "tgid"),
      role: k.u8(keys, kOff, "role"),
      family,
      port: k.u16(keys, kOff, "port"),
      client: k.ip(keys, kOff, "client", family),
      server: k.ip(keys, kOff, "server", family),
      comm: v.str(vals, vOff, "comm"),
      ctr,
      hist,
      hsum: v.u64(vals, vOff, "hsum"),
      max,
    };
  }

  /** The kernel's listeners entry naming `r`'s process as the owner of its (netns, port). */
  encodeListener(r: WalkRecord): { key: Uint8Array; val: Uint8Array } {
    const key = new Uint8Array(this.listenKey.size);
    const kv = new DataView(key.buffer);
    kv.setUint32(this.listenKey.off("netns"), r.netns, true);
    kv.setUint16(this.listenKey.off("port"), r.lport, true);
    const val = new Uint8Array(this.owner.size);
    const vv = new DataView(val.buffer);
    vv.setBigUint64(this.owner.off("sk"), r.sk, true);
    vv.setUint32(this.owner.off("tgid"), r.tgid, true);
    val.set(new TextEncoder().encode(r.comm).subarray(0, 15), this.owner.off("comm"));
    return { key, val };
  }

  decodeWalk(view: DataView, off: number): WalkRecord {
    const w = this.walk;
    const family = w.u8(view, off, "family");
    return {
      sk: w.big(view, off, "sk"),
      ino: w.u64(view, off, "ino"),
      tgid: w.u32(view, off, "tgid"),
      netns: w.u32(view, off, "netns"),
      drops: w.u32(view, off, "drops"),
      ackBacklog: w.u32(view, off, "ack_backlog"),
      maxAckBacklog: w.u32(view, off, "max_ack_backlog"),
      synQlen: w.u32(view, off, "syn_qlen"),
      lport: w.u16(view, off, "lport"),
      rport: w.u16(view, off, "rport"),
      proto: w.u8(view, off, "proto"),
      family,
      laddr: w.ip(view, off, "laddr", family),
      raddr: w.ip(view, off, "raddr", family),
      comm: w.str(view, off, "comm"),
    };
  }

  decodeUdp(sk: bigint, view: DataView, off: number): UdpBytes {
    const u = this.udp;
    const family = u.u8(view, off, "family");
    return {
      sk,
      ino: u.u64(view, off, "ino"),
      tgid: u.u32(view, off, "tgid"),
      family,
      lport: u.u16(view, off, "lport"),
      rport: u.u16(view, off, "rport"),
      laddr: u.ip(view, off, "laddr", family),
      raddr: u.ip(view, off, "raddr", family),
      comm: u.str(view, off, "comm"),
      tx: u.u64(view, off, "tx"),
      rx: u.u64(view, off, "rx"),
    };
  }
}

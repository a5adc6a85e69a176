// From cumulative per-socket records to per-period link rows (pure; no kernel needed).
// Each socket's previous cumulative values are remembered; a period's value is the
// difference, summed over the sockets of one link (tgid, role, client, server, server
// port, client port when report_cport=1, family). A closed socket contributes its last
// difference to the period it closed in and is forgotten.
import type { ProbeEvent } from "../../store/table.ts";
import type { HistogramValue, Row } from "../../store/table.ts";
import { C, type ConnRecord, H, HIST_SLOTS, M_LOST_OUT, M_SACKED_OUT, N_CTR, N_HIST, N_MAX } from "./decode.ts";
import { BOUNDS } from "./tables.ts";

export interface LinkStats {
  tgid: number;
  comm: string;
  /** 0 server, 1 client. */
  role: number;
  clientIp: string;
  serverIp: string;
  /** 0 unless report_cport=1. */
  clientPort: number;
  serverPort: number;
  family: number;
  /** Per-period deltas. */
  ctr: Float64Array;
  hist: Float64Array;
  hsum: Float64Array;
  /** Period maxima (delay maxima in µs as the kernel keeps them). */
  max: Float64Array;
  /** Sockets that contributed (live or closed this period). */
  sockets: number;
  closed: number;
}

interface Snapshot {
  ctr: Float64Array;
  hsum: Float64Array;
  hist: Uint32Array;
}

export interface AggregatorOptions {
  reportCport: boolean;
  /** Most links held per period; sockets of further links are counted in `overflow`. */
  maxLinks: number;
}

export class Aggregator {
  private readonly snaps = new Map<string, Snapshot>();
  private links = new Map<string, LinkStats>();
  /** Sockets whose link did not fit this period. */
  overflow = 0;

  constructor(public opts: AggregatorOptions) {}

  get trackedSockets(): number {
    return this.snaps.size;
  }

  private link(r: ConnRecord): LinkStats | undefined {
    const client = r.role === 1;
    const clientIp = client ? r.laddr : r.raddr;
    const serverIp = client ? r.raddr : r.laddr;
    const clientPort = this.opts.reportCport ? (client ? r.lport : r.rport) : 0;
    const serverPort = client ? r.rport : r.lport;
    const k = `${r.tgid}\0${r.comm}\0${r.role}\0${clientIp}\0${serverIp}\0${clientPort}\0${serverPort}\0${r.family}`;
    let l = this.links.get(k);
    if (!l) {
      if (this.links.size >= this.opts.maxLinks) return undefined;
      l = {
        tgid: r.tgid,
        comm: r.comm,
        role: r.role,
        clientIp,
        serverIp,
        clientPort,
        serverPort,
        family: r.family,
        ctr: new Float64Array(N_CTR),
        hist: new Float64Array(N_HIST * HIST_SLOTS),
        hsum: new Float64Array(N_HIST),
        max: new Float64Array(N_MAX),
        sockets: 0,
        closed: 0,
      };
      this.links.set(k, l);
    }
    return l;
  }

  /** Adds one socket's record (read from the map, or its final record when `closed`). */
  add(r: ConnRecord, closed: boolean): void {
    const prev = this.snaps.get(r.key);
    if (closed) this.snaps.delete(r.key);
    else {
      // Counters are cumulative; a live read racing with the kernel's own update may see
      // a byte position a moment old (tcp.bpf.c advance): keep the largest seen, so the
      // bytes it missed are reported next period instead of twice.
      const ctr = prev ? r.ctr.map((v, i) => Math.max(v, prev.ctr[i]!)) : r.ctr;
      this.snaps.set(r.key, { ctr, hsum: r.hsum, hist: r.hist });
    }
    const l = this.link(r);
    if (!l) {
      this.overflow++;
      return;
    }
    l.sockets++;
    if (closed) l.closed++;
    for (let i = 0; i < N_CTR; i++) l.ctr[i]! += Math.max(0, r.ctr[i]! - (prev?.ctr[i] ?? 0));
    for (let i = 0; i < N_HIST; i++) l.hsum[i]! += Math.max(0, r.hsum[i]! - (prev?.hsum[i] ?? 0));
    for (let i = 0; i < r.hist.length; i++) l.hist[i]! += Math.max(0, r.hist[i]! - (prev?.hist[i] ?? 0));
    for (let i = 0; i < N_MAX; i++) if (r.max[i]! > l.max[i]!) l.max[i] = r.max[i]!;
  }

  /** Forgets a socket without reporting it (e.g. its process left the scope). */
  forget(key: string): void {
    this.snaps.delete(key);
  }

  /**
   * Ends the period: returns its links and forgets sockets that were neither seen live
   * (`live`) nor closed since the last call.
   */
  endPeriod(live: ReadonlySet<string>): LinkStats[] {
    for (const k of this.snaps.keys()) if (!live.has(k)) this.snaps.delete(k);
    const out = [...this.links.values()];
    this.links = new Map();
    return out;
  }
}

// ---- rows ------------------------------------------------------------------------------

type BoundsKind = keyof typeof BOUNDS;
const HIST_KIND: Record<number, BoundsKind> = {
  [H.SRTT]: "rtt",
  [H.RCV_RTT]: "rtt",
  [H.SYN_SRTT]: "rtt",
  [H.SND_CWND]: "window",
  [H.NOTSENT]: "window",
  [H.NOTACK]: "window",
  [H.REORDERING]: "window",
  [H.SND_WND]: "window",
  [H.RCV_WND]: "window",
  [H.AVL_SND_WND]: "window",
  [H.RTO]: "rto",
  [H.ATO]: "rto",
  [H.RCVBUF]: "sockbuf",
  [H.SNDBUF]: "sockbuf",
  [H.SYS_DELAY]: "delay",
  [H.NET_DELAY]: "delay",
};

/** The histogram value of slot `h` of a link (cumulative buckets, sum, max). */
export function histogram(l: LinkStats, h: number): HistogramValue {
  const bounds = BOUNDS[HIST_KIND[h]!];
  const cumulative: number[] = [];
  let run = 0;
  for (let i = 0; i < bounds.length; i++) {
    run += l.hist[h * HIST_SLOTS + i]!;
    cumulative.push(run);
  }
  const delay = h === H.SYS_DELAY || h === H.NET_DELAY;
  return { bounds, cumulative, sum: l.hsum[h]!, max: delay ? l.max[h]! * 1000 : l.max[h]! };
}

const ratio = (n: number, d: number) => (n > 0 && d > 0 ? n / d : 0).toFixed(2);

export function roleName(role: number): "client" | "server" {
  return role === 1 ? "client" : "server";
}

/** The tcp_metric row of a link; columns of subitems not enabled stay empty. */
export function linkRow(l: LinkStats, subitems: ReadonlySet<string>): Row {
  const c = l.ctr;
  const row: Record<string, Row[string]> = {
    tgid: String(l.tgid),
    comm: l.comm,
    role: roleName(l.role),
    client_ip: l.clientIp,
    toa_client_ip: "",
    server_ip: l.serverIp,
    client_port: String(l.clientPort),
    server_port: String(l.serverPort),
    protocol: String(l.family),
  };
  if (subitems.has("tcp_stats")) {
    row.rx_bytes = c[C.RX_BYTES];
    row.tx_bytes = c[C.TX_BYTES];
    row.segs_in = c[C.SEGS_IN];
    row.segs_out = c[C.SEGS_OUT];
  }
  if (subitems.has("tcp_rtt")) {
    row.srtt = histogram(l, H.SRTT);
    row.rcv_rtt = histogram(l, H.RCV_RTT);
  }
  if (subitems.has("tcp_windows")) {
    row.snd_cwnd = histogram(l, H.SND_CWND);
    row.notsent_bytes = histogram(l, H.NOTSENT);
    row.notack_bytes = histogram(l, H.NOTACK);
    row.reordering = histogram(l, H.REORDERING);
    row.snd_wnd = histogram(l, H.SND_WND);
    row.rcv_wnd = histogram(l, H.RCV_WND);
    row.avl_snd_wnd = histogram(l, H.AVL_SND_WND);
    row.zero_rcv_wnd_count = c[C.ZERO_RCV_WND];
    row.zero_snd_wnd_count = c[C.ZERO_SND_WND];
    row.zero_win_rx_ratio = ratio(c[C.ZERO_RCV_WND]!, c[C.RX_BYTES]!);
    row.zero_win_tx_ratio = ratio(c[C.ZERO_SND_WND]!, c[C.TX_BYTES]!);
  }
  if (subitems.has("tcp_rate")) {
    row.rto = histogram(l, H.RTO);
    row.ato = histogram(l, H.ATO);
  }
  if (subitems.has("tcp_srtt")) {
    row.syn_srtt = histogram(l, H.SYN_SRTT);
    row.syn_srtt_max = l.max[H.SYN_SRTT];
  }
  if (subitems.has("tcp_sockbuf")) {
    row.sk_rcvbuf = histogram(l, H.RCVBUF);
    row.sk_sndbuf = histogram(l, H.SNDBUF);
  }
  if (subitems.has("tcp_abnormal")) {
    row.retran_packets = c[C.RETRANS];
    row.backlog_drops = c[C.BACKLOG_DROPS];
    row.sk_drops = c[C.SK_DROPS];
    row.lost_out = l.max[M_LOST_OUT];
    row.sacked_out = l.max[M_SACKED_OUT];
    row.filter_drops = c[C.FILTER_DROPS];
    row.tmout_count = c[C.TMOUT];
    row.snd_buf_limit_count = c[C.SNDBUF_LIMIT];
    row.rmem_scheduls = c[C.RMEM_DROPS];
    row.tcp_oom = c[C.TCP_OOM];
    row.send_rsts = c[C.SEND_RSTS];
    row.receive_rsts = c[C.RECV_RSTS];
    row.retrans_ratio = ratio(c[C.RETRANS]!, c[C.SEGS_OUT]!);
  }
  return row;
}

/** proc_flow_perf rows (tcp_delay): links merged per tgid, role, peer IP and server port. */
export function flowRows(links: readonly LinkStats[]): Row[] {
  const flows = new Map<string, LinkStats>();
  for (const l of links) {
    const remote = l.role === 1 ? l.serverIp : l.clientIp;
    const k = `${l.tgid}\0${l.role}\0${remote}\0${l.serverPort}`;
    let f = flows.get(k);
    if (!f) {
      f = { ...l, clientIp: remote, hist: new Float64Array(l.hist.length), hsum: new Float64Array(N_HIST), max: new Float64Array(N_MAX), ctr: new Float64Array(N_CTR) };
      flows.set(k, f);
    }
    for (const h of [H.SYS_DELAY, H.NET_DELAY]) {
      for (let i = 0; i < HIST_SLOTS; i++) f.hist[h * HIST_SLOTS + i]! += l.hist[h * HIST_SLOTS + i]!;
      f.hsum[h]! += l.hsum[h]!;
      if (l.max[h]! > f.max[h]!) f.max[h] = l.max[h]!;
    }
  }
  return [...flows.values()].map((f) => ({
    tgid: String(f.tgid),
    role: roleName(f.role),
    remote_ip: f.clientIp,
    server_port: String(f.serverPort),
    sys_delay: histogram(f, H.SYS_DELAY),
    net_delay: histogram(f, H.NET_DELAY),
  }));
}

// ---- events (events-and-metadata.md §1.4) ------------------------------------------------

export interface EventParams {
  drops_thr: number;
  /** ms; compared with the handshake RTT in µs (× 1000, not upstream's × 8). */
  latency_thr: number;
  res_upper_thr: number;
}

/** `<tgid>_<server|client>_<client_ip>_<server_ip>_<server_port>_<family>` */
export function entityKey(l: LinkStats): string {
  return `${l.tgid}_${roleName(l.role)}_${l.clientIp}_${l.serverIp}_${l.serverPort}_${l.family}`;
}

export function linkEvents(l: LinkStats, p: EventParams, subitems: ReadonlySet<string>): ProbeEvent[] {
  const out: ProbeEvent[] = [];
  const base = { entity: "tcp_link", key: entityKey(l), pid: String(l.tgid), comm: l.comm, ip: `CIP(${l.clientIp}), SIP(${l.serverIp}:${l.serverPort})` };
  const ev = (metric: string, message: string) => out.push({ ...base, metric, message });
  const c = l.ctr;
  if (subitems.has("tcp_abnormal")) {
    if (c[C.TCP_OOM]! !== 0) ev("tcp_oom", `TCP out of memory(${c[C.TCP_OOM]}).`);
    if (p.drops_thr !== 0) {
      const thr = p.drops_thr;
      if (c[C.BACKLOG_DROPS]! > thr) ev("backlog_drops", `TCP backlog queue drops(${c[C.BACKLOG_DROPS]}).`);
      if (c[C.FILTER_DROPS]! > thr) ev("filter_drops", `TCP filter drops(${c[C.FILTER_DROPS]}).`);
      if (c[C.SK_DROPS]! > thr) ev("sk_drops", `Number of lost packets in the TCP protocol stack(${c[C.SK_DROPS]}).`);
      if (l.max[M_LOST_OUT]! > thr) ev("lost_out", `Number of lost segments estimated by TCP congestion(${l.max[M_LOST_OUT]}).`);
      if (l.max[M_SACKED_OUT]! > thr)
        ev("sacked_out", `Number of out-of-order TCP packets (SACK) or number of repeated TCP ACKs (NO SACK)(${l.max[M_SACKED_OUT]}).`);
    }
  }
  if (subitems.has("tcp_windows")) {
    const rx = c[C.ZERO_RCV_WND]! > 0 && c[C.RX_BYTES]! > 0 ? c[C.ZERO_RCV_WND]! / c[C.RX_BYTES]! : 0;
    const tx = c[C.ZERO_SND_WND]! > 0 && c[C.TX_BYTES]! > 0 ? c[C.ZERO_SND_WND]! / c[C.TX_BYTES]! : 0;
    if (Math.trunc(rx) > p.res_upper_thr) ev("zero_win_rx_ratio", `TCP zero receive windows ratio ${rx.toFixed(2)}.`);
    if (Math.trunc(tx) > p.res_upper_thr) ev("zero_win_tx_ratio", `TCP zero send windows ratio ${tx.toFixed(2)}.`);
  }
  if (subitems.has("tcp_srtt") && p.latency_thr !== 0 && l.max[H.SYN_SRTT]! > p.latency_thr * 1000) {
    ev("syn_srtt_max", `TCP connection establish timed out(${l.max[H.SYN_SRTT]} us).`);
  }
  return out;
}

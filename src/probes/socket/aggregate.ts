// From the kernel's cumulative values to per-period endpoint rows (pure; no kernel needed).
//
// Three inputs per period, each cumulative: the kernel's endpoint_tcp counters per key
// (TcpStat), the socket walk (every TCP listener and UDP socket of the processes in scope
// with its own drop counter) and the UDP byte counters per socket. A period's value is the
// difference from the previous period; summed over periods the values equal the kernel's
// counts. A socket seen for the first time counts its drops from zero when its process
// was already observed at the previous walk (the socket is new), and from its current
// count otherwise (it existed before the agent, or before its process came into scope).
import { C, LATENCY_BOUNDS, N_BUCKETS, N_CTR, ROLE, IPPROTO_TCP, IPPROTO_UDP, type TcpStat, type UdpBytes, type WalkRecord } from "./decode.ts";

/** One endpoint_tcp row of a period. */
export interface TcpEndpoint {
  tgid: number;
  comm: string;
  role: number;
  client: string;
  server: string;
  port: number;
  family: number;
  multi: boolean;
  /** Per-period counters, enum gsock_ctr order. */
  ctr: number[];
  listendrop: number;
  acceptOverflow: number;
  synOverflow: number;
  /** Per-period latency counts per bucket (not cumulative), their sum and the period's max. */
  hist: number[];
  hsum: number;
  hmax: number;
  /** A listening socket (its drop counters are reported). */
  listener: boolean;
}

/** One endpoint_udp row of a period. */
export interface UdpEndpoint {
  tgid: number;
  localIp: string;
  localPort: number;
  remoteIp: string;
  remotePort: number;
  family: number;
  drops: number;
  tx: number;
  rx: number;
}

export interface PeriodInput {
  tcp: readonly TcpStat[];
  walk: readonly WalkRecord[];
  udp: readonly UdpBytes[];
  /** Whether `tgid` was observed at the previous walk (undefined at the first walk). */
  wasObserved?: (tgid: number) => boolean;
}

export interface PeriodOutput {
  tcp: TcpEndpoint[];
  udp: UdpEndpoint[];
  /** Kernel endpoint_tcp entries idle long enough to be deleted (TcpStat.id). */
  pruneTcp: string[];
  /** UDP byte entries whose socket is gone (kernel key: the socket address). */
  goneUdp: bigint[];
}

export interface AggregatorOptions {
  /** Periods without any change after which an entry is no longer reported (upstream: 10 min). */
  idlePeriods: number;
}

interface TcpPrev {
  ctr: number[];
  hist: number[];
  hsum: number;
  idle: number;
}

interface UdpPrev {
  tx: number;
  rx: number;
  idle: number;
}

const unspecified = (family: number) => (family === 2 ? "0.0.0.0" : "::");
const identity = (sk: bigint, ino: number) => `${sk.toString(16)}:${ino}`;

function delta(now: number, before: number | undefined): number {
  // A smaller value: the entry was deleted and created again since the last read.
  return before === undefined || now < before ? now : now - before;
}

export class SocketAggregator {
  private readonly tcpPrev = new Map<string, TcpPrev>();
  private readonly dropPrev = new Map<string, number>();
  private readonly udpPrev = new Map<string, UdpPrev>();
  private walks = 0;

  constructor(readonly opts: AggregatorOptions) {}

  endPeriod(input: PeriodInput): PeriodOutput {
    const first = this.walks++ === 0;
    const observed = first ? () => false : (input.wasObserved ?? (() => true));
    const drops = this.walkDrops(input.walk, observed);
    const out: PeriodOutput = { tcp: [], udp: [], pruneTcp: [], goneUdp: [] };
    const multiPorts = new Set<string>();
    for (const l of drops.listeners) if (l.multi) multiPorts.add(`${l.tgid}:${l.port}`);
    out.tcp.push(...drops.listeners);
    this.tcpRows(input.tcp, multiPorts, out);
    this.udpRows(drops.udp, input.udp, out);
    return out;
  }

  /** Walk records grouped per socket, with their per-period drops. */
  private walkDrops(walk: readonly WalkRecord[], observed: (tgid: number) => boolean) {
    const bySocket = new Map<string, { recs: WalkRecord[]; tgids: Set<number> }>();
    for (const w of walk) {
      const id = identity(w.sk, w.ino);
      const g = bySocket.get(id);
      if (g) {
        g.recs.push(w);
        g.tgids.add(w.tgid);
      } else bySocket.set(id, { recs: [w], tgids: new Set([w.tgid]) });
    }
    const listeners: TcpEndpoint[] = [];
    const udp = new Map<string, { rec: WalkRecord; tgid: number; drops: number }>();
    for (const [id, g] of bySocket) {
      const tgid = Math.min(...g.tgids);
      const rec = g.recs.find((r) => r.tgid === tgid)!;
      const before = this.dropPrev.get(id) ?? ([...g.tgids].some(observed) ? 0 : rec.drops);
      const d = delta(rec.drops, before);
      if (rec.proto === IPPROTO_TCP) {
        const acceptFull = rec.ackBacklog > rec.maxAckBacklog;
        const synFull = !acceptFull && rec.synQlen >= rec.maxAckBacklog;
        listeners.push({
          tgid,
          comm: rec.comm,
          role: ROLE.SERVER,
          client: unspecified(rec.family),
          server: rec.laddr,
          port: rec.lport,
          family: rec.family,
          multi: g.tgids.size > 1,
          ctr: new Array<number>(N_CTR).fill(0),
          listendrop: d,
          acceptOverflow: acceptFull ? d : 0,
          synOverflow: synFull ? d : 0,
          hist: new Array<number>(N_BUCKETS).fill(0),
          hsum: 0,
          hmax: 0,
          listener: true,
        });
      } else if (rec.proto === IPPROTO_UDP) udp.set(id, { rec, tgid, drops: d });
    }
    for (const id of [...this.dropPrev.keys()]) if (!bySocket.has(id)) this.dropPrev.delete(id);
    for (const [id, g] of bySocket) this.dropPrev.set(id, g.recs[0]!.drops);
    return { listeners, udp };
  }

  private tcpRows(stats: readonly TcpStat[], multiPorts: ReadonlySet<string>, out: PeriodOutput): void {
    const seen = new Set<string>();
    for (const s of stats) {
      seen.add(s.id);
      const prev = this.tcpPrev.get(s.id);
      const ctr = s.ctr.map((v, i) => delta(v, prev?.ctr[i]));
      const hist = s.hist.map((v, i) => delta(v, prev?.hist[i]));
      const hsum = delta(s.hsum, prev?.hsum);
      const active = ctr.some((v) => v > 0) || hist.some((v) => v > 0);
      const idle = active ? 0 : (prev?.idle ?? 0) + 1;
      this.tcpPrev.set(s.id, { ctr: s.ctr, hist: s.hist, hsum: s.hsum, idle });
      if (idle >= this.opts.idlePeriods) {
        out.pruneTcp.push(s.id);
        this.tcpPrev.delete(s.id);
        continue;
      }
      out.tcp.push({
        tgid: s.tgid,
        comm: s.comm,
        role: s.role,
        client: s.client,
        server: s.server,
        port: s.port,
        family: s.family,
        multi: s.role === ROLE.SERVER && multiPorts.has(`${s.tgid}:${s.port}`),
        ctr,
        listendrop: 0,
        acceptOverflow: 0,
        synOverflow: 0,
        hist,
        hsum,
        hmax: s.max,
        listener: false,
      });
    }
    for (const id of [...this.tcpPrev.keys()]) if (!seen.has(id)) this.tcpPrev.delete(id);
  }

  private udpRows(walked: Map<string, { rec: WalkRecord; tgid: number; drops: number }>, bytes: readonly UdpBytes[], out: PeriodOutput): void {
    const rows = new Map<string, UdpEndpoint>();
    const add = (e: UdpEndpoint) => {
      const k = `${e.tgid}|${e.localIp}|${e.localPort}|${e.remoteIp}|${e.remotePort}|${e.family}`;
      const r = rows.get(k);
      if (!r) rows.set(k, e);
      else {
        r.drops += e.drops;
        r.tx += e.tx;
        r.rx += e.rx;
      }
    };
    const byteIds = new Map<string, UdpBytes>();
    for (const b of bytes) byteIds.set(identity(b.sk, b.ino), b);
    const ids = new Set([...walked.keys(), ...byteIds.keys()]);
    for (const id of ids) {
      const w = walked.get(id);
      const b = byteIds.get(id);
      const prev = this.udpPrev.get(id);
      const tx = b ? delta(b.tx, prev?.tx) : 0;
      const rx = b ? delta(b.rx, prev?.rx) : 0;
      const drops = w?.drops ?? 0;
      const idle = tx || rx || drops ? 0 : (prev?.idle ?? this.opts.idlePeriods) + 1;
      if (w) this.udpPrev.set(id, { tx: b?.tx ?? 0, rx: b?.rx ?? 0, idle });
      else {
        // Gone from the walk: this was its last period.
        this.udpPrev.delete(id);
        out.goneUdp.push(b!.sk);
      }
      if (idle > this.opts.idlePeriods) continue;
      add({
        tgid: w?.tgid ?? b!.tgid,
        localIp: w ? w.rec.laddr : b!.laddr,
        localPort: w ? w.rec.lport : b!.lport,
        remoteIp: w ? w.rec.raddr : b!.raddr,
        remotePort: w ? w.rec.rport : b!.rport,
        family: w ? w.rec.family : b!.family,
        drops,
        tx,
        rx,
      });
    }
    for (const id of [...this.udpPrev.keys()]) if (!ids.has(id)) this.udpPrev.delete(id);
    out.udp.push(...rows.values());
  }
}

/** Latency histogram value of a row (cumulative buckets). */
export function latencyHistogram(e: TcpEndpoint) {
  const cumulative: number[] = [];
  let run = 0;
  for (const n of e.hist) cumulative.push((run += n));
  return { bounds: LATENCY_BOUNDS, cumulative, sum: e.hsum, max: e.hmax };
}

export { C };

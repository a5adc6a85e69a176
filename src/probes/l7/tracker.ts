// The connection tracker: kernel records in, request records out. Per connection it finds
// the protocol (the enabled parsers' detect() on what either side sent), decides which side
// is the client, feeds one ProtocolSession with the client's bytes as requests and the
// server's as responses, and adds every finished record to its link in the aggregator. A
// connection that is none of the enabled protocols is marked in the kernel (l7_verdicts),
// which then stops copying its bytes. UDP sockets are split per datagram peer. At most
// `maxConns` connections are tracked; the rest are marked ignored and counted.
import type { Aggregator, Link, LinkKey } from "./aggregate.ts";
import { CONN_CLOSED, DIR_SEND, L4_TCP, ROLE_CLIENT, ROLE_SERVER, ROLE_UNKNOWN, VERDICT_CAPTURE, VERDICT_IGNORE, type ConnInfo, type EventView } from "./decode.ts";
import { Detection, DETECT_CHUNKS } from "./detect.ts";
import { Looks, type L7Record, type ProtocolParser, type ProtocolSession, type Transport } from "./protocol.ts";

/** UDP datagrams of a peer that no enabled parser recognises before the peer is given up. */
export const DETECT_ATTEMPTS = 3;
/** Ciphertext chunks a TLS flow may show (support_ssl) before any plaintext from the TLS uprobes. */
export const TLS_WAIT_CHUNKS = 64;

const enum FlowState {
  Detecting = 0,
  Parsing = 1,
  Ignored = 2,
}

class Flow {
  state = FlowState.Detecting;
  misses = 0;
  session?: ProtocolSession;
  /** This process is the protocol's client. */
  clientSide = false;
  /** TLS seen (support_ssl): from then on only the TLS uprobes' plaintext is parsed. */
  tls = false;
  cipherChunks = 0;
  link?: Link;
  /** TCP, while detecting: what the connection said so far. */
  detection?: Detection;
  constructor(
    readonly peerIp: string,
    readonly peerPort: number,
  ) {}
}

class ConnState {
  /** Kernel counters at the last collection (TCP bytes are taken from the kernel). */
  lastSent = 0;
  lastRecv = 0;
  lastSegsSent = 0;
  lastSegsRecv = 0;
  closed = false;
  tcp?: Flow;
  udp?: Map<string, Flow>;
  constructor(readonly info: ConnInfo) {}
}

export interface TrackerDeps {
  /** The enabled parsers, in detection order. */
  parsers: readonly ProtocolParser[];
  /** The kernel's record of a connection (undefined: gone). */
  conn(id: number): ConnInfo | undefined;
  setVerdict(id: number, verdict: number): void;
  /** Whether the local port listens in the connection's namespace; undefined: unknown (process gone). */
  isListening(tgid: number, netns: number, port: number): boolean | undefined;
  agg: Aggregator;
  maxConns: number;
  /** support_ssl: wait for plaintext on connections that start with a TLS record. */
  supportSsl(): boolean;
  nowMs(): number;
}

export interface TrackerCounts {
  trackerFull: number;
  udpFlowsFull: number;
  resyncs: number;
  unansweredDropped: number;
  unmatchedResponses: number;
}

/** UDP peers tracked per socket (a DNS server answers many). */
const MAX_UDP_FLOWS = 1024;

export class Tracker {
  private readonly conns = new Map<number, ConnState>();
  private readonly out: L7Record[] = [];
  readonly counts: TrackerCounts = { trackerFull: 0, udpFlowsFull: 0, resyncs: 0, unansweredDropped: 0, unmatchedResponses: 0 };

  constructor(private readonly d: TrackerDeps) {}

  get size(): number {
    return this.conns.size;
  }

  onClose(connId: number): void {
    const c = this.conns.get(connId);
    if (c) c.closed = true;
  }

  onData(ev: EventView): void {
    let c = this.conns.get(ev.connId);
    if (!c) {
      if (this.conns.size >= this.d.maxConns) {
        this.counts.trackerFull++;
        this.d.setVerdict(ev.connId, VERDICT_IGNORE);
        return;
      }
      const info = this.d.conn(ev.connId);
      if (!info) return; // closed and forgotten meanwhile
      c = new ConnState(info);
      this.conns.set(ev.connId, c);
    }
    const flow = this.flowOf(c, ev);
    if (!flow || flow.state === FlowState.Ignored) return;
    if (ev.ssl) {
      // Plaintext from the TLS uprobes: what detection held so far was ciphertext.
      if (!flow.tls) flow.detection = undefined;
      flow.tls = true;
    } else if (flow.tls) return this.onCiphertext(c, flow);
    const transport: Transport = c.info.l4 === L4_TCP ? "tcp" : "udp";
    if (flow.state === FlowState.Detecting) {
      if (transport === "tcp") {
        // Decided: the held chunks, this one included, have gone to the session.
        if (this.detectTcp(c, flow, ev)) this.drainSession(flow);
        return;
      }
      if (!this.detect(c, flow, ev)) return;
    }
    if (transport === "udp" && flow.link) {
      const send = ev.dir === DIR_SEND;
      this.d.agg.addBytes(flow.link, send ? ev.len : 0, send ? 0 : ev.len, send ? 1 : 0, send ? 0 : 1, this.d.nowMs());
    }
    const s = flow.session!;
    if (flow.clientSide === (ev.dir === DIR_SEND)) s.request(ev.data, ev.len, ev.tsNs);
    else s.response(ev.data, ev.len, ev.tsNs);
    this.drainSession(flow);
  }

  /** Bytes of a TLS flow seen by the syscalls (the handshake, or reads finished on another thread): not parsed. */
  private onCiphertext(c: ConnState, flow: Flow): void {
    if (flow.state !== FlowState.Detecting || ++flow.cipherChunks < TLS_WAIT_CHUNKS) return;
    // No plaintext came (a TLS library the uprobes do not cover): stop copying its bytes.
    flow.state = FlowState.Ignored;
    if (c.info.l4 === L4_TCP) this.d.setVerdict(c.info.connId, VERDICT_IGNORE);
  }

  private drainSession(flow: Flow): void {
    const out = this.out;
    out.length = 0;
    if (flow.session!.drain(out) === 0 || !flow.link) return;
    const now = this.d.nowMs();
    for (const r of out) this.d.agg.addRecord(flow.link, r, now);
    out.length = 0;
  }

  private flowOf(c: ConnState, ev: EventView): Flow | undefined {
    if (c.info.l4 === L4_TCP) return (c.tcp ??= new Flow(c.info.remoteIp, c.info.remotePort));
    const p = ev.peer();
    const ip = p?.ip ?? c.info.remoteIp;
    const port = p?.port ?? c.info.remotePort;
    const key = `${ip}|${port}`;
    c.udp ??= new Map();
    let f = c.udp.get(key);
    if (!f) {
      if (c.udp.size >= MAX_UDP_FLOWS) {
        this.counts.udpFlowsFull++;
        return undefined;
      }
      f = new Flow(ip, port);
      c.udp.set(key, f);
    }
    return f;
  }

  /**
   * TCP detection: each direction's accumulated beginning is offered to the parsers as it
   * grows; once one claims it, the session gets every chunk held so far, in order. True
   * when decided (and replayed).
   */
  private detectTcp(c: ConnState, flow: Flow, ev: EventView): boolean {
    const det = (flow.detection ??= new Detection());
    det.add(ev.dir, ev.data, ev.len, ev.tsNs);
    const prefix = det.prefixOf(ev.dir);
    // The direction's whole beginning first (a message split over reads); then this chunk
    // alone (a recognisable message after one that is not, e.g. PostgreSQL's StartupMessage
    // after an SSLRequest): the session then starts at this chunk.
    if (prefix.length > 0 && this.choose(c, flow, ev, prefix, det, 0)) return true;
    if (ev.data.length > 0 && ev.data.length !== prefix.length && this.choose(c, flow, ev, ev.data, det, det.count - 1)) return true;
    // A TLS record: the plaintext comes through the TLS uprobes (support_ssl), if at all.
    if (this.d.supportSsl() && prefix.length > 0 && looksLikeTls(prefix)) {
      flow.detection = undefined;
      flow.tls = true;
      return false;
    }
    if (det.count >= DETECT_CHUNKS || this.d.parsers.length === 0) {
      flow.state = FlowState.Ignored;
      flow.detection = undefined;
      this.d.setVerdict(c.info.connId, VERDICT_IGNORE);
    }
    return false;
  }

  /** Offers `bytes` (what direction ev.dir sent) to the parsers; on a claim, starts the session with the held chunks from `from` on. */
  private choose(c: ConnState, flow: Flow, ev: EventView, bytes: Uint8Array, det: Detection, from: number): boolean {
    const sent = ev.dir === DIR_SEND;
    for (const p of this.d.parsers) {
      const looks = p.detect(bytes, "tcp");
      if (looks === Looks.No) continue;
      // What this side sends as a request, or receives as a response, makes it the client.
      flow.clientSide = (looks === Looks.Request) === sent;
      const s = (flow.session = p.session({ transport: "tcp" }));
      flow.state = FlowState.Parsing;
      flow.link = this.d.agg.link(this.linkKey(c, flow, p.name, ev.ssl), this.d.nowMs());
      this.d.setVerdict(c.info.connId, VERDICT_CAPTURE);
      for (let i = from; i < det.chunks.length; i++) {
        const h = det.chunks[i]!;
        if (flow.clientSide === (h.dir === DIR_SEND)) s.request(h.bytes, h.len, h.tsNs);
        else s.response(h.bytes, h.len, h.tsNs);
      }
      flow.detection = undefined;
      return true;
    }
    return false;
  }

  /** UDP detection on this datagram alone; true once the flow has a session. */
  private detect(c: ConnState, flow: Flow, ev: EventView): boolean {
    const bytes = ev.data;
    const transport: Transport = c.info.l4 === L4_TCP ? "tcp" : "udp";
    if (bytes.length > 0) {
      const sent = ev.dir === DIR_SEND;
      for (const p of this.d.parsers) {
        const looks = p.detect(bytes, transport);
        if (looks === Looks.No) continue;
        // What this side sends as a request, or receives as a response, makes it the client.
        flow.clientSide = (looks === Looks.Request) === sent;
        flow.session = p.session({ transport });
        flow.state = FlowState.Parsing;
        flow.link = this.d.agg.link(this.linkKey(c, flow, p.name, ev.ssl), this.d.nowMs());
        if (transport === "tcp") this.d.setVerdict(c.info.connId, VERDICT_CAPTURE);
        return true;
      }
      // A TLS record: the plaintext comes through the TLS uprobes (support_ssl), if at all.
      if (this.d.supportSsl() && looksLikeTls(bytes)) {
        flow.tls = true;
        return false;
      }
    }
    if (++flow.misses >= DETECT_ATTEMPTS || this.d.parsers.length === 0) {
      flow.state = FlowState.Ignored;
      // A UDP socket stops costing once none of its peers speaks an enabled protocol.
      if (transport === "tcp" || ![...c.udp!.values()].some((f) => f.state !== FlowState.Ignored)) this.d.setVerdict(c.info.connId, VERDICT_IGNORE);
    }
    return false;
  }

  private linkKey(c: ConnState, flow: Flow, protocol: string, ssl: boolean): LinkKey {
    const i = c.info;
    const l7Role = flow.clientSide ? "client" : "server";
    let l4Role: LinkKey["l4Role"] = "udp";
    let weAreClient = flow.clientSide;
    if (i.l4 === L4_TCP) {
      let role = i.role;
      if (role === ROLE_UNKNOWN) {
        // Opened before it was seen: the side whose local port listens is the server; when
        // that cannot be read (a short-lived process already gone), the protocol's side.
        const listening = this.d.isListening(i.tgid, i.netns, i.localPort);
        role = (listening ?? !flow.clientSide) ? ROLE_SERVER : ROLE_CLIENT;
      }
      l4Role = role === ROLE_SERVER ? "tcp_server" : "tcp_client";
      weAreClient = role === ROLE_CLIENT;
    }
    return {
      tgid: i.tgid,
      clientIp: weAreClient ? i.localIp : flow.peerIp,
      serverIp: weAreClient ? flow.peerIp : i.localIp,
      serverPort: weAreClient ? flow.peerPort : i.localPort,
      l4Role,
      l7Role,
      protocol,
      ssl,
    };
  }

  /**
   * A collection: `kernel` visits every connection of the kernel map with its cumulative
   * counters. TCP byte/segment deltas go to the links; connections that closed (or whose
   * process is gone: `alive`) are returned to be forgotten in the kernel and here.
   */
  collect(visit: (f: (k: ConnInfo) => void) => void, alive: (tgid: number) => boolean): ConnInfo[] {
    const gone: ConnInfo[] = [];
    const seen = new Set<number>();
    const now = this.d.nowMs();
    visit((k) => {
      seen.add(k.connId);
      const c = this.conns.get(k.connId);
      if (c?.tcp?.link) {
        this.d.agg.addBytes(c.tcp.link, k.bytesSent - c.lastSent, k.bytesRecv - c.lastRecv, k.segsSent - c.lastSegsSent, k.segsRecv - c.lastSegsRecv, now);
        c.lastSent = k.bytesSent;
        c.lastRecv = k.bytesRecv;
        c.lastSegsSent = k.segsSent;
        c.lastSegsRecv = k.segsRecv;
      }
      if (k.flags & CONN_CLOSED || c?.closed || !alive(k.tgid)) gone.push(k);
    });
    for (const k of gone) this.forget(k.connId);
    for (const id of this.conns.keys()) if (!seen.has(id)) this.forget(id);
    return gone;
  }

  private forget(id: number): void {
    const c = this.conns.get(id);
    if (!c) return;
    for (const f of this.flows(c)) {
      const st = f.session?.stats;
      if (!st) continue;
      this.counts.resyncs += st.resyncs;
      this.counts.unansweredDropped += st.unansweredDropped;
      this.counts.unmatchedResponses += st.unmatchedResponses;
    }
    this.conns.delete(id);
  }

  private *flows(c: ConnState): Generator<Flow> {
    if (c.tcp) yield c.tcp;
    if (c.udp) yield* c.udp.values();
  }
}

/** A TLS record header: content type 20-23, version 3.x. */
export function looksLikeTls(b: Uint8Array): boolean {
  return b.length >= 3 && b[0]! >= 20 && b[0]! <= 23 && b[1] === 3 && b[2]! <= 4;
}

// Per-period aggregation of the l7 probe: links (tgid, client_ip, server_ip, server_port,
// l4_role, l7_role, protocol; ssl label) with their byte/segment deltas (l7_link), their
// request statistics (l7_rpc) and the same per API (l7_rpc_api, at most `maxApis` per link,
// the rest under OVERFLOW_API). Values follow upstream's l7probe: counts are per period,
// throughput = count / report_period, latency_sum and the histogram (outputs.md §2.4.1
// bounds) in ns, latency_avg = latency_sum / req_count, err_ratio = err_count / req_count.
import type { HistogramValue, Row } from "../../store/table.ts";
import { ErrorClass, type L7Record } from "./protocol.ts";
import { LATENCY_BOUNDS_NS } from "./tables.ts";

/** The API requests past a link's `maxApis` distinct APIs are counted under. */
export const OVERFLOW_API = "__overflow__";
/** A link with no traffic for this long is no longer reported (upstream's 5 minutes). */
export const LINK_IDLE_MS = 5 * 60 * 1000;

export interface LinkKey {
  tgid: number;
  clientIp: string;
  serverIp: string;
  serverPort: number;
  l4Role: "tcp_client" | "tcp_server" | "udp";
  l7Role: "client" | "server";
  protocol: string;
  ssl: boolean;
}

export class RpcStats {
  req = 0;
  resp = 0;
  err = 0;
  clientErr = 0;
  serverErr = 0;
  latencySum = 0;
  latencyMax = 0;
  readonly buckets = new Float64Array(LATENCY_BOUNDS_NS.length);

  add(r: L7Record): void {
    this.req++;
    if (r.error === ErrorClass.Client) {
      this.err++;
      this.clientErr++;
    } else if (r.error === ErrorClass.Server) {
      this.err++;
      this.serverErr++;
    }
    if (r.noResponse) return;
    this.resp++;
    const lat = Math.max(0, r.respEndNs - r.reqStartNs);
    this.latencySum += lat;
    if (lat > this.latencyMax) this.latencyMax = lat;
    // outputs.md §2.4.1: first bucket with min < v <= max; <= 0 or past the last bound: not counted.
    if (lat <= 0) return;
    for (let i = 0; i < LATENCY_BOUNDS_NS.length; i++) {
      if (lat <= LATENCY_BOUNDS_NS[i]!) {
        this.buckets[i]!++;
        return;
      }
    }
  }

  reset(): void {
    this.req = this.resp = this.err = this.clientErr = this.serverErr = this.latencySum = this.latencyMax = 0;
    this.buckets.fill(0);
  }

  histogram(): HistogramValue {
    const cumulative: number[] = [];
    let c = 0;
    for (const b of this.buckets) cumulative.push((c += b));
    return { bounds: LATENCY_BOUNDS_NS, cumulative, sum: this.latencySum, max: this.latencyMax };
  }

  /** The l7_rpc fields (and l7_rpc_api's with `api`). */
  fields(periodS: number, api: boolean): Record<string, string | number | HistogramValue> {
    const ratio = (n: number) => (this.req === 0 ? 0 : n / this.req).toFixed(2);
    const out: Record<string, string | number | HistogramValue> = {
      throughput_req: (this.req / periodS).toFixed(2),
      throughput_resp: (this.resp / periodS).toFixed(2),
      req_count: this.req,
      resp_count: this.resp,
      latency_avg: (this.req === 0 ? 0 : this.latencySum / this.req).toFixed(2),
      latency: this.histogram(),
      latency_sum: this.latencySum,
      err_ratio: ratio(this.err),
      err_count: this.err,
    };
    if (api) {
      out.client_err_ratio = ratio(this.clientErr);
      out.server_err_ratio = ratio(this.serverErr);
      out.client_err_count = this.clientErr;
      out.server_err_count = this.serverErr;
    }
    return out;
  }
}

export class Link {
  bytesSent = 0;
  bytesRecv = 0;
  segsSent = 0;
  segsRecv = 0;
  readonly rpc = new RpcStats();
  readonly apis = new Map<string, RpcStats>();
  lastActiveMs: number;
  constructor(
    readonly key: LinkKey,
    nowMs: number,
  ) {
    this.lastActiveMs = nowMs;
  }
}

export function linkId(k: LinkKey): string {
  return `${k.tgid}|${k.clientIp}|${k.serverIp}|${k.serverPort}|${k.l4Role}|${k.l7Role}|${k.protocol}|${k.ssl ? 1 : 0}`;
}

export interface AggregatorOptions {
  maxLinks: number;
  maxApis: number;
}

export class Aggregator {
  private readonly links = new Map<string, Link>();
  /** Links refused because maxLinks were tracked (reported as link_table_full drops). */
  overflow = 0;

  constructor(readonly opts: AggregatorOptions) {}

  /** The link of `key`, created when new; undefined when the table is full. */
  link(key: LinkKey, nowMs: number): Link | undefined {
    const id = linkId(key);
    let l = this.links.get(id);
    if (l) return l;
    if (this.links.size >= this.opts.maxLinks) {
      this.overflow++;
      return undefined;
    }
    l = new Link(key, nowMs);
    this.links.set(id, l);
    return l;
  }

  addRecord(l: Link, r: L7Record, nowMs: number): void {
    l.lastActiveMs = nowMs;
    l.rpc.add(r);
    let a = l.apis.get(r.api);
    if (!a) {
      if (l.apis.size >= this.opts.maxApis) {
        a = l.apis.get(OVERFLOW_API);
        if (!a) {
          a = new RpcStats();
          l.apis.set(OVERFLOW_API, a);
        }
      } else {
        a = new RpcStats();
        l.apis.set(r.api, a);
      }
    }
    a.add(r);
  }

  addBytes(l: Link, sent: number, recv: number, segsSent: number, segsRecv: number, nowMs: number): void {
    if (sent || recv || segsSent || segsRecv) l.lastActiveMs = nowMs;
    l.bytesSent += sent;
    l.bytesRecv += recv;
    l.segsSent += segsSent;
    l.segsRecv += segsRecv;
  }

  /**
   * Ends the period: the rows of every link active in the last LINK_IDLE_MS (those idle
   * longer are dropped), then every count starts again from zero.
   */
  endPeriod(nowMs: number, periodS: number): { link: Row[]; rpc: Row[]; api: Row[] } {
    const out = { link: [] as Row[], rpc: [] as Row[], api: [] as Row[] };
    for (const [id, l] of this.links) {
      if (nowMs - l.lastActiveMs > LINK_IDLE_MS) {
        this.links.delete(id);
        continue;
      }
      const k = keyFields(l.key);
      out.link.push({ ...k, bytes_sent: l.bytesSent, bytes_recv: l.bytesRecv, segs_sent: l.segsSent, segs_recv: l.segsRecv });
      out.rpc.push({ ...k, ...l.rpc.fields(periodS, false) });
      for (const [api, s] of l.apis) out.api.push({ ...k, api, ...s.fields(periodS, true) });
      l.bytesSent = l.bytesRecv = l.segsSent = l.segsRecv = 0;
      l.rpc.reset();
      for (const s of l.apis.values()) s.reset();
    }
    return out;
  }

  get size(): number {
    return this.links.size;
  }
}

function keyFields(k: LinkKey): Record<string, string> {
  return {
    tgid: String(k.tgid),
    client_ip: k.clientIp || "no_ip",
    server_ip: k.serverIp || "no_ip",
    server_port: String(k.serverPort),
    l4_role: k.l4Role,
    l7_role: k.l7Role,
    protocol: k.protocol,
    ssl: k.ssl ? "ssl" : "no_ssl",
  };
}

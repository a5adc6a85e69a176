// baseinfo subitem net: tables system_tcp and system_udp, key origin = "/proc/net/snmp".
// tcp_curr_estab is CurrEstab as read (absolute); every other field is the per-period
// delta of its /proc/net/snmp counter (InSegs, OutSegs, RetransSegs, InErrs,
// Udp InDatagrams, OutDatagrams). No deltas without a previous sample.
import type { ProbeContext } from "../../probe/define.ts";
import type { Row } from "../../store/table.ts";
import { reportErrors, type Collector, type CollectorDeps } from "./collector.ts";
import { systemTcpTable, systemUdpTable } from "./tables.ts";
import { completeLines, delta, short, words } from "./text.ts";

export const SNMP_KEY = "/proc/net/snmp";

export interface Snmp {
  /** Counters by protocol ("Tcp", "Udp", …) and column name. */
  readonly protos: ReadonlyMap<string, ReadonlyMap<string, number>>;
  readonly errors: string[];
}

const INT_RE = /^-?\d+$/;

/**
 * /proc/net/snmp: for each protocol a header line `Proto: Name1 Name2 …` followed by a
 * value line `Proto: v1 v2 …` (some columns are signed: Tcp MaxConn is -1). Values are
 * matched to names by position; a value line whose width differs from its header, a
 * non-integer value or a header without values rejects that protocol.
 */
export function parseSnmp(text: string): Snmp {
  const errors: string[] = [];
  const protos = new Map<string, Map<string, number>>();
  let header: { proto: string; names: string[]; line: number } | undefined;
  completeLines(text, errors, "snmp").forEach((line, i) => {
    const w = words(line);
    const head = w[0];
    if (head === undefined) return;
    if (!head.endsWith(":")) {
      errors.push(`snmp line ${i + 1}: no protocol prefix "${short(line)}"`);
      header = undefined;
      return;
    }
    const proto = head.slice(0, -1);
    const rest = w.slice(1);
    if (header === undefined || header.proto !== proto) {
      if (header !== undefined) errors.push(`snmp line ${header.line}: ${header.proto} header without values`);
      header = { proto, names: rest, line: i + 1 };
      return;
    }
    const h = header;
    header = undefined;
    if (rest.length !== h.names.length) {
      errors.push(`snmp line ${i + 1}: ${proto} has ${rest.length} values for ${h.names.length} names`);
      return;
    }
    const m = new Map<string, number>();
    for (let c = 0; c < rest.length; c++) {
      const tok = rest[c] ?? "";
      const v = INT_RE.test(tok) ? Number(tok) : Number.NaN;
      if (!Number.isSafeInteger(v)) {
        errors.push(`snmp line ${i + 1}: ${proto} bad ${h.names[c]} "${short(tok)}"`);
        return;
      }
      m.set(h.names[c] ?? "", v);
    }
    if (protos.has(proto)) errors.push(`snmp line ${i + 1}: duplicate ${proto}`);
    else protos.set(proto, m);
  });
  if (header !== undefined) errors.push(`snmp line ${header.line}: ${header.proto} header without values`);
  return { protos, errors };
}

export interface NetRowsResult {
  /** Undefined when /proc/net/snmp had no usable Tcp section. */
  readonly tcp: Row | undefined;
  readonly udp: Row | undefined;
}

export function netRows(prev: Snmp | undefined, cur: Snmp): NetRowsResult {
  const ct = cur.protos.get("Tcp");
  const pt = prev?.protos.get("Tcp");
  const cu = cur.protos.get("Udp");
  const pu = prev?.protos.get("Udp");
  const nonNeg = (v: number | undefined): number | undefined => (v !== undefined && v >= 0 ? v : undefined);
  const tcp: Row | undefined = ct && {
    origin: SNMP_KEY,
    tcp_curr_estab: nonNeg(ct.get("CurrEstab")),
    tcp_in_segs: delta(pt?.get("InSegs"), ct.get("InSegs")),
    tcp_out_segs: delta(pt?.get("OutSegs"), ct.get("OutSegs")),
    tcp_retrans_segs: delta(pt?.get("RetransSegs"), ct.get("RetransSegs")),
    tcp_in_errs: delta(pt?.get("InErrs"), ct.get("InErrs")),
  };
  const udp: Row | undefined = cu && {
    origin: SNMP_KEY,
    udp_indata_grams: delta(pu?.get("InDatagrams"), cu.get("InDatagrams")),
    udp_outdata_grams: delta(pu?.get("OutDatagrams"), cu.get("OutDatagrams")),
  };
  return { tcp, udp };
}

export function createNetCollector(ctx: ProbeContext, _deps: CollectorDeps): Collector {
  let prev: Snmp | undefined;
  return {
    reset() {
      prev = undefined;
    },
    collect() {
      const text = ctx.host.readProc("net", "snmp");
      if (text === undefined) {
        ctx.parseError(SNMP_KEY, "unreadable");
        return;
      }
      const cur = parseSnmp(text);
      reportErrors(ctx, SNMP_KEY, cur.errors);
      const rows = netRows(prev, cur);
      if (rows.tcp) ctx.emit(systemTcpTable, rows.tcp);
      if (rows.udp) ctx.emit(systemUdpTable, rows.udp);
      prev = cur;
    },
  };
}

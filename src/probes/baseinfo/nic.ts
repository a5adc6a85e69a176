// baseinfo subitem nic: table `nic`, one row per physical network interface.
//
// Sources: /proc/net/dev (counters), /sys/class/net (which interfaces are physical,
// operstate, ifindex), /proc/uptime (time base of the KB/s rates) and an rtnetlink
// RTM_GETQDISC dump (qdisc statistics, instead of upstream's `tc -s qdisc`).
//
// Field semantics (upstream's): rx_/tx_ bytes, packets, errs, dropped and tc_sent_drop,
// tc_sent_overlimits are per-period deltas; rxspeed_KB/txspeed_KB are bytes/1024 per
// second over the period, "%.2f"; tc_backlog (bytes queued now) and tc_ecn_mark
// (cumulative ECN marks, 0 when no qdisc of the device counts them) are absolute.
// Selection: without `dev_name`, physical interfaces only (not under
// /sys/devices/virtual/net: no lo, veth, bridge, bond, tun); with `dev_name`, exactly that
// interface, physical or not — naming one is the operator's explicit choice.
import type { HostFs } from "../../host/fs.ts";
import { TC_H_INGRESS, TC_H_ROOT, type QdiscInfo } from "../../host/netlink.ts";
import type { ProbeContext } from "../../probe/define.ts";
import type { Row } from "../../store/table.ts";
import { devNameParam, intervalSeconds, reportErrors, type Collector, type CollectorDeps } from "./collector.ts";
import { nicTable } from "./tables.ts";
import { completeLines, dec, delta, fixed2, parseUptime, short, words } from "./text.ts";

/** The 16 counters of one /proc/net/dev line, in kernel order. */
export const NETDEV_COLUMNS = [
  "rx_bytes",
  "rx_packets",
  "rx_errs",
  "rx_drop",
  "rx_fifo",
  "rx_frame",
  "rx_compressed",
  "rx_multicast",
  "tx_bytes",
  "tx_packets",
  "tx_errs",
  "tx_drop",
  "tx_fifo",
  "tx_colls",
  "tx_carrier",
  "tx_compressed",
] as const;

export type NetDevCounters = Readonly<Record<(typeof NETDEV_COLUMNS)[number], number>>;

export interface NetDev {
  /** Interfaces in file order. */
  readonly devices: ReadonlyMap<string, NetDevCounters>;
  readonly errors: string[];
}

/**
 * /proc/net/dev: two header lines (they contain `|`), then `<name>: <16 counters>`. The
 * name is everything before the first colon (interface names cannot contain one);
 * large counters may touch the colon (`eth0:123`). Lines with a missing or non-numeric
 * counter are rejected.
 */
export function parseNetDev(text: string): NetDev {
  const errors: string[] = [];
  const devices = new Map<string, NetDevCounters>();
  completeLines(text, errors, "net/dev").forEach((line, i) => {
    if (line.trim() === "" || line.includes("|")) return;
    const colon = line.indexOf(":");
    const name = colon > 0 ? line.slice(0, colon).trim() : "";
    if (name === "" || /\s/.test(name)) {
      errors.push(`net/dev line ${i + 1}: no interface name "${short(line)}"`);
      return;
    }
    const w = words(line.slice(colon + 1));
    if (w.length < NETDEV_COLUMNS.length) {
      errors.push(`net/dev line ${i + 1}: ${name} has ${w.length} of ${NETDEV_COLUMNS.length} counters`);
      return;
    }
    const rec: Record<string, number> = {};
    for (let c = 0; c < NETDEV_COLUMNS.length; c++) {
      const v = dec(w[c]);
      if (v === undefined) {
        errors.push(`net/dev line ${i + 1}: ${name} bad ${NETDEV_COLUMNS[c]} "${short(w[c] ?? "")}"`);
        return;
      }
      rec[NETDEV_COLUMNS[c] as string] = v;
    }
    if (devices.has(name)) {
      errors.push(`net/dev line ${i + 1}: duplicate ${name}`);
      return;
    }
    devices.set(name, rec as NetDevCounters);
  });
  return { devices, errors };
}

/** operstate text → the `status` label (upstream: "up" case-insensitively is UP, anything else DOWN). */
export function nicStatus(operstate: string | undefined): "UP" | "DOWN" {
  return operstate?.trim().toLowerCase() === "up" ? "UP" : "DOWN";
}

/**
 * Whether /sys/class/net/<name> is a physical device: its link does not point under
 * devices/virtual/net and /sys/devices/virtual/net/<name> does not exist. Pre-2.6.27
 * sysfs (a directory instead of a link): physical when it has a `device` link.
 */
export function isPhysicalNic(host: HostFs, name: string): boolean {
  if (host.exists(host.sys("devices", "virtual", "net", name))) return false;
  const target = host.readlink(host.sys("class", "net", name));
  if (target !== undefined) return !target.includes("devices/virtual/");
  return host.exists(host.sys("class", "net", name, "device"));
}

/** Physical interfaces named in /sys/class/net (sorted). */
export function physicalNics(host: HostFs): string[] {
  return host
    .list(host.sys("class", "net"))
    .filter((n) => !n.startsWith(".") && isPhysicalNic(host, n))
    .sort();
}

/** Per-device qdisc figures: the root qdisc's queue stats plus ECN marks of all its qdiscs. */
export interface QdiscTotals {
  readonly drops?: number;
  readonly overlimits?: number;
  readonly backlog?: number;
  /** Sum over the device's qdiscs that count ECN marks; 0 when none does (upstream). */
  readonly ecnMarks: number;
}

/**
 * Folds a qdisc dump into per-interface totals. The root qdisc (parent TC_H_ROOT) gives
 * drops, overlimits and backlog (mq/mqprio roots already sum their per-queue children);
 * ECN marks are summed over every qdisc of the device that counts them (the leaves under
 * mq, htb, prio), ingress excluded.
 */
export function qdiscTotals(qdiscs: readonly QdiscInfo[], ifnames: ReadonlyMap<number, string>): Map<string, QdiscTotals> {
  const acc = new Map<string, { drops?: number; overlimits?: number; backlog?: number; ecnMarks: number }>();
  for (const q of qdiscs) {
    const name = ifnames.get(q.ifindex);
    if (name === undefined || q.parent === TC_H_INGRESS) continue;
    let t = acc.get(name);
    if (!t) acc.set(name, (t = { ecnMarks: 0 }));
    if (q.parent === TC_H_ROOT) {
      t.drops = q.drops;
      t.overlimits = q.overlimits;
      t.backlog = q.backlog;
    }
    if (q.ecnMarks !== undefined) t.ecnMarks += q.ecnMarks;
  }
  return acc;
}

export interface NicSample {
  readonly dev: NetDev;
  readonly uptime?: number;
  readonly mono: number;
  /** Undefined: no qdisc source (tc_* not reported). */
  readonly qdisc?: ReadonlyMap<string, QdiscTotals>;
}

export interface NicEventCheck {
  readonly dev: string;
  readonly metric: "tx_dropped" | "rx_dropped" | "tx_errs" | "rx_errs";
  readonly value: number;
}

export interface NicRowsResult {
  readonly rows: Row[];
  /** Per-period deltas for the drop/error events (only with a previous sample). */
  readonly deltas: NicEventCheck[];
}

/**
 * nic rows for the selected interfaces (`names`, in /proc/net/dev order) of `cur`.
 * `status` maps a name to its operstate text.
 */
export function nicRows(
  prev: NicSample | undefined,
  cur: NicSample,
  names: readonly string[],
  status: (name: string) => string | undefined,
): NicRowsResult {
  const rows: Row[] = [];
  const deltas: NicEventCheck[] = [];
  const seconds = intervalSeconds(prev, cur);
  for (const name of names) {
    const c = cur.dev.devices.get(name);
    if (!c) continue;
    const p = prev?.dev.devices.get(name);
    const d = (k: keyof NetDevCounters): number | undefined => delta(p?.[k], c[k]);
    const rxBytes = d("rx_bytes");
    const txBytes = d("tx_bytes");
    const rate = (b: number | undefined): string | undefined =>
      b === undefined || seconds === undefined ? undefined : fixed2(b / 1024 / seconds);
    const cq = cur.qdisc?.get(name);
    const pq = prev?.qdisc?.get(name);
    const row = {
      dev_name: name,
      status: nicStatus(status(name)),
      rx_bytes: rxBytes,
      rx_packets: d("rx_packets"),
      rx_errs: d("rx_errs"),
      rx_dropped: d("rx_drop"),
      tx_bytes: txBytes,
      tx_packets: d("tx_packets"),
      tx_errs: d("tx_errs"),
      tx_dropped: d("tx_drop"),
      rxspeed_KB: rate(rxBytes),
      txspeed_KB: rate(txBytes),
      tc_sent_drop: delta(pq?.drops, cq?.drops),
      tc_sent_overlimits: delta(pq?.overlimits, cq?.overlimits),
      tc_backlog: cq?.backlog ?? (cur.qdisc ? 0 : undefined),
      tc_ecn_mark: cq?.ecnMarks ?? (cur.qdisc ? 0 : undefined),
    };
    rows.push(row);
    for (const [metric, v] of [
      ["tx_dropped", row.tx_dropped],
      ["rx_dropped", row.rx_dropped],
      ["tx_errs", row.tx_errs],
      ["rx_errs", row.rx_errs],
    ] as const) {
      if (v !== undefined) deltas.push({ dev: name, metric, value: v });
    }
  }
  return { rows, deltas };
}

const EVENT_TEXT: Readonly<Record<NicEventCheck["metric"], string>> = {
  tx_dropped: "net device tx queue drops",
  rx_dropped: "net device rx queue drops",
  tx_errs: "net device tx queue errors",
  rx_errs: "net device rx queue errors",
};

/** The drop/error events of events-and-metadata.md §1.4 (drops_thr > 0 and delta > drops_thr). */
export function nicEvents(checks: readonly NicEventCheck[], dropsThr: number): { key: string; metric: string; message: string; device: string }[] {
  if (!(dropsThr > 0)) return [];
  return checks
    .filter((c) => c.value > dropsThr)
    .map((c) => ({ key: c.dev, metric: c.metric, message: `${EVENT_TEXT[c.metric]}(${c.value}).`, device: c.dev }));
}

/** ifindex → name for the interfaces of /sys/class/net. */
export function ifindexMap(host: HostFs, names: readonly string[]): Map<number, string> {
  const m = new Map<number, string>();
  for (const n of names) {
    const idx = dec(host.readSys("class", "net", n, "ifindex")?.trim());
    if (idx !== undefined) m.set(idx, n);
  }
  return m;
}

export function createNicCollector(ctx: ProbeContext, deps: CollectorDeps): Collector {
  let prev: NicSample | undefined;
  let qdiscWarned = false;
  let missingWarned = "";
  return {
    reset() {
      prev = undefined;
    },
    collect() {
      const text = ctx.host.readProc("net", "dev");
      if (text === undefined) {
        ctx.parseError("/proc/net/dev", "unreadable");
        return;
      }
      const dev = parseNetDev(text);
      reportErrors(ctx, "/proc/net/dev", dev.errors);
      const up = ctx.host.readProc("uptime");
      const uptime = up === undefined ? undefined : parseUptime(up);
      if (uptime) reportErrors(ctx, "/proc/uptime", uptime.errors);

      const want = devNameParam(ctx);
      const physical = new Set(want ? [] : physicalNics(ctx.host));
      const names = [...dev.devices.keys()].filter((n) => (want ? n === want : physical.has(n)));
      if (want && names.length === 0 && missingWarned !== want) {
        missingWarned = want;
        ctx.log.warn(`nic: dev_name ${want} is not in /proc/net/dev; no nic rows`);
      }

      let qdisc: Map<string, QdiscTotals> | undefined;
      const dump = names.length ? deps.qdiscs() : undefined;
      if (dump && "error" in dump) {
        if (!qdiscWarned) ctx.log.warn(`nic: qdisc statistics unavailable: ${dump.error}`);
        qdiscWarned = true;
      } else if (dump) {
        reportErrors(ctx, "rtnetlink qdisc dump", dump.errors);
        qdisc = qdiscTotals(dump.qdiscs, ifindexMap(ctx.host, names));
      }

      const cur: NicSample = { dev, uptime: uptime?.seconds, mono: deps.monotonicSeconds(), qdisc };
      const res = nicRows(prev, cur, names, (n) => ctx.host.readSys("class", "net", n, "operstate"));
      for (const r of res.rows) ctx.emit(nicTable, r);
      for (const e of nicEvents(res.deltas, ctx.num("drops_thr"))) ctx.event({ entity: "nic", ...e });
      prev = cur;
    },
  };
}

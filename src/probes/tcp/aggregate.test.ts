// Pure parts of the tcp probe: per-period deltas per link, row columns by
// subitem, histograms, proc_flow_perf merging, events (texts and thresholds), and the
// tables against the spec.
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Aggregator, entityKey, flowRows, linkEvents, linkRow, type LinkStats } from "./aggregate.ts";
import { C, type ConnRecord, H, HIST_SLOTS, M_LOST_OUT, M_SACKED_OUT, N_CTR, N_HIST, N_MAX } from "./decode.ts";
import { procFlowPerfTable, SUBITEM_COLUMNS, tcpMetricTable } from "./tables.ts";

const ALL = ["tcp_stats", "tcp_rtt", "tcp_windows", "tcp_rate", "tcp_srtt", "tcp_sockbuf", "tcp_abnormal", "tcp_delay"];

function rec(o: Omit<Partial<ConnRecord>, "ctr" | "hist" | "max"> & { key: string; ctr?: Partial<Record<keyof typeof C, number>>; hist?: [number, number, number][]; max?: [number, number][] }): ConnRecord {
  const ctr = new Float64Array(N_CTR);
  for (const [k, v] of Object.entries(o.ctr ?? {})) ctr[C[k as keyof typeof C]] = v;
  const hist = new Uint32Array(N_HIST * HIST_SLOTS);
  const hsum = new Float64Array(N_HIST);
  for (const [h, slot, v] of o.hist ?? []) {
    hist[h * HIST_SLOTS + slot]! += 1;
    hsum[h]! += v;
  }
  const max = new Uint32Array(N_MAX);
  for (const [k, v] of o.max ?? []) max[k] = v;
  return {
    sk: 1n,
    flags: 1,
    tgid: 100,
    family: 2,
    role: 1,
    comm: "curl",
    laddr: "10.0.0.1",
    raddr: "10.0.0.2",
    lport: 40000,
    rport: 80,
    ...o,
    ctr,
    hist,
    hsum,
    max,
  } as ConnRecord;
}

describe("Aggregator", () => {
  test("per-period deltas per link; sockets of one link add up; closed sockets report once", () => {
    const a = new Aggregator({ reportCport: false, maxLinks: 100 });
    a.add(rec({ key: "a", lport: 40000, ctr: { RX_BYTES: 100, TX_BYTES: 10 } }), false);
    a.add(rec({ key: "b", lport: 40001, ctr: { RX_BYTES: 50, TX_BYTES: 5 } }), false);
    let links = a.endPeriod(new Set(["a", "b"]));
    expect(links.length).toBe(1);
    expect(links[0]!.ctr[C.RX_BYTES]).toBe(150);
    expect(links[0]!.clientPort).toBe(0);
    expect(links[0]!.sockets).toBe(2);
    // Next period: a grew, b closed with a final value.
    a.add(rec({ key: "a", ctr: { RX_BYTES: 130, TX_BYTES: 10 } }), false);
    a.add(rec({ key: "b", lport: 40001, ctr: { RX_BYTES: 80, TX_BYTES: 5 } }), true);
    links = a.endPeriod(new Set(["a"]));
    expect(links[0]!.ctr[C.RX_BYTES]).toBe(60);
    expect(links[0]!.ctr[C.TX_BYTES]).toBe(0);
    expect(links[0]!.closed).toBe(1);
    expect(a.trackedSockets).toBe(1);
    // A socket that vanished without a record is forgotten at the end of the period.
    links = a.endPeriod(new Set());
    expect(links.length).toBe(0);
    expect(a.trackedSockets).toBe(0);
  });

  test("report_cport keeps client ports apart; roles map local/remote to client/server", () => {
    const a = new Aggregator({ reportCport: true, maxLinks: 100 });
    a.add(rec({ key: "a", lport: 40000 }), false);
    a.add(rec({ key: "b", lport: 40001 }), false);
    a.add(rec({ key: "c", role: 0, laddr: "10.0.0.2", raddr: "10.0.0.9", lport: 80, rport: 50000 }), false);
    const links = a.endPeriod(new Set(["a", "b", "c"]));
    expect(links.length).toBe(3);
    const server = links.find((l) => l.role === 0)!;
    expect([server.clientIp, server.serverIp, server.clientPort, server.serverPort]).toEqual(["10.0.0.9", "10.0.0.2", 50000, 80]);
    const client = links.find((l) => l.clientPort === 40001)!;
    expect([client.clientIp, client.serverIp, client.serverPort]).toEqual(["10.0.0.1", "10.0.0.2", 80]);
  });

  test("histogram buckets and sums are deltas, maxima are the period's", () => {
    const a = new Aggregator({ reportCport: false, maxLinks: 100 });
    a.add(rec({ key: "a", hist: [[H.SRTT, 0, 40], [H.SRTT, 2, 150]], max: [[H.SRTT, 150]] }), false);
    a.endPeriod(new Set(["a"]));
    a.add(rec({ key: "a", hist: [[H.SRTT, 0, 40], [H.SRTT, 2, 150], [H.SRTT, 4, 900]], max: [[H.SRTT, 900]] }), false);
    const [l] = a.endPeriod(new Set(["a"]));
    const row = linkRow(l!, new Set(["tcp_rtt"]));
    expect(row.srtt).toEqual({ bounds: [50, 100, 200, 500, 1000], cumulative: [0, 0, 0, 0, 1], sum: 900, max: 900 });
  });

  test("links beyond the cap are counted, not kept", () => {
    const a = new Aggregator({ reportCport: true, maxLinks: 2 });
    for (let i = 0; i < 5; i++) a.add(rec({ key: `k${i}`, lport: 40000 + i }), false);
    expect(a.endPeriod(new Set()).length).toBe(2);
    expect(a.overflow).toBe(3);
  });
});

function link(o: Partial<LinkStats> = {}): LinkStats {
  return {
    tgid: 7,
    comm: "java",
    role: 0,
    clientIp: "192.168.1.10",
    serverIp: "192.168.1.20",
    clientPort: 0,
    serverPort: 8080,
    family: 2,
    ctr: new Float64Array(N_CTR),
    hist: new Float64Array(N_HIST * HIST_SLOTS),
    hsum: new Float64Array(N_HIST),
    max: new Float64Array(N_MAX),
    sockets: 1,
    closed: 0,
    ...o,
  };
}

describe("rows", () => {
  test("keys in meta order; only the columns of enabled subitems", () => {
    const l = link();
    l.ctr[C.RX_BYTES] = 1024;
    const row = linkRow(l, new Set(["tcp_stats"]));
    expect(Object.keys(row)).toEqual(["tgid", "comm", "role", "client_ip", "toa_client_ip", "server_ip", "client_port", "server_port", "protocol", ...SUBITEM_COLUMNS.tcp_stats!]);
    expect(row).toMatchObject({ tgid: "7", comm: "java", role: "server", client_port: "0", server_port: "8080", protocol: "2", rx_bytes: 1024, toa_client_ip: "" });
    const all = linkRow(l, new Set(ALL));
    const metricFields = tcpMetricTable.fields.filter((f) => f.type !== "key").map((f) => f.name);
    expect(Object.keys(all).filter((k) => !tcpMetricTable.fields.find((f) => f.name === k && f.type === "key"))).toEqual(metricFields);
  });

  test("ratios are %.2f of counts over bytes / segments", () => {
    const l = link();
    l.ctr[C.RETRANS] = 3;
    l.ctr[C.SEGS_OUT] = 8;
    l.ctr[C.ZERO_RCV_WND] = 4;
    l.ctr[C.RX_BYTES] = 2;
    const row = linkRow(l, new Set(["tcp_abnormal", "tcp_windows", "tcp_stats"]));
    expect(row.retrans_ratio).toBe("0.38");
    expect(row.zero_win_rx_ratio).toBe("2.00");
    expect(row.zero_win_tx_ratio).toBe("0.00");
  });

  test("proc_flow_perf merges links per tgid, role, peer and server port; delay maxima in ns", () => {
    const a = link({ clientIp: "10.0.0.5", clientPort: 1 });
    const b = link({ clientIp: "10.0.0.5", clientPort: 2 });
    a.hist[H.SYS_DELAY * HIST_SLOTS + 0] = 2;
    a.hsum[H.SYS_DELAY] = 1500;
    a.max[H.SYS_DELAY] = 1; // µs
    b.hist[H.SYS_DELAY * HIST_SLOTS + 1] = 1;
    b.hsum[H.SYS_DELAY] = 2_000_000;
    b.max[H.SYS_DELAY] = 2000;
    const rows = flowRows([a, b]);
    expect(rows.length).toBe(1);
    expect(Object.keys(rows[0]!)).toEqual(procFlowPerfTable.fields.map((f) => f.name));
    expect(rows[0]).toMatchObject({ tgid: "7", role: "server", remote_ip: "10.0.0.5", server_port: "8080" });
    expect(rows[0]!.sys_delay).toEqual({ bounds: [1e6, 1e7, 1e8, 1e9, 1e10], cumulative: [2, 3, 3, 3, 3], sum: 2_001_500, max: 2_000_000 });
  });
});

describe("events (events-and-metadata.md §1.4)", () => {
  const p = { drops_thr: 10, latency_thr: 100, res_upper_thr: 0 };

  test("entity key, IP text and messages", () => {
    const l = link();
    l.ctr[C.TCP_OOM] = 1;
    l.ctr[C.BACKLOG_DROPS] = 11;
    l.ctr[C.FILTER_DROPS] = 10; // not above the threshold
    l.ctr[C.SK_DROPS] = 12;
    l.max[M_LOST_OUT] = 13;
    l.max[M_SACKED_OUT] = 14;
    const ev = linkEvents(l, p, new Set(["tcp_abnormal"]));
    expect(entityKey(l)).toBe("7_server_192.168.1.10_192.168.1.20_8080_2");
    expect(ev.map((e) => [e.metric, e.message])).toEqual([
      ["tcp_oom", "TCP out of memory(1)."],
      ["backlog_drops", "TCP backlog queue drops(11)."],
      ["sk_drops", "Number of lost packets in the TCP protocol stack(12)."],
      ["lost_out", "Number of lost segments estimated by TCP congestion(13)."],
      ["sacked_out", "Number of out-of-order TCP packets (SACK) or number of repeated TCP ACKs (NO SACK)(14)."],
    ]);
    expect(ev[0]).toMatchObject({ entity: "tcp_link", key: entityKey(l), pid: "7", comm: "java", ip: "CIP(192.168.1.10), SIP(192.168.1.20:8080)" });
    expect(linkEvents(l, { ...p, drops_thr: 0 }, new Set(["tcp_abnormal"])).map((e) => e.metric)).toEqual(["tcp_oom"]);
    expect(linkEvents(l, p, new Set(["tcp_stats"]))).toEqual([]);
  });

  test("handshake RTT threshold is latency_thr ms × 1000 (no × 8)", () => {
    const l = link();
    l.max[H.SYN_SRTT] = 100_000;
    expect(linkEvents(l, p, new Set(["tcp_srtt"]))).toEqual([]);
    l.max[H.SYN_SRTT] = 100_001;
    expect(linkEvents(l, p, new Set(["tcp_srtt"]))[0]).toMatchObject({ metric: "syn_srtt_max", message: "TCP connection establish timed out(100001 us)." });
    expect(linkEvents(l, { ...p, latency_thr: 0 }, new Set(["tcp_srtt"]))).toEqual([]);
  });

  test("zero-window ratio: truncated to an integer, compared with res_upper_thr", () => {
    const l = link();
    l.ctr[C.ZERO_RCV_WND] = 3;
    l.ctr[C.RX_BYTES] = 2;
    l.ctr[C.ZERO_SND_WND] = 1;
    l.ctr[C.TX_BYTES] = 2;
    const ev = linkEvents(l, p, new Set(["tcp_windows"]));
    expect(ev.map((e) => [e.metric, e.message])).toEqual([["zero_win_rx_ratio", "TCP zero receive windows ratio 1.50."]]);
    expect(linkEvents(l, { ...p, res_upper_thr: 1 }, new Set(["tcp_windows"]))).toEqual([]);
  });
});

describe("tables", () => {
  // The spec sits beside the checkout (../shared/spec), wherever the checkout is.
  const spec = join(import.meta.dir, "../../../../shared/spec/metrics.json");
  const have = existsSync(spec);
  if (!have) console.log(`skipping spec comparison: ${spec} not found (spec folder is not part of the repo)`);
  test.if(have)("tcp_metric and proc_flow_perf match the spec's fields, order, types and texts", () => {
    const all = JSON.parse(readFileSync(spec, "utf8")) as { table_name: string; entity_name: string; fields: { name: string; type: string; description: string }[] }[];
    for (const t of [tcpMetricTable, procFlowPerfTable]) {
      const s = all.find((x) => x.table_name === t.name)!;
      expect(t.entity).toBe(s.entity_name);
      expect(t.fields.map((f): { name: string; type: string; description: string } => ({ name: f.name, type: f.type, description: f.description }))).toEqual(s.fields);
    }
  });

  test("every metric column belongs to exactly one subitem", () => {
    const cols = Object.values(SUBITEM_COLUMNS).flat();
    expect(new Set(cols).size).toBe(cols.length);
    expect(cols.sort()).toEqual(tcpMetricTable.fields.filter((f) => f.type !== "key").map((f) => f.name).sort());
  });
});

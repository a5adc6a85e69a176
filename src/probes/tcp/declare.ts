// What the tcp probe is to the REST API (rest-api.md §10: tcpprobe), which events it
// raises (events-and-metadata.md §1.4) and its tuning limits.
import type { EventDecl, FeatureDeclaration, LimitDecl } from "../../probe/define.ts";
import { numberParam, stringParam } from "../../probe/params.ts";

export const TCP_FEATURE = {
  feature: "tcp",
  bin: "tcpprobe",
  ipcType: 5,
  scope: "PROC",
  subitems: [
    { name: "tcp_abnormal", bit: 0x1 },
    { name: "tcp_rtt", bit: 0x4 },
    { name: "tcp_windows", bit: 0x2 },
    { name: "tcp_srtt", bit: 0x40 },
    { name: "tcp_rate", bit: 0x20 },
    { name: "tcp_sockbuf", bit: 0x10 },
    { name: "tcp_stats", bit: 0x8 },
    { name: "tcp_delay", bit: 0x80 },
  ],
  params: [
    numberParam("sample_period", 5000, 100, 10000),
    numberParam("ringbuf_map_size", 1, 1, 32, { ringbuf: true }),
    numberParam("report_cport", 0, 0, 1),
    numberParam("cluster_ip_backend", 0, 0, 2),
    stringParam("dev_name", "", { maxLenExclusive: 32 }),
  ],
} as const satisfies FeatureDeclaration;

export const TCP_EVENTS: readonly EventDecl[] = [
  {
    entity: "tcp_link",
    metrics: ["tcp_oom", "backlog_drops", "filter_drops", "sk_drops", "lost_out", "sacked_out", "zero_win_rx_ratio", "zero_win_tx_ratio", "syn_srtt_max"],
  },
];

export const TCP_LIMITS: Readonly<Record<string, LimitDecl>> = {
  max_conns: { default: 16384, min: 64, max: 1 << 22, help: "connections tracked at once (the conns map); more are counted as conn_map_full drops" },
};

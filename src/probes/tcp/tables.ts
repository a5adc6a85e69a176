// Tables of the tcp probe, from spec metrics.json (tcp_link.meta): tcp_metric (entity
// tcp_link, subitems tcp_stats … tcp_abnormal, one row per link) and proc_flow_perf
// (subitem tcp_delay). Field order, types and descriptions follow the spec exactly.
import { defineTable, type TableDef } from "../../store/table.ts";

/** tcp_link.meta: tcp_metric (subitems tcp_stats, tcp_rtt, tcp_windows, tcp_rate, tcp_srtt, tcp_sockbuf, tcp_abnormal). */
export const tcpMetricTable: TableDef = defineTable({
  name: "tcp_metric",
  entity: "tcp_link",
  version: "1.0.0",
  fields: [
    { name: "tgid", type: "key", description: "process id (thread-group id) the record belongs to" },
    { name: "comm", type: "key", description: "process command name" },
    { name: "role", type: "key", description: "side of the connection: client or server" },
    { name: "client_ip", type: "key", description: "client-side IP address" },
    { name: "toa_client_ip", type: "key", description: "original client IP carried in the TCP option (TOA) before NAT/LB, empty if none" },
    { name: "server_ip", type: "key", description: "server-side IP address" },
    { name: "client_port", type: "key", description: "client-side port" },
    { name: "server_port", type: "key", description: "server-side (listening) port" },
    { name: "protocol", type: "key", description: "address family number (2 = IPv4, 10 = IPv6)" },
    { name: "rx_bytes", type: "gauge", description: "bytes received" },
    { name: "tx_bytes", type: "gauge", description: "bytes sent" },
    { name: "segs_in", type: "gauge", description: "segments received" },
    { name: "segs_out", type: "gauge", description: "segments sent" },
    { name: "srtt", type: "histogram", description: "histogram of smoothed RTT, us" },
    { name: "rcv_rtt", type: "histogram", description: "histogram of receiver-side RTT estimate" },
    { name: "snd_cwnd", type: "histogram", description: "histogram of congestion window size" },
    { name: "notsent_bytes", type: "histogram", description: "histogram of bytes queued but not yet sent" },
    { name: "notack_bytes", type: "histogram", description: "histogram of bytes sent but not yet acked" },
    { name: "reordering", type: "histogram", description: "histogram of reordering metric (segments)" },
    { name: "snd_wnd", type: "histogram", description: "histogram of send window size" },
    { name: "rcv_wnd", type: "histogram", description: "histogram of receive window size" },
    { name: "avl_snd_wnd", type: "histogram", description: "histogram of usable send window" },
    { name: "zero_rcv_wnd_count", type: "gauge", description: "samples with a zero receive window" },
    { name: "zero_snd_wnd_count", type: "gauge", description: "samples with a zero send window" },
    { name: "zero_win_rx_ratio", type: "gauge", description: "zero-receive-window samples relative to bytes received" },
    { name: "zero_win_tx_ratio", type: "gauge", description: "zero-send-window samples relative to bytes sent" },
    { name: "rto", type: "histogram", description: "histogram of retransmission timeout, ms" },
    { name: "ato", type: "histogram", description: "histogram of delayed-ACK timeout estimate, ms" },
    { name: "syn_srtt", type: "histogram", description: "histogram of handshake (SYN) RTT, us" },
    { name: "syn_srtt_max", type: "gauge", description: "largest handshake (SYN) RTT in the period, us" },
    { name: "sk_rcvbuf", type: "histogram", description: "histogram of receive buffer size, bytes" },
    { name: "sk_sndbuf", type: "histogram", description: "histogram of send buffer size, bytes" },
    { name: "retran_packets", type: "gauge", description: "retransmitted segments" },
    { name: "backlog_drops", type: "gauge", description: "packets dropped because the socket backlog was full" },
    { name: "sk_drops", type: "gauge", description: "packets dropped by the socket" },
    { name: "lost_out", type: "gauge", description: "segments the stack considers lost" },
    { name: "sacked_out", type: "gauge", description: "segments reported by SACK (or duplicate ACKs without SACK)" },
    { name: "filter_drops", type: "gauge", description: "packets dropped by a socket filter" },
    { name: "tmout_count", type: "gauge", description: "connection timeouts" },
    { name: "snd_buf_limit_count", type: "gauge", description: "times send-buffer memory allocation hit its limit" },
    { name: "rmem_scheduls", type: "gauge", description: "times receive-memory scheduling failed (rmem short)" },
    { name: "tcp_oom", type: "gauge", description: "TCP out-of-memory occurrences" },
    { name: "send_rsts", type: "gauge", description: "RST segments sent" },
    { name: "receive_rsts", type: "gauge", description: "RST segments received" },
    { name: "retrans_ratio", type: "gauge", description: "retransmitted segments divided by segments sent" },
  ],
});

/** tcp_link.meta: proc_flow_perf (subitems tcp_delay). */
export const procFlowPerfTable: TableDef = defineTable({
  name: "proc_flow_perf",
  entity: "proc_flow_perf",
  version: "1.0.0",
  fields: [
    { name: "tgid", type: "key", description: "process id (thread-group id) the record belongs to" },
    { name: "role", type: "key", description: "side of the connection: client or server" },
    { name: "remote_ip", type: "key", description: "peer IP of the flow" },
    { name: "server_port", type: "key", description: "server port of the flow" },
    { name: "sys_delay", type: "histogram", description: "histogram of application-side (stack + scheduling) delay" },
    { name: "net_delay", type: "histogram", description: "histogram of network-side (stack + wire) delay" },
  ],
});

export const tcpTables: readonly TableDef[] = [tcpMetricTable, procFlowPerfTable];

/** Columns of tcp_metric each subitem fills (the others stay empty). */
export const SUBITEM_COLUMNS: Readonly<Record<string, readonly string[]>> = {
  tcp_stats: ["rx_bytes", "tx_bytes", "segs_in", "segs_out"],
  tcp_rtt: ["srtt", "rcv_rtt"],
  tcp_windows: [
    "snd_cwnd",
    "notsent_bytes",
    "notack_bytes",
    "reordering",
    "snd_wnd",
    "rcv_wnd",
    "avl_snd_wnd",
    "zero_rcv_wnd_count",
    "zero_snd_wnd_count",
    "zero_win_rx_ratio",
    "zero_win_tx_ratio",
  ],
  tcp_rate: ["rto", "ato"],
  tcp_srtt: ["syn_srtt", "syn_srtt_max"],
  tcp_sockbuf: ["sk_rcvbuf", "sk_sndbuf"],
  tcp_abnormal: [
    "retran_packets",
    "backlog_drops",
    "sk_drops",
    "lost_out",
    "sacked_out",
    "filter_drops",
    "tmout_count",
    "snd_buf_limit_count",
    "rmem_scheduls",
    "tcp_oom",
    "send_rsts",
    "receive_rsts",
    "retrans_ratio",
  ],
};

/** Upstream's bucket upper bounds (outputs.md §2.4.1). */
export const BOUNDS = {
  rtt: [50, 100, 200, 500, 1000],
  window: [1000, 10000, 100000, 1000000, 10000000],
  rto: [1000, 10000, 20000, 40000, 80000],
  sockbuf: [131072, 262144, 524288, 1048576, 2097152, 4194304, 8388608, 16777216],
  delay: [1000000, 10000000, 100000000, 1000000000, 10000000000],
} as const;

// Tables of the l7 probe, from spec metrics.json (l7probe.meta): l7_link (entity l7,
// subitem l7_bytes_metrics), l7_rpc (entity l7) and l7_rpc_api (entity l7_api), both of
// subitem l7_rpc_metrics. Field order, types and descriptions follow the spec exactly.
import { defineTable, type FieldDef, type TableDef } from "../../store/table.ts";

const LINK_KEYS: readonly FieldDef[] = [
  { name: "tgid", type: "key", description: "process id (thread-group id) the record belongs to" },
  { name: "client_ip", type: "key", description: "client-side IP address" },
  { name: "server_ip", type: "key", description: "server-side IP address" },
  { name: "server_port", type: "key", description: "server-side (listening) port" },
  { name: "l4_role", type: "key", description: "layer-4 role (tcp client, tcp server or udp)" },
  { name: "l7_role", type: "key", description: "layer-7 role (client or server)" },
  { name: "protocol", type: "key", description: "protocol identifier (address family number for tcp_metric/endpoint tables)" },
];
const API_KEY: FieldDef = { name: "api", type: "key", description: "API (request path / command) the metrics are aggregated for" };
const SSL: FieldDef = { name: "ssl", type: "label", description: "whether the session is TLS-encrypted" };

const RPC_HEAD: readonly FieldDef[] = [
  { name: "throughput_req", type: "gauge", description: "request throughput" },
  { name: "throughput_resp", type: "gauge", description: "response throughput" },
  { name: "req_count", type: "gauge", description: "number of requests" },
  { name: "resp_count", type: "gauge", description: "number of responses" },
  { name: "latency_avg", type: "gauge", description: "average request latency" },
  { name: "latency", type: "histogram", description: "histogram of request latency" },
  { name: "latency_sum", type: "gauge", description: "sum of request latencies" },
  { name: "err_ratio", type: "gauge", description: "error ratio" },
];

/** l7probe.meta: l7_link (subitem l7_bytes_metrics). */
export const l7LinkTable: TableDef = defineTable({
  name: "l7_link",
  entity: "l7",
  version: "1.0.0",
  fields: [
    ...LINK_KEYS,
    SSL,
    { name: "bytes_sent", type: "gauge", description: "bytes sent on the session" },
    { name: "bytes_recv", type: "gauge", description: "bytes received on the session" },
    { name: "segs_sent", type: "gauge", description: "segments sent on the session" },
    { name: "segs_recv", type: "gauge", description: "segments received on the session" },
  ],
});

/** l7probe.meta: l7_rpc (subitem l7_rpc_metrics). */
export const l7RpcTable: TableDef = defineTable({
  name: "l7_rpc",
  entity: "l7",
  version: "1.0.0",
  fields: [...LINK_KEYS, SSL, ...RPC_HEAD, { name: "err_count", type: "gauge", description: "number of errors" }],
});

/** l7probe.meta: l7_rpc_api (subitem l7_rpc_metrics). */
export const l7RpcApiTable: TableDef = defineTable({
  name: "l7_rpc_api",
  entity: "l7_api",
  version: "1.0.0",
  fields: [
    ...LINK_KEYS,
    API_KEY,
    SSL,
    ...RPC_HEAD,
    { name: "client_err_ratio", type: "gauge", description: "client-error ratio" },
    { name: "server_err_ratio", type: "gauge", description: "server-error ratio" },
    { name: "err_count", type: "gauge", description: "number of errors" },
    { name: "client_err_count", type: "gauge", description: "number of client errors" },
    { name: "server_err_count", type: "gauge", description: "number of server errors" },
  ],
});

export const l7Tables: readonly TableDef[] = [l7LinkTable, l7RpcTable, l7RpcApiTable];

/** outputs.md §2.4.1: l7_rpc / l7_rpc_api latency bounds, ns. */
export const LATENCY_BOUNDS_NS: readonly number[] = Object.freeze([10e6, 50e6, 100e6, 500e6, 1e9, 3e9, 10e9]);

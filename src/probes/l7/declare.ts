// What the l7 probe is to the REST API (rest-api.md §10: l7probe, scope ALL), its params
// (l7_protocol, support_ssl, cluster_ip_backend) and its tuning limits. It raises no events
// (events-and-metadata.md §1: l7 emits none).
import type { FeatureDeclaration, LimitDecl } from "../../probe/define.ts";
import { listParam, numberParam } from "../../probe/params.ts";

/** l7_protocol values in their canonical (GET) order. */
export const L7_PROTOCOLS: readonly string[] = Object.freeze(["http", "dns", "redis", "mysql", "pgsql", "kafka", "mongo", "crpc"]);

export const L7_FEATURE = {
  feature: "l7",
  bin: "l7probe",
  ipcType: 4,
  scope: "ALL",
  subitems: [
    { name: "l7_bytes_metrics", bit: 0x1 },
    { name: "l7_rpc_metrics", bit: 0x2 },
    // Accepted as upstream does (upstream implements no trace output either).
    { name: "l7_rpc_trace", bit: 0x4 },
  ],
  params: [listParam("l7_protocol", L7_PROTOCOLS), numberParam("support_ssl", 0, 0, 1), numberParam("cluster_ip_backend", 0, 0, 2)],
} as const satisfies FeatureDeclaration;

export const L7_LIMITS: Readonly<Record<string, LimitDecl>> = {
  max_conns: { default: 16384, min: 64, max: 1 << 20, help: "connections tracked at once (kernel conns/fds maps and the user-space tracker); more are counted as conn_map_full / tracker_full drops" },
  // 32 KiB: redis-server reads pipelined commands in up to ~20 KiB at a time (redis-cli --pipe
  // writes 16 KiB); a read longer than the capture leaves a gap the parsers must step over.
  capture_bytes: { default: 32768, min: 64, max: 65536, help: "bytes of each send/receive copied to user space (the rest is counted, not copied)" },
  // 2 MiB: the ring is mapped twice into the agent (its pages count twice in RSS) and is
  // drained every 5 ms while busy; raise it where bursts are counted as ring_full drops.
  ringbuf_mib: { default: 2, min: 1, max: 256, help: "size of the payload ring buffer in MiB (power of two); records that do not fit are counted as ring_full drops" },
  max_tls_files: { default: 256, min: 1, max: 65536, help: "distinct files with TLS code (libssl copies, executables with OpenSSL or Go crypto/tls) probed at once with support_ssl=1" },
  max_apis: { default: 64, min: 1, max: 4096, help: "distinct APIs per link in l7_rpc_api; the rest are counted under the API \"__overflow__\"" },
};

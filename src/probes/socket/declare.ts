// What the socket probe is to the REST API (rest-api.md §10: endpoint), which events it
// raises (events-and-metadata.md §1.4) and the sizes of its kernel maps.
import type { EventDecl, FeatureDeclaration, LimitDecl } from "../../probe/define.ts";
import { numberParam } from "../../probe/params.ts";

export const SOCKET_FEATURE = {
  feature: "socket",
  bin: "endpoint",
  ipcType: 6,
  scope: "PROC",
  subitems: [
    { name: "tcp_socket", bit: 0x1 },
    { name: "udp_socket", bit: 0x2 },
  ],
  // Upstream's; accepted and shown by GET. This probe has no ring buffer, so it has no effect.
  params: [numberParam("ringbuf_map_size", 1, 1, 32, { ringbuf: true })],
} as const satisfies FeatureDeclaration;

export const SOCKET_EVENTS: readonly EventDecl[] = [{ entity: "endpoint_tcp", metrics: ["listendrop", "accept_overflow", "syn_overflow", "retran_synacks", "req_drops"] }];

export const SOCKET_LIMITS: Readonly<Record<string, LimitDecl>> = {
  max_endpoints: { default: 16384, min: 64, max: 1 << 22, help: "endpoint_tcp keys counted at once (tcp_stats map); more are counted as tcp_stats_map_full drops" },
  max_listeners: { default: 8192, min: 64, max: 1 << 20, help: "listening (netns, port) entries (listeners map); more are counted as listeners_map_full drops" },
  max_connecting: { default: 16384, min: 64, max: 1 << 22, help: "sockets between connect() and ESTABLISHED (connecting map); more are counted as connecting_map_full drops" },
  max_udp_sockets: { default: 16384, min: 64, max: 1 << 22, help: "UDP sockets whose bytes are counted (udp_socks map); more are counted as udp_socks_map_full drops" },
};

// Tables of the socket probe, from spec metrics.json (endpoint.meta): endpoint_tcp
// (subitem tcp_socket) and endpoint_udp (subitem udp_socket). Field order, types and
// descriptions follow the spec exactly.
import { defineTable, type TableDef } from "../../store/table.ts";

/** endpoint.meta: endpoint_tcp (subitem tcp_socket). */
export const endpointTcpTable: TableDef = defineTable({
  name: "endpoint_tcp",
  entity: "endpoint_tcp",
  version: "1.0.0",
  fields: [
    { name: "tgid", type: "key", description: "process id (thread-group id) the record belongs to" },
    { name: "comm", type: "key", description: "process command name" },
    { name: "role", type: "key", description: "side of the connection: client or server" },
    { name: "client_ip", type: "key", description: "client-side IP address" },
    { name: "toa_client_ip", type: "key", description: "original client IP carried in the TCP option (TOA) before NAT/LB, empty if none" },
    { name: "server_ip", type: "key", description: "server-side IP address" },
    { name: "server_port", type: "key", description: "server-side (listening) port" },
    { name: "protocol", type: "key", description: "address family number" },
    { name: "multi", type: "label", description: "1 when tgid stands for the process group of several processes sharing the socket" },
    { name: "listendrop", type: "gauge", description: "packets dropped on the listening socket during the period" },
    { name: "accept_overflow", type: "gauge", description: "accept-queue overflows of the listening socket" },
    { name: "syn_overflow", type: "gauge", description: "SYN-queue overflows of the listening socket" },
    { name: "passive_open", type: "gauge", description: "connections passively opened (accepted)" },
    { name: "passive_open_failed", type: "gauge", description: "passive opens that failed" },
    { name: "retran_synacks", type: "gauge", description: "retransmitted SYN/ACK segments" },
    { name: "retran_syn", type: "gauge", description: "retransmitted SYN segments" },
    { name: "req_drops", type: "gauge", description: "connection requests dropped (e.g. listener closed)" },
    { name: "active_open", type: "gauge", description: "connections actively opened (connect)" },
    { name: "active_open_failed", type: "gauge", description: "active opens that failed" },
    { name: "syn_sent", type: "gauge", description: "SYN segments sent" },
    { name: "syn_drop", type: "gauge", description: "SYNs dropped locally on the client (e.g. neighbour resolution failed)" },
    { name: "synack_sent", type: "gauge", description: "SYN/ACK segments sent" },
    { name: "estab_latency", type: "histogram", description: "histogram of connection establishment latency" },
  ],
});

/** endpoint.meta: endpoint_udp (subitem udp_socket). */
export const endpointUdpTable: TableDef = defineTable({
  name: "endpoint_udp",
  entity: "endpoint_udp",
  version: "1.0.0",
  fields: [
    { name: "tgid", type: "key", description: "process id (thread-group id) the record belongs to" },
    { name: "local_ip", type: "key", description: "local IP address" },
    { name: "local_port", type: "key", description: "local (bound) port" },
    { name: "remote_ip", type: "key", description: "peer IP address" },
    { name: "remote_port", type: "key", description: "peer port" },
    { name: "protocol", type: "key", description: "address family number" },
    { name: "udp_rcv_drops", type: "gauge", description: "bytes dropped on receive by the UDP socket" },
    { name: "bind_sends", type: "gauge", description: "bytes sent through the UDP socket" },
    { name: "bind_rcvs", type: "gauge", description: "bytes the UDP socket received" },
  ],
});
export const socketTables: readonly TableDef[] = [endpointTcpTable, endpointUdpTable];

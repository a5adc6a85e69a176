// endpoint_tcp / endpoint_udp rows and the abnormal events of events-and-metadata.md §1.4
// (socket) from a period's aggregates.
import type { ProbeEvent, Row } from "../../store/table.ts";
import { C, latencyHistogram, type TcpEndpoint, type UdpEndpoint } from "./aggregate.ts";
import { ROLE } from "./decode.ts";

export function tcpRow(e: TcpEndpoint): Row {
  return {
    tgid: String(e.tgid),
    comm: e.comm,
    role: e.role === ROLE.SERVER ? "server" : "client",
    client_ip: e.client,
    toa_client_ip: "",
    server_ip: e.server,
    server_port: String(e.port),
    protocol: String(e.family),
    multi: e.multi ? "1" : "0",
    listendrop: e.listendrop,
    accept_overflow: e.acceptOverflow,
    syn_overflow: e.synOverflow,
    passive_open: e.ctr[C.PASSIVE_OPEN],
    passive_open_failed: e.ctr[C.PASSIVE_FAIL],
    retran_synacks: e.ctr[C.RETRAN_SYNACK],
    retran_syn: e.ctr[C.RETRAN_SYN],
    req_drops: e.ctr[C.REQ_DROP],
    active_open: e.ctr[C.ACTIVE_OPEN],
    active_open_failed: e.ctr[C.ACTIVE_FAIL],
    syn_sent: e.ctr[C.SYN_SENT],
    syn_drop: e.ctr[C.SYN_DROP],
    // No tracepoint sees a SYN-ACK leave (only its retransmissions): not reported.
    synack_sent: undefined,
    estab_latency: latencyHistogram(e),
  };
}

/** `bytes`: the kernel has the byte hooks (sock_send_length/sock_recv_length, Linux 6.3+); without them the byte fields are empty, not 0. */
export function udpRow(e: UdpEndpoint, bytes = { sent: true, received: true }): Row {
  return {
    tgid: String(e.tgid),
    local_ip: e.localIp,
    local_port: String(e.localPort),
    remote_ip: e.remoteIp,
    remote_port: String(e.remotePort),
    protocol: String(e.family),
    udp_rcv_drops: e.drops,
    bind_sends: bytes.sent ? e.tx : undefined,
    bind_rcvs: bytes.received ? e.rx : undefined,
  };
}

/** Upstream's conditions and texts (endpoint.c report_tcp_sock). */
export function tcpEvents(e: TcpEndpoint): ProbeEvent[] {
  const checks: [string, number, boolean, string][] = [
    ["listendrop", e.listendrop, e.listendrop > 0, `TCP listen drops(${e.listendrop}).`],
    ["accept_overflow", e.acceptOverflow, e.acceptOverflow !== 0, `TCP accept queue overflow(${e.acceptOverflow}).`],
    ["syn_overflow", e.synOverflow, e.synOverflow !== 0, `TCP syn queue overflow(${e.synOverflow}).`],
    ["retran_synacks", e.ctr[C.RETRAN_SYNACK]!, e.ctr[C.RETRAN_SYNACK] !== 0, `TCP SYN/ACK retransmission occurs.(${e.ctr[C.RETRAN_SYNACK]}).`],
    ["req_drops", e.ctr[C.REQ_DROP]!, e.ctr[C.REQ_DROP] !== 0, `TCP request drops(listen closed).(${e.ctr[C.REQ_DROP]}).`],
  ];
  const key = `${e.tgid}_${e.client}_${e.server}_${e.port}_${e.role}`;
  const ip = `Client ${e.client}, Server ${e.server}:${e.port}`;
  return checks
    .filter(([, , fire]) => fire)
    .map(([metric, , , message]) => ({ entity: "endpoint_tcp", key, metric, message, pid: String(e.tgid), ip, severity: "WARN" as const }));
}

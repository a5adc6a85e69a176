import { describe, expect, test } from "bun:test";
import { SocketAggregator } from "./aggregate.ts";
import { C, IPPROTO_TCP, IPPROTO_UDP, N_BUCKETS, N_CTR, ROLE, type TcpStat, type UdpBytes, type WalkRecord } from "./decode.ts";
import { tcpEvents, tcpRow, udpRow } from "./rows.ts";

function stat(o: Omit<Partial<TcpStat>, "ctr"> & { ctr?: Partial<Record<keyof typeof C, number>> }): TcpStat {
  const ctr = new Array<number>(N_CTR).fill(0);
  for (const [k, v] of Object.entries(o.ctr ?? {})) ctr[C[k as keyof typeof C]] = v;
  return {
    id: "k1",
    tgid: 100,
    role: ROLE.CLIENT,
    family: 2,
    port: 80,
    client: "10.0.0.1",
    server: "10.0.0.2",
    comm: "curl",
    hist: new Array<number>(N_BUCKETS).fill(0),
    hsum: 0,
    max: 0,
    ...o,
    ctr,
  };
}

function listener(o: Partial<WalkRecord> = {}): WalkRecord {
  return {
    sk: 0xffff1000n,
    ino: 77,
    tgid: 200,
    netns: 4026531840,
    drops: 0,
    ackBacklog: 0,
    maxAckBacklog: 128,
    synQlen: 0,
    lport: 8080,
    rport: 0,
    proto: IPPROTO_TCP,
    family: 2,
    laddr: "0.0.0.0",
    raddr: "0.0.0.0",
    comm: "nginx",
    ...o,
  };
}

function udpSock(o: Partial<WalkRecord> = {}): WalkRecord {
  return listener({ sk: 0xffff2000n, ino: 88, tgid: 300, proto: IPPROTO_UDP, lport: 53, laddr: "127.0.0.1", comm: "dns", ...o });
}

function bytes(o: Partial<UdpBytes> = {}): UdpBytes {
  return { sk: 0xffff2000n, ino: 88, tgid: 300, family: 2, lport: 53, rport: 0, laddr: "127.0.0.1", raddr: "0.0.0.0", comm: "dns", tx: 0, rx: 0, ...o };
}

const agg = () => new SocketAggregator({ idlePeriods: 10 });
const always = () => true;

describe("socket aggregation", () => {
  test("per-period deltas of the kernel's cumulative counters sum to the kernel's counts", () => {
    const a = agg();
    a.endPeriod({ tcp: [], walk: [], udp: [] });
    const cumulative = [3, 3, 10, 25];
    let total = 0;
    for (const n of cumulative) {
      const out = a.endPeriod({ tcp: [stat({ ctr: { ACTIVE_OPEN: n, SYN_SENT: n + 1 } })], walk: [], udp: [], wasObserved: always });
      total += out.tcp[0]!.ctr[C.ACTIVE_OPEN]!;
    }
    expect(total).toBe(25);
  });

  test("an entry created again after deletion counts from zero; idle entries are pruned after idlePeriods", () => {
    const a = new SocketAggregator({ idlePeriods: 2 });
    a.endPeriod({ tcp: [stat({ ctr: { ACTIVE_FAIL: 5 } })], walk: [], udp: [] });
    const again = a.endPeriod({ tcp: [stat({ ctr: { ACTIVE_FAIL: 2 } })], walk: [], udp: [], wasObserved: always });
    expect(again.tcp[0]!.ctr[C.ACTIVE_FAIL]).toBe(2);
    expect(a.endPeriod({ tcp: [stat({ ctr: { ACTIVE_FAIL: 2 } })], walk: [], udp: [], wasObserved: always }).tcp.length).toBe(1);
    const idle = a.endPeriod({ tcp: [stat({ ctr: { ACTIVE_FAIL: 2 } })], walk: [], udp: [], wasObserved: always });
    expect(idle.tcp.length).toBe(0);
    expect(idle.pruneTcp).toEqual(["k1"]);
  });

  test("latency: per-period bucket counts, sum and the period's max", () => {
    const a = agg();
    const hist = [1, 0, 0, 0, 0, 0, 0];
    a.endPeriod({ tcp: [stat({ hist, hsum: 1000 })], walk: [], udp: [] });
    const out = a.endPeriod({ tcp: [stat({ hist: [3, 1, 0, 0, 0, 0, 0], hsum: 9_000_000, max: 6_000_000 })], walk: [], udp: [], wasObserved: always });
    const row = tcpRow(out.tcp[0]!);
    expect(row.estab_latency).toEqual({ bounds: [3e6, 1e7, 5e7, 1e8, 5e8, 1e9, 1e10], cumulative: [2, 3, 3, 3, 3, 3, 3], sum: 8_999_000, max: 6_000_000 });
  });

  test("listeners: drops before the first walk are not reported; a listener of an observed process counts from zero", () => {
    const a = agg();
    a.endPeriod({ tcp: [], walk: [listener({ drops: 40 })], udp: [] });
    const p1 = a.endPeriod({ tcp: [], walk: [listener({ drops: 46 }), listener({ sk: 0xffff3000n, ino: 99, lport: 9090, drops: 5, ackBacklog: 2, maxAckBacklog: 1 })], udp: [], wasObserved: always });
    const byPort = new Map(p1.tcp.map((t) => [t.port, t]));
    expect(byPort.get(8080)!.listendrop).toBe(6);
    expect(byPort.get(8080)!.acceptOverflow).toBe(0);
    expect(byPort.get(9090)!.listendrop).toBe(5);
    expect(byPort.get(9090)!.acceptOverflow).toBe(5);
    const row = tcpRow(byPort.get(9090)!);
    expect([row.role, row.client_ip, row.server_ip, row.server_port, row.protocol, row.multi]).toEqual(["server", "0.0.0.0", "0.0.0.0", "9090", "2", "0"]);
  });

  test("a listener of a process that just came into scope starts from its current count", () => {
    const a = agg();
    a.endPeriod({ tcp: [], walk: [], udp: [] });
    const out = a.endPeriod({ tcp: [], walk: [listener({ drops: 40 })], udp: [], wasObserved: () => false });
    expect(out.tcp[0]!.listendrop).toBe(0);
  });

  test("a listener held by several processes is one row of the lowest tgid, multi=1; passive rows of that port inherit multi", () => {
    const a = agg();
    a.endPeriod({ tcp: [], walk: [], udp: [] });
    const out = a.endPeriod({
      tcp: [stat({ tgid: 200, role: ROLE.SERVER, port: 8080, ctr: { PASSIVE_OPEN: 3 } })],
      walk: [listener({ tgid: 201 }), listener({ tgid: 200 }), listener({ tgid: 202 })],
      udp: [],
      wasObserved: always,
    });
    const l = out.tcp.filter((t) => t.listener);
    expect(l.length).toBe(1);
    expect(l[0]!.tgid).toBe(200);
    expect(l[0]!.multi).toBe(true);
    expect(out.tcp.find((t) => !t.listener)!.multi).toBe(true);
  });

  test("UDP: drops from the walk, bytes from the kernel map, summed per endpoint; a socket gone from the walk reports its last bytes once", () => {
    const a = agg();
    a.endPeriod({ tcp: [], walk: [udpSock({ drops: 3 })], udp: [] });
    const p1 = a.endPeriod({ tcp: [], walk: [udpSock({ drops: 10 })], udp: [bytes({ tx: 500, rx: 40 })], wasObserved: always });
    expect(p1.udp).toEqual([{ tgid: 300, localIp: "127.0.0.1", localPort: 53, remoteIp: "0.0.0.0", remotePort: 0, family: 2, drops: 7, tx: 500, rx: 40 }]);
    const p2 = a.endPeriod({ tcp: [], walk: [], udp: [bytes({ tx: 800, rx: 40 })], wasObserved: always });
    expect(p2.udp.map((u) => [u.tx, u.rx, u.drops])).toEqual([[300, 0, 0]]);
    expect(p2.goneUdp).toEqual([0xffff2000n]);
    expect(udpRow(p2.udp[0]!)).toEqual({ tgid: "300", local_ip: "127.0.0.1", local_port: "53", remote_ip: "0.0.0.0", remote_port: "0", protocol: "2", udp_rcv_drops: 0, bind_sends: 300, bind_rcvs: 0 });
    // A kernel without the byte hooks (before 6.3): the byte fields are empty, not 0.
    const noBytes = udpRow(p2.udp[0]!, { sent: false, received: false });
    expect([noBytes.bind_sends, noBytes.bind_rcvs, noBytes.udp_rcv_drops]).toEqual([undefined, undefined, 0]);
  });

  test("UDP: a quiet socket is not reported; a socket at a reused address (new inode) counts from zero", () => {
    const a = agg();
    a.endPeriod({ tcp: [], walk: [udpSock()], udp: [] });
    expect(a.endPeriod({ tcp: [], walk: [udpSock()], udp: [], wasObserved: always }).udp).toEqual([]);
    a.endPeriod({ tcp: [], walk: [udpSock()], udp: [bytes({ tx: 100 })], wasObserved: always });
    const reused = a.endPeriod({ tcp: [], walk: [udpSock({ ino: 89 })], udp: [bytes({ ino: 89, tx: 7 })], wasObserved: always });
    expect(reused.udp.map((u) => u.tx)).toEqual([7]);
  });

  test("events: upstream's metrics, texts, entity key and IP label", () => {
    const a = agg();
    a.endPeriod({ tcp: [], walk: [], udp: [] });
    const out = a.endPeriod({
      tcp: [stat({ role: ROLE.SERVER, tgid: 200, client: "10.0.0.9", server: "10.0.0.2", port: 8080, ctr: { RETRAN_SYNACK: 2, REQ_DROP: 1 } })],
      walk: [listener({ drops: 4, ackBacklog: 129 })],
      udp: [],
      wasObserved: always,
    });
    const evs = out.tcp.flatMap(tcpEvents);
    expect(evs.map((e) => [e.metric, e.message, e.key])).toEqual([
      ["listendrop", "TCP listen drops(4).", "200_0.0.0.0_0.0.0.0_8080_1"],
      ["accept_overflow", "TCP accept queue overflow(4).", "200_0.0.0.0_0.0.0.0_8080_1"],
      ["retran_synacks", "TCP SYN/ACK retransmission occurs.(2).", "200_10.0.0.9_10.0.0.2_8080_1"],
      ["req_drops", "TCP request drops(listen closed).(1).", "200_10.0.0.9_10.0.0.2_8080_1"],
    ]);
    expect(evs[0]!.ip).toBe("Client 0.0.0.0, Server 0.0.0.0:8080");
    expect(evs[0]!.pid).toBe("200");
  });
});

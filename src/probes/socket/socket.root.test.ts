// The socket probe against the running kernel (root), with exact values compared to the
// kernel's own counters: a backlog-1 listener flooded by 30 connects (listendrop = the
// listener's drop count that `ss -ltnm` shows as d<N>), 20 connects to a closed port
// (active_open_failed 20 for the connecting process), a never-read UDP socket with the
// smallest receive buffer sent 500 datagrams (udp_rcv_drops = its /proc/net/udp drops),
// exact UDP bytes both ways; per-period values summed over the periods. Skipped with the
// reason when not root or when the kernel cannot run the probe.
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import type { ProbeRun } from "../../probe/define.ts";
import type { HistogramValue, Row } from "../../store/table.ts";
import socket from "./index.ts";
import { Proc, rootPreflight, testContext, TestScope } from "./test-kit.ts";

const { can, bin } = rootPreflight("socket.root.test");
const hasSs = can && Bun.spawnSync(["sh", "-c", "command -v ss"]).exitCode === 0;
if (can && !hasSs) console.warn("socket.root.test: listener test skipped: no `ss` command (apt-get install iproute2)");

const runs: ProbeRun[] = [];
const contexts: { close(): void }[] = [];
const procs: Proc[] = [];

async function open(subitems: string[], scope: TestScope) {
  const ctx = testContext({ subitems, scope });
  contexts.push(ctx);
  const run = await socket.open(ctx);
  runs.push(run);
  await run.collect(); // the first walk: what exists now is the baseline
  ctx.rec.rows.length = 0;
  return { ctx, run };
}

function spawn(args: string[]): Proc {
  const p = new Proc([bin, ...args]);
  procs.push(p);
  return p;
}

function rows(rec: { rows: { table: string; row: Row }[] }, table: string, pred: (r: Row) => boolean): Row[] {
  return rec.rows.filter((r) => r.table === table && pred(r.row)).map((r) => r.row);
}
const sum = (rs: Row[], field: string) => rs.reduce((n, r) => n + (r[field] as number), 0);

/** The listener's own drop counter as ss prints it (skmem ... d<N>). */
function ssDrops(port: number): number {
  const out = Bun.spawnSync(["ss", "-ltnmH", `sport = :${port}`]).stdout.toString();
  const m = /skmem:\([^)]*\bd(\d+)\)/.exec(out);
  if (!m) throw new Error(`ss shows no listener on ${port}: ${out}`);
  return Number(m[1]);
}

/** Retransmitted SYNs of the sockets still connecting to <port> (ss: retrans:<now>/<total>). */
function ssSynRetransmits(port: number): number {
  const out = Bun.spawnSync(["ss", "-tniH", "state", "syn-sent", `dport = :${port}`]).stdout.toString();
  let n = 0;
  for (const m of out.matchAll(/retrans:\d+\/(\d+)/g)) n += Number(m[1]);
  return n;
}

/** The drops column of /proc/net/udp for the socket bound to 127.0.0.1:<port>. */
function procUdpDrops(port: number): number {
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, "0")}`;
  const line = readFileSync("/proc/net/udp", "utf8")
    .split("\n")
    .find((l) => l.trim().split(/\s+/)[1] === local);
  if (!line) throw new Error(`no UDP socket on 127.0.0.1:${port} in /proc/net/udp`);
  return Number(line.trim().split(/\s+/).at(-1));
}

function freePort(): number {
  const s = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const p = s.port;
  s.stop(true);
  return p;
}

describe("socket probe (root)", () => {
  afterAll(async () => {
    for (const p of procs) p.kill();
    for (const r of runs) await r[Symbol.asyncDispose]();
    for (const c of contexts) c.close();
  });

  test.if(can && hasSs)("a backlog-1 listener flooded by 30 connects: listendrop summed over periods = the listener's own drop count", async () => {
    const scope = new TestScope([]);
    const { ctx, run } = await open(["tcp_socket"], scope);
    const server = spawn(["listen", "1"]);
    scope.add(server.pid);
    server.send();
    const port = Number((await server.waitFor(/listening (\d+)/))[1]);
    await run.collect(); // period 1: the listener is new, nothing dropped yet
    const flood = spawn(["flood", String(port), "30"]);
    scope.add(flood.pid);
    flood.send();
    await flood.waitFor(/connecting 30/);
    await Bun.sleep(1500);
    await run.collect(); // period 2: the first SYNs beyond the queue
    await Bun.sleep(2000); // SYN retransmissions (1 s, 3 s) are dropped too
    const synRetrans = ssSynRetransmits(port);
    flood.kill();
    await flood.proc.exited;
    await Bun.sleep(200);
    await run.collect(); // period 3
    const kernel = ssDrops(port);
    expect(kernel).toBeGreaterThan(0);
    const mine = rows(ctx.rec, "endpoint_tcp", (r) => r.tgid === String(server.pid) && r.server_port === String(port) && r.client_ip === "0.0.0.0");
    expect(mine.length).toBe(3);
    expect(mine.map((r) => r.listendrop as number).filter((n) => n > 0).length).toBeGreaterThanOrEqual(2);
    expect(sum(mine, "listendrop")).toBe(kernel);
    expect(sum(mine, "accept_overflow")).toBe(kernel);
    expect(mine[0]!.role).toBe("server");
    expect(mine[0]!.comm).toBe("sockgen");
    const ev = ctx.rec.events.filter((e) => e.metric === "listendrop" && e.pid === String(server.pid));
    expect(ev.length).toBe(mine.filter((r) => (r.listendrop as number) > 0).length);
    expect(ev[0]!.message).toMatch(/^TCP listen drops\(\d+\)\.$/);
    expect(ev[0]!.key).toBe(`${server.pid}_0.0.0.0_127.0.0.1_${port}_1`);
    // The two connections that made it into the accept queue are passive opens of the listener.
    const passive = rows(ctx.rec, "endpoint_tcp", (r) => r.tgid === String(server.pid) && r.client_ip === "127.0.0.1");
    expect(sum(passive, "passive_open")).toBe(2);
    const h = passive.find((r) => (r.passive_open as number) > 0)!.estab_latency as HistogramValue;
    expect(h.cumulative.at(-1)).toBe(2);
    // The connecting side: 30 SYNs, and the retransmissions of those still waiting.
    const client = rows(ctx.rec, "endpoint_tcp", (r) => r.tgid === String(flood.pid));
    expect(client.every((r) => r.role === "client" && r.server_port === String(port))).toBe(true);
    expect(sum(client, "syn_sent")).toBe(30);
    expect(synRetrans).toBeGreaterThan(0);
    expect(sum(client, "retran_syn")).toBe(synRetrans);
    // The listener closes with two children never accepted: two request drops.
    server.send("exit");
    await server.proc.exited;
    ctx.rec.rows.length = 0;
    await run.collect();
    expect(sum(rows(ctx.rec, "endpoint_tcp", (r) => r.tgid === String(server.pid)), "req_drops")).toBe(2);
    expect(ctx.rec.events.some((e) => e.metric === "req_drops" && e.message === "TCP request drops(listen closed).(2).")).toBe(true);
  }, 30_000);

  test.if(can)("20 connects to a closed port: active_open_failed 20 and syn_sent 20 for the connecting process", async () => {
    const scope = new TestScope([]);
    const { ctx, run } = await open(["tcp_socket"], scope);
    const port = freePort();
    const client = spawn(["refused", String(port), "20"]);
    scope.add(client.pid);
    client.send();
    expect((await client.waitFor(/done refused=(\d+)/))[1]).toBe("20");
    await run.collect();
    const mine = rows(ctx.rec, "endpoint_tcp", (r) => r.tgid === String(client.pid));
    expect(mine.length).toBe(1);
    const r = mine[0]!;
    expect(r.role).toBe("client");
    expect(r.client_ip).toBe("127.0.0.1");
    expect(r.server_ip).toBe("127.0.0.1");
    expect(r.server_port).toBe(String(port));
    expect(r.protocol).toBe("2");
    expect(r.active_open_failed).toBe(20);
    expect(r.syn_sent).toBe(20);
    expect(r.active_open).toBe(0);
    // Next period: nothing new.
    ctx.rec.rows.length = 0;
    await run.collect();
    expect(sum(rows(ctx.rec, "endpoint_tcp", (x) => x.tgid === String(client.pid)), "active_open_failed")).toBe(0);
    client.send("exit");
  }, 30_000);

  test.if(can)("a never-read UDP socket with the smallest buffer sent 500 datagrams: udp_rcv_drops = its own drop count; bytes exact both ways", async () => {
    const scope = new TestScope([]);
    const { ctx, run } = await open(["udp_socket"], scope);
    const sink = spawn(["udpsink"]);
    const sinkPort = Number((await sink.waitFor(/bound (\d+)/))[1]);
    scope.add(sink.pid);
    const reader = spawn(["udpread", "40"]);
    const readPort = Number((await reader.waitFor(/bound (\d+)/))[1]);
    scope.add(reader.pid);
    const toSink = spawn(["udpsend", String(sinkPort), "250", "100"]);
    const toReader = spawn(["udpsend", String(readPort), "20", "321"]);
    await Promise.all([toSink.waitFor(/ready/), toReader.waitFor(/ready/)]);
    scope.add(toSink.pid);
    scope.add(toReader.pid);
    await run.collect(); // the sockets are known before any datagram
    for (let batch = 1; batch <= 2; batch++) {
      toSink.send();
      toReader.send();
      await toSink.waitForNth(/sent total=\d+/, batch);
      await toReader.waitForNth(/sent total=\d+/, batch);
      await Bun.sleep(100);
      await run.collect();
    }
    await reader.waitFor(/done rx=12840/);
    await run.collect();
    const kernel = procUdpDrops(sinkPort);
    expect(kernel).toBeGreaterThan(0);
    const sinkRows = rows(ctx.rec, "endpoint_udp", (r) => r.tgid === String(sink.pid));
    expect(sinkRows.every((r) => r.local_port === String(sinkPort) && r.local_ip === "127.0.0.1")).toBe(true);
    expect(sum(sinkRows, "udp_rcv_drops")).toBe(kernel);
    expect(sinkRows.filter((r) => (r.udp_rcv_drops as number) > 0).length).toBe(2);
    expect(sum(rows(ctx.rec, "endpoint_udp", (r) => r.tgid === String(toSink.pid)), "bind_sends")).toBe(500 * 100);
    expect(sum(rows(ctx.rec, "endpoint_udp", (r) => r.tgid === String(toReader.pid)), "bind_sends")).toBe(40 * 321);
    const readRows = rows(ctx.rec, "endpoint_udp", (r) => r.tgid === String(reader.pid));
    expect(sum(readRows, "bind_rcvs")).toBe(40 * 321);
    expect(sum(readRows, "udp_rcv_drops")).toBe(0);
    for (const p of [sink, reader, toSink, toReader]) p.send("exit");
  }, 30_000);
});

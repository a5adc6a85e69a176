// The l7 probe's kernel side against the running kernel (root): l7gen moves known bytes
// through write/writev/sendto/sendmsg, read/readv/recvfrom/recvmsg, sendmmsg/recvmmsg and
// sendto/recvfrom on TCP and UDP sockets; the kernel's per-connection counters must equal
// what the calls returned, the roles must follow connect()/accept4(), the ring must carry
// each call's true length with a prefix of the bytes, a connection marked "ignore" must
// stop emitting while still being counted, and close() must flag the connection.
import { afterAll, describe, expect, test } from "bun:test";
import { L7Kernel } from "./bpf.ts";
import { CONN_CLOSED, EventView, L4_TCP, L4_UDP, REC_CLOSE, REC_DATA, ROLE_CLIENT, ROLE_SERVER, VERDICT_IGNORE, type ConnInfo } from "./decode.ts";
import { genConns, Proc, rootPreflight, testContext, TestScope, type TestContext } from "./test-kit.ts";

const { can, bin } = rootPreflight("l7 kernel.root.test");

interface Rec {
  kind: number;
  connId: number;
  dir: number;
  len: number;
  data: Uint8Array;
  peer?: { ip: string; port: number };
}

describe("l7 kernel capture", () => {
  const open: { ctx?: TestContext; proc?: Proc } = {};
  afterAll(() => {
    open.proc?.kill();
    open.ctx?.close();
  });

  test.if(can)("counts every byte and call per connection, roles from connect/accept4, true lengths in the ring, close flagged", async () => {
    const proc = new Proc([bin]);
    open.proc = proc;
    const scope = new TestScope([proc.pid]);
    const ctx = testContext({ subitems: ["l7_bytes_metrics"], scope });
    open.ctx = ctx;
    const recs: Rec[] = [];
    const ev = new EventView();
    const kernel = new L7Kernel({
      bpf: ctx.bpf,
      features: ctx.features,
      maxConns: 1024,
      captureBytes: 16384,
      ringbufMiB: 4,
      tls: false,
      onRecord: (view, off, length) => {
        const e = ev.read(kernel.events, view, off, length);
        recs.push({ kind: e.kind, connId: e.connId, dir: e.dir, len: e.len, data: e.data.slice(), peer: e.peer() });
      },
      onRingDrops: (n) => {
        throw new Error(`${n} ring records dropped`);
      },
    });
    ctx.bpf.scopeSync(kernel.obj);
    await ctx.inKernelScope(proc.pid);
    proc.send("go");
    await proc.waitFor(/^done$/m);
    kernel.drain();
    const gen = genConns(proc.output);
    expect(gen.length).toBe(4);
    const conns: ConnInfo[] = [];
    const others = new Set<number>();
    kernel.readConns((c) => void (c.tgid === proc.pid ? conns.push(c) : others.add(c.tgid)));
    expect([...others]).toEqual([]); // only the process in scope
    expect(new Set(recs.map((r) => conns.some((c) => c.connId === r.connId))).has(false)).toBe(false);
    const find = (l4: number, port: number) => conns.filter((c) => c.l4 === l4 && c.localPort === port);
    for (const g of gen) {
      const [k, ...more] = find(g.l4 === "tcp" ? L4_TCP : L4_UDP, g.localPort);
      expect(more.length).toBe(0);
      expect(k).toBeDefined();
      expect({ sent: k!.bytesSent, recv: k!.bytesRecv, sendCalls: k!.segsSent, recvCalls: k!.segsRecv }).toEqual({ sent: g.sent, recv: g.recv, sendCalls: g.sendCalls, recvCalls: g.recvCalls });
      if (g.l4 === "tcp") {
        expect(k!.role).toBe(g.role === "client" ? ROLE_CLIENT : ROLE_SERVER);
        expect(k!.remotePort).toBe(g.remotePort);
        expect(k!.localIp).toBe("127.0.0.1");
        expect(k!.remoteIp).toBe("127.0.0.1");
      }
      // The ring carried every call: lengths sum to the counted bytes, prefixes are the bytes.
      const mine = recs.filter((r) => r.kind === REC_DATA && r.connId === k!.connId);
      const sum = (dir: number) => mine.filter((r) => r.dir === dir).reduce((a, r) => a + r.len, 0);
      expect({ sent: sum(0), recv: sum(1) }).toEqual({ sent: g.sent, recv: g.recv });
      for (const r of mine) expect(r.data.length).toBe(Math.min(r.len, 16384));
    }
    const client = find(L4_TCP, gen[0]!.localPort)[0]!;
    const first = recs.find((r) => r.connId === client.connId && r.dir === 0)!;
    expect(new TextDecoder().decode(first.data)).toBe("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    // UDP server socket: each datagram names the client as its peer.
    const udpServer = find(L4_UDP, gen[3]!.localPort)[0]!;
    const udpIn = recs.filter((r) => r.connId === udpServer.connId && r.dir === 1);
    expect(udpIn.map((r) => r.peer)).toEqual(gen.filter((g) => g.l4 === "udp" && g.role === "client").flatMap((g) => Array(3).fill({ ip: "127.0.0.1", port: g.localPort })));
    expect(udpIn.map((r) => new TextDecoder().decode(r.data))).toEqual(["x1234567890", "y12345678901234567890", "z123456789012345678901234567890"]);
    // Ignore the TCP client from now on: closing emits a CLOSE record, no data record.
    kernel.setVerdict(client.connId, VERDICT_IGNORE);
    recs.length = 0;
    proc.send("close");
    await proc.waitFor(/^closed$/m);
    kernel.drain();
    const closes = recs.filter((r) => r.kind === REC_CLOSE).map((r) => r.connId);
    for (const c of conns) expect(closes).toContain(c.connId);
    const after: ConnInfo[] = [];
    kernel.readConns((c) => void (c.tgid === proc.pid && after.push(c)));
    for (const c of after) expect(c.flags & CONN_CLOSED).toBe(CONN_CLOSED);
  });
});

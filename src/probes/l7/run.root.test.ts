// The l7 probe's run against the running kernel (root), with a test parser that recognises
// l7gen's TCP conversation (it starts with "GET "): l7_link reports, for both ends, exactly
// the bytes and calls l7gen's syscalls returned, with connect()/accept4() roles; the UDP
// sockets match no parser and are reported by nothing; after close() the links report zero.
import { afterAll, describe, expect, test } from "bun:test";
import { openL7 } from "./index.ts";
import { Looks, type ProtocolParser } from "./protocol.ts";
import { genConns, Proc, rootPreflight, testContext, TestScope, type TestContext } from "./test-kit.ts";

const { can, bin } = rootPreflight("l7 run.root.test");

/** Claims connections whose first bytes are "GET "; produces no records. */
const getOnly: ProtocolParser = {
  name: "http",
  detect: (b) => (b.length >= 4 && b[0] === 0x47 && b[1] === 0x45 && b[2] === 0x54 && b[3] === 0x20 ? Looks.Request : Looks.No),
  session: () => ({ request() {}, response() {}, drain: () => 0, stats: { resyncs: 0, unansweredDropped: 0, unmatchedResponses: 0 } }),
};

describe("l7 run", () => {
  const open: { ctx?: TestContext; proc?: Proc; run?: AsyncDisposable } = {};
  afterAll(async () => {
    open.proc?.kill();
    await open.run?.[Symbol.asyncDispose]();
    open.ctx?.close();
  });

  test.if(can)("l7_link: exact bytes and calls on both ends of a loopback TCP connection, tcp_client and tcp_server", async () => {
    const proc = new Proc([bin]);
    open.proc = proc;
    const ctx = testContext({ subitems: ["l7_bytes_metrics", "l7_rpc_metrics"], scope: new TestScope([proc.pid]), params: { l7_protocol: ["http"] } });
    open.ctx = ctx;
    const run = openL7(ctx, new Map([["http", getOnly]]));
    open.run = run;
    await ctx.inKernelScope(proc.pid);
    proc.send("go");
    await proc.waitFor(/^done$/m);
    await run.collect();
    const gen = genConns(proc.output).filter((g) => g.l4 === "tcp");
    const links = ctx.rec.rows.filter((r) => r.table === "l7_link").map((r) => r.row);
    const expected = gen.map((g) => ({
      tgid: String(proc.pid),
      client_ip: "127.0.0.1",
      server_ip: "127.0.0.1",
      server_port: String(g.role === "client" ? g.remotePort : g.localPort),
      l4_role: `tcp_${g.role}`,
      l7_role: g.role,
      protocol: "http",
      ssl: "no_ssl",
      bytes_sent: g.sent,
      bytes_recv: g.recv,
      segs_sent: g.sendCalls,
      segs_recv: g.recvCalls,
    }));
    expect(links.sort((a, b) => String(a.l4_role).localeCompare(String(b.l4_role)))).toEqual(expected);
    const rpc = ctx.rec.rows.filter((r) => r.table === "l7_rpc").map((r) => r.row.req_count);
    expect(rpc).toEqual([0, 0]);
    // Closed: the next period reports the links with zero deltas (they are kept while recent).
    proc.send("close");
    await proc.waitFor(/^closed$/m);
    ctx.rec.rows.length = 0;
    await run.collect();
    expect(ctx.rec.rows.filter((r) => r.table === "l7_link").map((r) => r.row.bytes_sent)).toEqual([0, 0]);
  });
});

// What the l7 end-to-end root tests (h2, grpc, mongo) share: a run of the probe scoped to the
// test's processes, its rows per process, and the comparison of one process's l7_rpc /
// l7_rpc_api rows with a client's own tally (counts and error classes exact, latencies within
// what the client measured).
import { expect } from "bun:test";
import { readFileSync } from "node:fs";
import type { HistogramValue, Row } from "../../store/table.ts";
import { openL7 } from "./index.ts";
import type { PeerTally } from "./test-peers.ts";
import { testContext, TestScope, type TestContext } from "./test-kit.ts";

export class ProbeOn implements AsyncDisposable {
  private constructor(
    readonly ctx: TestContext,
    readonly run: ReturnType<typeof openL7>,
  ) {}

  /** A run of the probe on `pids` with `params` (l7_protocol …), ready once the kernel observes them. */
  static async open(pids: number[], params: Record<string, unknown>): Promise<ProbeOn> {
    const ctx = testContext({ subitems: ["l7_bytes_metrics", "l7_rpc_metrics"], scope: new TestScope(pids), params: params as never });
    const run = openL7(ctx);
    const p = new ProbeOn(ctx, run);
    try {
      for (const pid of pids) await ctx.inKernelScope(pid);
    } catch (e) {
      await p[Symbol.asyncDispose]();
      throw e;
    }
    return p;
  }

  rows(table: string, tgid: number): Row[] {
    return this.ctx.rec.rows.filter((r) => r.table === table && r.row.tgid === String(tgid)).map((r) => r.row);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.run[Symbol.asyncDispose]();
    this.ctx.close();
  }
}

export interface Side {
  tgid: number;
  l4Role: "tcp_client" | "tcp_server";
  l7Role: "client" | "server";
}

/** Sums of a tally: calls and errors. */
export function totals(t: PeerTally["apis"]): { count: number; errors: number } {
  let count = 0;
  let errors = 0;
  for (const a of Object.values(t)) {
    count += a.count;
    errors += a.client + a.server;
  }
  return { count, errors };
}

/**
 * One process's rows against the client's tally `apis`: one l7_rpc row (roles, protocol, ssl,
 * server port) with req/resp/err counts equal to the tally's, l7_rpc_api per API with the
 * tally's counts and error classes, and each API's latencies (sum and max) no larger than
 * what the client measured for it, and larger than zero.
 */
export function expectRowsMatch(p: ProbeOn, side: Side, o: { protocol: string; ssl: boolean; serverPort: number; apis: PeerTally["apis"] }): void {
  const { count, errors } = totals(o.apis);
  const rpc = p.rows("l7_rpc", side.tgid);
  const tag = `pid ${side.tgid} (${side.l7Role})`;
  expect(rpc.map((r) => [tag, r.l4_role, r.l7_role, r.protocol, r.ssl, r.server_port, r.req_count, r.resp_count, r.err_count])).toEqual([
    [tag, side.l4Role, side.l7Role, o.protocol, o.ssl ? "ssl" : "no_ssl", String(o.serverPort), count, count, errors],
  ]);
  const api = Object.fromEntries(p.rows("l7_rpc_api", side.tgid).map((r) => [r.api, [r.req_count, r.client_err_count, r.server_err_count]]));
  expect([tag, api]).toEqual([tag, Object.fromEntries(Object.entries(o.apis).map(([k, a]) => [k, [a.count, a.client, a.server]]))]);
  for (const r of p.rows("l7_rpc_api", side.tgid)) {
    const want = o.apis[r.api as string]!;
    const h = r.latency as HistogramValue;
    const got = [tag, r.api, r.latency_sum as number, h.max];
    expect(h.max).toBeGreaterThan(0);
    expect(got).toEqual([tag, r.api, Math.min(got[2] as number, want.latency_sum_ns), Math.min(h.max, want.latency_max_ns)]);
  }
}

/** The server saw each call after the client began it and answered before the client had it all. */
export function expectServerInsideClient(p: ProbeOn, server: number, client: number): void {
  const sums = (tgid: number) => Object.fromEntries(p.rows("l7_rpc_api", tgid).map((r) => [r.api, r.latency_sum as number]));
  const s = sums(server);
  const c = sums(client);
  for (const [api, v] of Object.entries(s)) expect([api, v]).toEqual([api, Math.min(v as number, (c[api] as number | undefined) ?? 0)]);
}

/**
 * Resolves once no socket with local port `port` is established or half-closed (the server
 * has read its peers to the end and closed them), so what it received is all counted.
 */
export async function serverConnsClosed(port: number, timeoutMs = 10_000): Promise<void> {
  const hex = port.toString(16).toUpperCase().padStart(4, "0");
  const open = () => {
    let n = 0;
    for (const f of ["/proc/net/tcp", "/proc/net/tcp6"]) {
      let text = "";
      try {
        text = readFileSync(f, "utf8");
      } catch {
        continue;
      }
      for (const line of text.split("\n").slice(1)) {
        const cols = line.trim().split(/\s+/);
        // local_address is ip:PORT; st 01 ESTABLISHED, 08 CLOSE_WAIT
        if (cols[1]?.endsWith(`:${hex}`) && (cols[3] === "01" || cols[3] === "08")) n++;
      }
    }
    return n;
  };
  const end = Date.now() + timeoutMs;
  while (open() > 0) {
    if (Date.now() > end) throw new Error(`connections to port ${port} still open after ${timeoutMs} ms`);
    await Bun.sleep(20);
  }
}

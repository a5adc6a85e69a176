// The HTTP/2 and gRPC cases of the l7 end-to-end root tests (h2.root.test.ts,
// grpc.root.test.ts, and their TLS variants): a Go client (testdata/peers, `peers` the built
// executable) against a server, the probe on both, every row compared with the client's own
// tally (test-e2e.ts).
import { expect } from "bun:test";
import { expectRowsMatch, expectServerInsideClient, ProbeOn, serverConnsClosed } from "./test-e2e.ts";
import { parseTally, startGoServer, startWaitingClient, type PeerTally } from "./test-peers.ts";

/** What an nginx serving the Go HTTP/2 client's paths holds (POST /echo: 405 on a static file). */
export const NGINX_FILES = { ok: "ok from nginx\n", echo: "a static file\n", "index.html": "index\n" };

/** The Go gRPC server and client (TLS certificates in `tlsDir`, if any) with the probe on both. */
export async function grpcBothEnds(peers: string, o: { tlsDir?: string; supportSsl: 0 | 1 }): Promise<void> {
  const tls = o.tlsDir ? ["--tls", o.tlsDir] : [];
  await using server = await startGoServer([peers, "grpc-server", ...tls]);
  const client = await startWaitingClient([peers, "grpc-client", `127.0.0.1:${server.port}`, ...tls]);
  try {
    await using probe = await ProbeOn.open([server.pid, client.pid], { l7_protocol: ["http"], support_ssl: o.supportSsl });
    const { code, out } = await client.go();
    expect([code, out.slice(-300)]).toEqual([0, out.slice(-300)]);
    const tally = parseTally(out);
    expect(tally.connections).toBe(1);
    // The client made every kind of call, failing and not, so a miscount shows somewhere.
    expect(Object.keys(tally.apis).sort()).toEqual(["/demo.Echo/Chat", "/demo.Echo/Collect", "/demo.Echo/List", "/demo.Echo/Nope", "/demo.Echo/Say"]);
    expect(Object.values(tally.apis).some((a) => a.client > 0) && Object.values(tally.apis).some((a) => a.server > 0)).toBe(true);
    await serverConnsClosed(server.port);
    await probe.run.collect();
    const common = { protocol: "http2", ssl: o.tlsDir !== undefined, serverPort: server.port, apis: tally.apis };
    expectRowsMatch(probe, { tgid: client.pid, l4Role: "tcp_client", l7Role: "client" }, common);
    expectRowsMatch(probe, { tgid: server.pid, l4Role: "tcp_server", l7Role: "server" }, common);
    expectServerInsideClient(probe, server.pid, client.pid);
    // Each end's bytes are the other's, as the kernel counted them; over TLS the server may
    // also have written a TLS 1.3 close_notify alert (a 24-byte record) after the client left.
    const bytes = (tgid: number) => probe.rows("l7_link", tgid).map((r) => [r.bytes_sent as number, r.bytes_recv as number]);
    expect(bytes(client.pid).length).toBe(1);
    const [[clientSent, clientRecv]] = bytes(client.pid) as [[number, number]];
    const [[serverSent, serverRecv]] = bytes(server.pid) as [[number, number]];
    expect([serverRecv, serverSent - clientRecv]).toEqual([clientSent, o.tlsDir && serverSent - clientRecv === 24 ? 24 : 0]);
  } finally {
    client.kill();
  }
}

/**
 * Runs the Go HTTP/2 client (n requests on one connection, over TLS trusting `tlsDir` if
 * given) against the server `serverPid` on `port`, the probe on both; both ends checked.
 */
export async function h2GoClient(peers: string, serverPid: number, port: number, n: number, o: { tlsDir?: string } = {}): Promise<PeerTally> {
  const base = `${o.tlsDir ? "https" : "http"}://127.0.0.1:${port}`;
  const client = await startWaitingClient([peers, "h2-client", base, String(n), ...(o.tlsDir ? ["--tls", o.tlsDir] : [])]);
  try {
    await using probe = await ProbeOn.open([serverPid, client.pid], { l7_protocol: ["http"], support_ssl: o.tlsDir ? 1 : 0 });
    const { code, out } = await client.go();
    expect([code, out.slice(-300)]).toEqual([0, out.slice(-300)]);
    const tally = parseTally(out);
    expect(tally.connections).toBe(1);
    await probe.run.collect();
    const common = { protocol: "http2", ssl: o.tlsDir !== undefined, serverPort: port, apis: tally.apis };
    expectRowsMatch(probe, { tgid: client.pid, l4Role: "tcp_client", l7Role: "client" }, common);
    expectRowsMatch(probe, { tgid: serverPid, l4Role: "tcp_server", l7Role: "server" }, common);
    expectServerInsideClient(probe, serverPid, client.pid);
    return tally;
  } finally {
    client.kill();
  }
}

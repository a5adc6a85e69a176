// gRPC through the l7 probe (root): a Go gRPC server and a Go gRPC client (testdata/peers,
// grpc-go over plaintext HTTP/2) make unary, server-, client- and bidi-streaming calls on one
// connection from 4 goroutines, a third of them failing with client- and server-class
// grpc-status codes, and calls to a method the server lacks (UNIMPLEMENTED). On both ends
// the probe's l7_rpc / l7_rpc_api rows must equal the client's own tally: calls per method
// ("/demo.Echo/Say" …), errors by class as http2.ts documents them, and latencies per method
// within what the client measured (the server's within the client's).
import { afterAll, describe, expect, test } from "bun:test";
import { expectRowsMatch, expectServerInsideClient, ProbeOn, serverConnsClosed } from "./test-e2e.ts";
import { goPeers, parseTally, startGoServer, startWaitingClient } from "./test-peers.ts";
import { rootPreflight } from "./test-kit.ts";
import { PARSERS } from "./index.ts";

const NAME = "l7 grpc.root.test";
const { can } = rootPreflight(NAME, () => (PARSERS.has("http2") ? undefined : "no http2 parser registered in src/probes/l7/protocols/index.ts"));
const peers = goPeers(NAME, can);
afterAll(() => peers.dispose());

/** The Go gRPC server and client (TLS certificates in `tlsDir`, if any) with the probe on both. */
async function grpcBothEnds(o: { tlsDir?: string; supportSsl: 0 | 1 }): Promise<void> {
  const tls = o.tlsDir ? ["--tls", o.tlsDir] : [];
  await using server = await startGoServer([peers.bin, "grpc-server", ...tls]);
  const client = await startWaitingClient([peers.bin, "grpc-client", `127.0.0.1:${server.port}`, ...tls]);
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

describe("l7: gRPC (Go server and client) through the probe", () => {
  test.if(!peers.skip)(
    "plaintext: calls per method, grpc-status errors by class and latencies, exact on the server and the client",
    async () => await grpcBothEnds({ supportSsl: 0 }),
    120_000,
  );
});

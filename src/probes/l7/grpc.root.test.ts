// gRPC through the l7 probe (root): a Go gRPC server and a Go gRPC client (testdata/peers,
// grpc-go over plaintext HTTP/2) make unary, server-, client- and bidi-streaming calls on one
// connection from 4 goroutines, a third of them failing with client- and server-class
// grpc-status codes, and calls to a method the server lacks (UNIMPLEMENTED). On both ends
// the probe's l7_rpc / l7_rpc_api rows must equal the client's own tally: calls per method
// ("/demo.Echo/Say" …), errors by class as http2.ts documents them, and latencies per method
// within what the client measured (the server's within the client's).
import { afterAll, describe, test } from "bun:test";
import { grpcBothEnds } from "./test-h2-cases.ts";
import { goPeers } from "./test-peers.ts";
import { rootPreflight } from "./test-kit.ts";
import { PARSERS } from "./index.ts";

const NAME = "l7 grpc.root.test";
const { can } = rootPreflight(NAME, () => (PARSERS.has("http2") ? undefined : "no http2 parser registered in src/probes/l7/protocols/index.ts"));
const peers = goPeers(NAME, can);
afterAll(() => peers.dispose());

describe("l7: gRPC (Go server and client) through the probe", () => {
  test.if(!peers.skip)(
    "plaintext: calls per method, grpc-status errors by class and latencies, exact on the server and the client",
    async () => await grpcBothEnds(peers.bin, { supportSsl: 0 }),
    120_000,
  );
});

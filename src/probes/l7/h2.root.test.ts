// HTTP/2 cleartext (prior knowledge) through the l7 probe (root), real servers and clients:
//   * the Go h2c server (testdata/peers) and Go's HTTP/2 client: 200 requests on ONE
//     keep-alive connection from 4 goroutines (GET /ok, 404s, 500s, POSTs);
//   * nginx (`listen … http2`) and the same Go client: 100 requests on one connection;
//   * nginx and curl --http2-prior-knowledge, one request per curl process (curl 7.88 fails
//     reusing a cleartext HTTP/2 connection), 20 of them with 404s.
// Both ends must count exactly what the client tallied, per API ("GET /ok", the query cut)
// with errors by class (4xx client, 5xx server), latencies within what the client measured.
import { afterAll, describe, expect, test } from "bun:test";
import type { HistogramValue } from "../../store/table.ts";
import { PARSERS } from "./index.ts";
import { ProbeOn } from "./test-e2e.ts";
import { h2GoClient, NGINX_FILES } from "./test-h2-cases.ts";
import { rootPreflight } from "./test-kit.ts";
import { goPeers, startGoServer, startNginxH2 } from "./test-peers.ts";
import { has, held } from "./test-servers.ts";

const NAME = "l7 h2.root.test";
const { can } = rootPreflight(NAME, () => (PARSERS.has("http2") ? undefined : "no http2 parser registered in src/probes/l7/protocols/index.ts"));
const peers = goPeers(NAME, can);
afterAll(() => peers.dispose());
const canNginx = !peers.skip && has("nginx") && has("curl");
if (!peers.skip && !canNginx) console.warn(`${NAME}: nginx tests skipped: nginx or curl not installed`);

describe("l7: HTTP/2 cleartext through the probe", () => {
  test.if(!peers.skip)(
    "Go h2c server + Go client: 200 requests on one connection, 404s and 500s, exact on both ends",
    async () => {
      await using server = await startGoServer([peers.bin, "h2c-server"]);
      const tally = await h2GoClient(peers.bin, server.pid, server.port, 200);
      expect(tally.extra).toEqual({ "status 200": 140, "status 404": 40, "status 500": 20 });
    },
    120_000,
  );

  test.if(canNginx)(
    "nginx (listen http2) + Go client: 100 requests on one connection, exact on both ends",
    async () => {
      await using nginx = await startNginxH2(NGINX_FILES);
      const tally = await h2GoClient(peers.bin, nginx.pid, nginx.port, 100);
      // nginx answers the POSTs to a static file 405: client errors of "POST /echo".
      expect(tally.extra).toEqual({ "status 200": 60, "status 404": 20, "status 500": 10, "status 405": 10 });
    },
    120_000,
  );

  test.if(canNginx)(
    "nginx + curl --http2-prior-knowledge, one request per process: 20 requests, 5 × 404, exact on both ends",
    async () => {
      await using nginx = await startNginxH2(NGINX_FILES);
      const paths = Array.from({ length: 20 }, (_, i) => (i % 4 === 3 ? "/missing" : `/ok?i=${i}`));
      const curls = paths.map((p) => held(["curl", "-s", "--http2-prior-knowledge", "-o", "/dev/null", "-w", "%{http_code} %{time_total} %{http_version}", `http://127.0.0.1:${nginx.port}${p}`]));
      await using probe = await ProbeOn.open([nginx.pid, ...curls.map((c) => c.pid)], { l7_protocol: ["http"] });
      const seen: { pid: number; status: number; latencyNs: number }[] = [];
      for (const c of curls) {
        c.release();
        const { code, out } = await c.done;
        const [status, total, version] = out.trim().split(" ");
        expect([code, version]).toEqual([0, "2"]);
        seen.push({ pid: c.pid, status: Number(status), latencyNs: Number(total) * 1e9 });
      }
      expect(seen.map((s) => s.status)).toEqual(paths.map((p) => (p === "/missing" ? 404 : 200)));
      await probe.run.collect();
      for (const s of seen) {
        const api = s.status === 404 ? "GET /missing" : "GET /ok";
        const rpc = probe.rows("l7_rpc_api", s.pid);
        expect(rpc.map((r) => [s.pid, r.l4_role, r.l7_role, r.protocol, r.api, r.req_count, r.resp_count, r.client_err_count, r.server_err_count])).toEqual([
          [s.pid, "tcp_client", "client", "http2", api, 1, 1, s.status === 404 ? 1 : 0, 0],
        ]);
        const h = rpc[0]!.latency as HistogramValue;
        expect(h.max).toBeGreaterThan(0);
        expect(h.max).toBeLessThanOrEqual(s.latencyNs);
      }
      const server = Object.fromEntries(probe.rows("l7_rpc_api", nginx.pid).map((r) => [r.api, [r.req_count, r.resp_count, r.client_err_count, r.server_err_count]]));
      expect(server).toEqual({ "GET /ok": [15, 15, 0, 0], "GET /missing": [5, 5, 5, 0] });
      const rpc = probe.rows("l7_rpc", nginx.pid);
      expect(rpc.map((r) => [r.l4_role, r.l7_role, r.req_count, r.err_count])).toEqual([["tcp_server", "server", 20, 5]]);
      expect(rpc[0]!.latency_sum as number).toBeLessThanOrEqual(seen.reduce((a, s) => a + s.latencyNs, 0));
    },
    120_000,
  );
});

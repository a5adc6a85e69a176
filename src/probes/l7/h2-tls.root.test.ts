// HTTP/2 and gRPC over TLS through the l7 probe with support_ssl=1 (root): the plaintext the
// TLS uprobes read (Go crypto/tls, OpenSSL 3) is parsed as on a cleartext connection, and
// every row carries the ssl label "ssl".
//   * gRPC: the Go server and client (Go crypto/tls on both ends) make the calls of
//     grpc.root.test.ts: calls per method, grpc-status errors by class, latencies.
//   * nginx with TLS (OpenSSL 3) and HTTP/2: Go's HTTP/2 client (crypto/tls) sends 100
//     requests on one connection, and curl --http2 (OpenSSL 3) 40 on one keep-alive
//     connection with 404s and 500s.
// Both ends must count exactly what the client tallied, latencies within what it measured.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PARSERS } from "./index.ts";
import { expectRowsMatch, expectServerInsideClient, ProbeOn } from "./test-e2e.ts";
import { grpcBothEnds, h2GoClient, NGINX_FILES } from "./test-h2-cases.ts";
import { rootPreflight } from "./test-kit.ts";
import { goPeers, startNginxH2, type PeerTally } from "./test-peers.ts";
import { has, held } from "./test-servers.ts";

const NAME = "l7 h2-tls.root.test";
const { can } = rootPreflight(NAME, () => (PARSERS.has("http2") ? undefined : "no http2 parser registered in src/probes/l7/protocols/index.ts"));
const peers = goPeers(NAME, can);
const certs = mkdtempSync(join(tmpdir(), "gg-l7-h2-tls-"));
afterAll(() => {
  peers.dispose();
  rmSync(certs, { recursive: true, force: true });
});
if (!peers.skip) {
  const gen = Bun.spawnSync([peers.bin, "gen-cert", certs], { stderr: "pipe" });
  if (gen.exitCode !== 0) throw new Error(`gen-cert: ${gen.stderr.toString()}`);
}
const canNginx = !peers.skip && has("nginx") && has("curl");
if (!peers.skip && !canNginx) console.warn(`${NAME}: nginx tests skipped: nginx or curl not installed`);

describe("l7: HTTP/2 and gRPC over TLS through the probe (support_ssl=1)", () => {
  test.if(!peers.skip)(
    "gRPC, Go crypto/tls on both ends: calls per method, grpc-status errors and latencies, exact on both ends, labelled ssl",
    async () => await grpcBothEnds(peers.bin, { tlsDir: certs, supportSsl: 1 }),
    120_000,
  );

  test.if(canNginx)(
    "nginx (OpenSSL 3) + Go's HTTP/2 client (crypto/tls): 100 requests on one connection, exact on both ends, labelled ssl",
    async () => {
      await using nginx = await startNginxH2(NGINX_FILES, { tls: certs });
      const tally = await h2GoClient(peers.bin, nginx.pid, nginx.port, 100, { tlsDir: certs });
      expect(tally.extra).toEqual({ "status 200": 60, "status 404": 20, "status 500": 10, "status 405": 10 });
    },
    120_000,
  );

  test.if(canNginx)(
    "nginx + curl --http2 (OpenSSL 3 on both ends): 40 requests on one connection, 404s and 500s, exact on both ends, labelled ssl",
    async () => {
      await using nginx = await startNginxH2(NGINX_FILES, { tls: certs });
      const paths = Array.from({ length: 40 }, (_, i) => (i % 10 === 3 || i % 10 === 7 ? "/missing" : i % 10 === 5 ? "/fail" : `/ok?i=${i}`));
      const cfg = join(certs, "curl.cfg");
      writeFileSync(cfg, paths.map((p) => `url = "https://127.0.0.1:${nginx.port}${p}"\noutput = "/dev/null"\n`).join(""));
      const curl = held(["curl", "-s", "--http2", "--cacert", join(certs, "cert.pem"), "-K", cfg, "-w", "%{http_code} %{time_total} %{http_version} %{num_connects}\\n"]);
      await using probe = await ProbeOn.open([nginx.pid, curl.pid], { l7_protocol: ["http"], support_ssl: 1 });
      curl.release();
      const { code, out } = await curl.done;
      expect(code).toBe(0);
      const lines = out.trim().split("\n").map((l) => l.split(" "));
      expect(lines.map((l) => l[2])).toEqual(paths.map(() => "2"));
      expect(lines.reduce((a, l) => a + Number(l[3]), 0)).toBe(1); // one connection for all
      // curl's own tally, per API as the probe names them.
      const apis: PeerTally["apis"] = {};
      lines.forEach(([status, total], i) => {
        const api = `GET ${paths[i]!.split("?")[0]}`;
        const a = (apis[api] ??= { count: 0, client: 0, server: 0, latency_sum_ns: 0, latency_max_ns: 0 });
        const s = Number(status);
        const ns = Number(total) * 1e9;
        a.count++;
        if (s >= 400 && s < 500) a.client++;
        if (s >= 500) a.server++;
        a.latency_sum_ns += ns;
        a.latency_max_ns = Math.max(a.latency_max_ns, ns);
      });
      expect(Object.fromEntries(Object.entries(apis).map(([k, a]) => [k, [a.count, a.client, a.server]]))).toEqual({ "GET /ok": [28, 0, 0], "GET /missing": [8, 8, 0], "GET /fail": [4, 0, 4] });
      await probe.run.collect();
      const common = { protocol: "http2", ssl: true, serverPort: nginx.port, apis };
      expectRowsMatch(probe, { tgid: curl.pid, l4Role: "tcp_client", l7Role: "client" }, common);
      expectRowsMatch(probe, { tgid: nginx.pid, l4Role: "tcp_server", l7Role: "server" }, common);
      expectServerInsideClient(probe, nginx.pid, curl.pid);
    },
    120_000,
  );
});

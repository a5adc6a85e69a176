// Per-period statistics of the l7 probe without a kernel: outputs.md §2.4.1 bucket rules,
// upstream's ratios and averages, the listening-port table of a role decision.
import { describe, expect, test } from "bun:test";
import { RpcStats } from "./aggregate.ts";
import { listeningPorts } from "./listeners.ts";
import { ErrorClass, type L7Record } from "./protocol.ts";

const rec = (latency: number, error = ErrorClass.None, noResponse = false): L7Record => ({ api: "x", reqStartNs: 1000, respEndNs: 1000 + latency, reqBytes: 1, respBytes: 1, error, noResponse });

describe("l7 statistics", () => {
  test("a latency on a bound falls in that bucket; zero or past the last bound is counted in no bucket (but in the sums)", () => {
    const s = new RpcStats();
    for (const l of [10e6, 10e6 + 1, 0, 20e9, 3e9]) s.add(rec(l));
    const h = s.histogram();
    expect(h.cumulative).toEqual([1, 2, 2, 2, 2, 3, 3]);
    expect([s.req, s.resp, s.latencySum, h.max]).toEqual([5, 5, 10e6 + 10e6 + 1 + 20e9 + 3e9, 20e9]);
  });

  test("upstream's ratios and averages: per request, two decimals; no-response requests count as requests only", () => {
    const s = new RpcStats();
    s.add(rec(3e6, ErrorClass.Client));
    s.add(rec(5e6, ErrorClass.Server));
    s.add(rec(0, ErrorClass.None, true));
    const f = s.fields(10, true);
    expect(f).toMatchObject({ req_count: 3, resp_count: 2, err_count: 2, client_err_count: 1, server_err_count: 1, throughput_req: "0.30", throughput_resp: "0.20", err_ratio: "0.67", client_err_ratio: "0.33", latency_avg: "2666666.67", latency_sum: 8e6 });
    s.reset();
    expect(s.fields(10, false)).toMatchObject({ req_count: 0, err_ratio: "0.00", latency_avg: "0.00" });
  });

  test("LISTEN rows of /proc/net/tcp and tcp6 give the listening ports", () => {
    const text = [
      "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode",
      "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0000000000000000 100 0 0 10 0",
      "   1: 0100007F:9C40 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0000000000000000 20 4 30 10 -1",
      "   0: 00000000000000000000000001000000:18EB 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 3 1 0",
    ].join("\n");
    expect([...listeningPorts(text)].sort()).toEqual([6379, 8080]);
  });
});

// The l7 probe end to end with real servers and real clients on loopback (root), through
// the probe's run with this build's parsers (src/probes/l7/protocols/index.ts). A test whose
// protocol has no parser registered yet is skipped and says so.
//   * nginx + curl: 300 × 200 and 30 × 404 on ONE keep-alive connection (curl's
//     num_connects says so): req_count 330, err_count 30 on the server side (nginx) and the
//     client side (curl), per-API counts, latencies within what curl measured, bytes equal
//     to curl's own request/response sizes.
//   * redis-server + `redis-cli --pipe` with 1000 SETs: 1001 requests (the closing ECHO) on
//     both sides, bytes exact; redis-benchmark: the client side counts exactly the commands
//     redis-server executed (INFO commandstats).
//   * dnsmasq + glibc's resolver (getent ahosts in a mount namespace whose resolv.conf names
//     dnsmasq): every query dnsmasq logged counted on both ends, per domain, NXDOMAIN as
//     client errors.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { HistogramValue, Row } from "../../store/table.ts";
import { openL7, PARSERS } from "./index.ts";
import { rootPreflight, testContext, TestScope, type TestContext } from "./test-kit.ts";
import { has, held, startDnsmasq, startNginx, startRedisServer } from "./test-servers.ts";

const { can } = rootPreflight("l7 servers.root.test");
function gate(what: string, parser: string, tools: string[]): boolean {
  if (!can) return false;
  const missing = tools.filter((t) => !has(t));
  if (missing.length) console.warn(`l7 servers.root.test: ${what} skipped: ${missing.join(", ")} not installed`);
  else if (!PARSERS.has(parser)) console.warn(`l7 servers.root.test: ${what} skipped: no ${parser} parser registered in src/probes/l7/protocols/index.ts yet`);
  return missing.length === 0 && PARSERS.has(parser);
}
const canHttp = gate("nginx/curl", "http", ["nginx", "curl"]);
const canRedis = gate("redis", "redis", ["redis-server", "redis-cli", "redis-benchmark"]);
const canDns = gate("dnsmasq/getent", "dns", ["dnsmasq", "getent", "unshare", "mount"]);

const tmp = mkdtempSync(join(tmpdir(), "gg-l7-e2e-"));
const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  rmSync(tmp, { recursive: true, force: true });
});

function rows(ctx: TestContext, table: string, tgid: number): Row[] {
  return ctx.rec.rows.filter((r) => r.table === table && r.row.tgid === String(tgid)).map((r) => r.row);
}

/** A context and run of the probe scoped to `pids`, ready once the kernel observes them. */
async function probeOn(pids: number[], protocols: string[]): Promise<{ ctx: TestContext; run: ReturnType<typeof openL7> }> {
  const ctx = testContext({ subitems: ["l7_bytes_metrics", "l7_rpc_metrics"], scope: new TestScope(pids), params: { l7_protocol: protocols } });
  const run = openL7(ctx);
  cleanups.push(async () => {
    await run[Symbol.asyncDispose]();
    // The losses of this run (ring_full: the payload ring had no room), for the record.
    const drops = ctx.dropCounts.snapshot().filter((d) => d.probe === "l7");
    console.log(`l7 servers.root.test: probe on ${protocols.join(",")}: drops ${drops.length ? drops.map((d) => `${d.reason}=${d.value}`).join(" ") : "none"}`);
    ctx.close();
  });
  for (const p of pids) await ctx.inKernelScope(p);
  return { ctx, run };
}

describe("l7 with real servers", () => {
  test.if(canHttp)("nginx + curl keep-alive: 330 requests, 30 errors on both ends, latency within curl's, bytes exact", async () => {
    const nginx = await startNginx({ "index.html": "hello from nginx\n".repeat(20) });
    cleanups.push(async () => await nginx[Symbol.asyncDispose]());
    const urls: string[] = [];
    for (let i = 0; i < 330; i++) urls.push(i % 11 === 10 ? "missing.html" : "index.html");
    const cfg = join(tmp, "curl.cfg");
    writeFileSync(cfg, urls.map((u) => `url = "http://127.0.0.1:${nginx.port}/${u}"\noutput = "/dev/null"\n`).join(""));
    const curl = held(["curl", "-s", "-K", cfg, "-w", "%{http_code} %{time_total} %{size_request} %{size_header} %{size_download} %{num_connects}\\n"]);
    const { ctx, run } = await probeOn([nginx.pid, curl.pid], ["http"]);
    curl.release();
    const { code, out } = await curl.done;
    expect(code).toBe(0);
    const lines = out.trim().split("\n").map((l) => l.split(" ").map(Number));
    expect(lines.length).toBe(330);
    expect(lines.reduce((a, l) => a + l[5]!, 0)).toBe(1); // one connection for all 330
    expect(lines.filter((l) => l[0] === 404).length).toBe(30);
    const curlLatencyNs = lines.map((l) => l[1]! * 1e9);
    const sent = lines.reduce((a, l) => a + l[2]!, 0);
    const recv = lines.reduce((a, l) => a + l[3]! + l[4]!, 0);
    await run.collect();
    for (const [tgid, l4, l7] of [
      [curl.pid, "tcp_client", "client"],
      [nginx.pid, "tcp_server", "server"],
    ] as const) {
      const rpc = rows(ctx, "l7_rpc", tgid);
      expect(rpc.map((r) => [r.l4_role, r.l7_role, r.protocol, r.server_port, r.req_count, r.resp_count, r.err_count])).toEqual([[l4, l7, "http", String(nginx.port), 330, 330, 30]]);
      const h = rpc[0]!.latency as HistogramValue;
      expect(h.max).toBeGreaterThan(0);
      expect(h.max).toBeLessThanOrEqual(Math.max(...curlLatencyNs));
      expect(rpc[0]!.latency_sum as number).toBeLessThanOrEqual(curlLatencyNs.reduce((a, b) => a + b, 0));
      const api = Object.fromEntries(rows(ctx, "l7_rpc_api", tgid).map((r) => [r.api, [r.req_count, r.client_err_count, r.server_err_count]]));
      expect(api).toEqual({ "GET /index.html": [300, 0, 0], "GET /missing.html": [30, 30, 0] });
      const link = rows(ctx, "l7_link", tgid);
      const mine = l7 === "client" ? [sent, recv] : [recv, sent];
      expect(link.map((r) => [r.bytes_sent, r.bytes_recv])).toEqual([mine]);
    }
    // The server saw each request after the client sent it: its latencies are the smaller.
    const server = rows(ctx, "l7_rpc", nginx.pid)[0]!.latency_sum as number;
    const client = rows(ctx, "l7_rpc", curl.pid)[0]!.latency_sum as number;
    expect(server).toBeLessThanOrEqual(client);
  });

  test.if(canRedis)("redis-cli --pipe with 1000 SETs: 1001 requests on both ends, bytes exact", async () => {
    const redis = await startRedisServer();
    cleanups.push(async () => await redis[Symbol.asyncDispose]());
    const cmds = join(tmp, "sets.resp");
    let text = "";
    for (let i = 0; i < 1000; i++) {
      const k = `key:${i}`;
      const v = `value:${i}`;
      text += `*3\r\n$3\r\nSET\r\n$${k.length}\r\n${k}\r\n$${v.length}\r\n${v}\r\n`;
    }
    writeFileSync(cmds, text);
    const cli = held(["redis-cli", "-p", String(redis.port), "--pipe"], cmds);
    const { ctx, run } = await probeOn([redis.pid, cli.pid], ["redis"]);
    cli.release();
    const { code, out } = await cli.done;
    expect(code).toBe(0);
    expect(out).toContain("errors: 0, replies: 1000");
    await run.collect();
    // --pipe ends with "\r\n" (an empty inline line, in case the input lacked its newline)
    // and ECHO of 20 random bytes: *2\r\n$4\r\nECHO\r\n$20\r\n<20>\r\n: 43 bytes, answered $20\r\n<20>\r\n (27).
    const clientSent = Buffer.byteLength(text) + 43;
    const clientRecv = 1000 * "+OK\r\n".length + 27;
    for (const [tgid, l7, bytes] of [
      [cli.pid, "client", [clientSent, clientRecv]],
      [redis.pid, "server", [clientRecv, clientSent]],
    ] as const) {
      expect(rows(ctx, "l7_rpc", tgid).map((r) => [r.l7_role, r.req_count, r.resp_count, r.err_count])).toEqual([[l7, 1001, 1001, 0]]);
      const api = Object.fromEntries(rows(ctx, "l7_rpc_api", tgid).map((r) => [r.api, r.req_count]));
      expect(api).toEqual({ SET: 1000, ECHO: 1 });
      expect(rows(ctx, "l7_link", tgid).map((r) => [r.bytes_sent, r.bytes_recv])).toEqual([[...bytes]]);
    }
  });

  test.if(canRedis)("redis-benchmark: the client side counts exactly the commands redis-server executed", async () => {
    const redis = await startRedisServer();
    cleanups.push(async () => await redis[Symbol.asyncDispose]());
    const bench = held(["redis-benchmark", "-p", String(redis.port), "-n", "2000", "-c", "4", "-t", "set,get", "-q"]);
    const { ctx, run } = await probeOn([bench.pid], ["redis"]);
    bench.release();
    expect((await bench.done).code).toBe(0);
    // INFO commandstats: every command the server executed, but the test's own PING (start-up
    // check) and INFO.
    const stats = Bun.spawnSync(["redis-cli", "-p", String(redis.port), "info", "commandstats"]).stdout.toString();
    const executed = [...stats.matchAll(/^cmdstat_([a-z|]+):calls=(\d+)/gm)].filter((m) => m[1] !== "ping" && m[1] !== "info").reduce((a, m) => a + Number(m[2]), 0);
    await run.collect();
    const rpc = rows(ctx, "l7_rpc", bench.pid);
    expect(rpc.reduce((a, r) => a + (r.req_count as number), 0)).toBe(executed);
    expect(executed).toBeGreaterThanOrEqual(4000);
  });

  test.if(canDns)("dnsmasq + glibc resolver: every logged query on both ends, per domain, NXDOMAIN as errors", async () => {
    await using dns = await startDnsmasq({ "good.test": ["10.0.0.1", "fd00::1"], "other.test": ["10.0.0.2", "fd00::2"] });
    const names = [...Array(10).fill("good.test"), ...Array(5).fill("other.test"), ...Array(4).fill("missing.test")];
    const client = held(["unshare", "-m", "sh", "-c", `mount --bind '${dns.resolvConf}' /etc/resolv.conf && exec getent ahosts ${names.join(" ")}`]);
    const { ctx, run } = await probeOn([dns.pid, client.pid], ["dns"]);
    client.release();
    const { code } = await client.done;
    expect(code).toBe(2); // getent: some keys (missing.test) were not found
    await Bun.sleep(200);
    const log = dns.log();
    const queries = [...log.matchAll(/query\[(A|AAAA)\] (\S+) from/g)].map((m) => m[2]!);
    const misses = [...log.matchAll(/config (\S+) is NXDOMAIN/g)].map((m) => m[1]!);
    expect(queries.length).toBe(2 * names.length); // A and AAAA per name
    await run.collect();
    for (const [tgid, l7] of [
      [client.pid, "client"],
      [dns.pid, "server"],
    ] as const) {
      const rpc = rows(ctx, "l7_rpc", tgid);
      const sum = (f: string) => rpc.reduce((a, r) => a + (r[f] as number), 0);
      expect(new Set(rpc.map((r) => `${r.l4_role} ${r.l7_role} ${r.protocol} ${r.server_port}`))).toEqual(new Set([`udp ${l7} dns 53`]));
      expect([sum("req_count"), sum("resp_count"), sum("err_count")]).toEqual([queries.length, queries.length, misses.length]);
      const api = new Map<string, number[]>();
      for (const r of rows(ctx, "l7_rpc_api", tgid)) {
        const a = api.get(r.api as string) ?? [0, 0];
        api.set(r.api as string, [a[0]! + (r.req_count as number), a[1]! + (r.client_err_count as number)]);
      }
      const count = (n: string, xs: string[]) => xs.filter((x) => x === n).length;
      expect(Object.fromEntries(api)).toEqual(Object.fromEntries(["good.test", "other.test", "missing.test"].map((n) => [n, [count(n, queries), count(n, misses)]])));
    }
  });
});

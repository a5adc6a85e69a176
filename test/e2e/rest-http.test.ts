// The REST API over real HTTP(S): transport rules, a fuzz of malformed bodies, and
// TLS 1.3 / mutual TLS with a real OpenSSL client (curl).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { startAgent, type RunningAgent } from "../../src/daemon.ts";
import { agentFiles, rmrf, tempDir, which, type AgentFiles } from "../harness.ts";

const OK = '{ "result": "success", "message":"New config takes effect" }\n';

let files: AgentFiles;
let agent: RunningAgent;
let base: string;

beforeAll(async () => {
  files = await agentFiles();
  agent = await startAgent(
    { configPath: files.conf, configPathGiven: true, probesInit: files.probesInit, saveProbes: false, runDir: files.runDir },
    { GOPHER_LOG_STDERR: "0" },
  );
  base = `http://127.0.0.1:${agent.restPort}`;
});
afterAll(async () => {
  await agent.stop();
  rmrf(files.dir);
});

async function req(method: string, path: string, body?: string | Uint8Array) {
  const r = await fetch(base + path, { method, body });
  return { status: r.status, body: await r.text(), headers: r.headers };
}

describe("REST transport", () => {
  test("GET unknown feature and / → 404 url not found; never-configured → {}", async () => {
    expect(await req("GET", "/nosuch")).toMatchObject({ status: 404, body: '{ "result": "failed", "message":"url not found" }\n' });
    expect((await req("GET", "/")).status).toBe(404);
    expect((await req("GET", "/tcp/")).status).toBe(404);
    const never = await req("GET", "/flamegraph?x=1");
    expect(never.body).toBe("{}\n");
    expect(never.headers.get("content-type")).toStartWith("application/json");
  });

  test("PUT: upstream form, URL-encoded form, raw JSON; names case-insensitive", async () => {
    expect((await req("PUT", "/Baseinfo", 'json={"cmd":{"probe":["cpu"]}}')).body).toBe(OK);
    expect((await req("PUT", "/baseinfo", `json=${encodeURIComponent('{"params":{"report_period":7}}')}`)).body).toBe(OK);
    expect((await req("PUT", "/baseinfo", '{"params":{"report_event":1}}')).body).toBe(OK);
    const doc = JSON.parse((await req("GET", "/BASEINFO")).body);
    expect(doc.cmd.probe).toEqual(["cpu"]);
    expect(doc.params.report_period).toBe(7);
    expect(doc.params.report_event).toBe(1);
  });

  test("error texts: prefix, size, unknown probe, PUT /", async () => {
    expect((await req("PUT", "/baseinfo", "xjson={}")).body).toBe('{ "result": "failed", "message":"put data must start with json=" }\n');
    expect((await req("PUT", "/baseinfo", "json=" + "x".repeat(1_048_576))).body).toBe('{ "result": "failed", "message":"put data size exceeds 1048576" }\n');
    expect(await req("PUT", "/nosuch", 'json={"state":"running"}')).toMatchObject({ status: 400, body: '{ "result": "failed", "message":"invalid probe name nosuch" }\n' });
    expect((await req("PUT", "/", 'json={"state":"running"}')).status).toBe(404);
  });

  test("other methods → 405 with Allow and the JSON envelope", async () => {
    for (const m of ["DELETE", "PATCH", "OPTIONS"]) {
      const r = await req(m, "/tcp");
      expect(r.status).toBe(405);
      expect(r.headers.get("allow")).toBe("GET, PUT, POST");
      expect(JSON.parse(r.body).result).toBe("failed");
    }
  });

  test("legacy POST form is translated", async () => {
    const r = await req("POST", "/tcp", JSON.stringify({ cmd: { bin: "/x" }, probes: { probe: ["tcp_rtt"], proc_id: [1] }, params: { report_period: 9 } }));
    expect(r.body).toBe(OK);
    const doc = JSON.parse((await req("GET", "/tcp")).body);
    expect(doc.cmd.probe).toEqual(["tcp_rtt"]);
    expect(doc.snoopers.proc_id).toEqual([1]);
    expect(doc.params.report_period).toBe(9);
  });

  test("10,000 malformed bodies: always 4xx/200 with the envelope, never 5xx; the agent still answers correctly", async () => {
    let seed = 12345;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
    const values = ["1", "-1", "1e308", "-9223372036854775808", "true", "null", '"x"', "[]", "{}", '"\\u0000"', "[[[[[[[[", '{"a":', "0.5"];
    const keys = ["cmd", "snoopers", "blacklist", "params", "state", "probe", "proc_id", "report_period", "custom_labels", ""];
    const gen = (): string | Uint8Array => {
      switch (Math.floor(rnd() * 6)) {
        case 0: {
          const b = new Uint8Array(Math.floor(rnd() * 200));
          for (let i = 0; i < b.length; i++) b[i] = Math.floor(rnd() * 256);
          return b;
        }
        case 1:
          return `json={"${pick(keys)}":{"${pick(keys)}":${pick(values)}}}`;
        case 2:
          return `json=${"[".repeat(Math.floor(rnd() * 5000))}`;
        case 3:
          return `json={"params":{"${pick(["report_period", "sample_period", "latency_thr", "ringbuf_map_size", "l7_protocol", "dev_name"])}":${pick(values)}}}`;
        case 4:
          return `json={"snoopers":{"${pick(["proc_id", "proc_name", "pod_id", "container_id", "container_name", "custom_labels"])}":[${pick(values)}]}}`;
        default:
          return `json={"state":${pick(values)},"cmd":{"probe":[${pick(values)}]}}`;
      }
    };
    const features = ["baseinfo", "tcp", "l7", "io", "flamegraph", "nosuch", "TCP"];
    const statuses = new Map<number, number>();
    const N = 10_000;
    for (let i = 0; i < N; i += 50) {
      const batch = await Promise.all(
        Array.from({ length: 50 }, async () => {
          const r = await fetch(`${base}/${pick(features)}`, { method: "PUT", body: gen() });
          const text = await r.text();
          if (r.status >= 500) throw new Error(`HTTP ${r.status}: ${text}`);
          expect(text).toMatch(/^\{ "result": "(success|failed)", "message":".*" \}\n$/s);
          return r.status;
        }),
      );
      for (const s of batch) statuses.set(s, (statuses.get(s) ?? 0) + 1);
    }
    // 2 MiB body (beyond the limit) and a deep nest at the limit.
    expect((await req("PUT", "/tcp", "json=" + "{".repeat(2 * 1024 * 1024))).status).toBe(400);
    console.log(`fuzz: ${N} bodies, statuses ${JSON.stringify(Object.fromEntries(statuses))}`);
    // Still correct afterwards.
    expect((await req("PUT", "/virt", 'json={"params":{"report_period":11}}')).body).toBe(OK);
    expect(JSON.parse((await req("GET", "/virt")).body).params.report_period).toBe(11);
    expect((await fetch(`http://127.0.0.1:${agent.metricsPort}/healthz`)).status).toBe(200);
  });
});

const haveTools = which("openssl") !== undefined && which("curl") !== undefined;
if (!haveTools) console.warn("skipping TLS tests: openssl or curl is not installed");

describe.if(haveTools)("REST over HTTPS", () => {
  let dir: string;
  let tlsFiles: AgentFiles;
  let tlsAgent: RunningAgent;
  const sh = (cmd: string) => {
    const p = Bun.spawnSync(["sh", "-c", cmd], { cwd: dir });
    if (p.exitCode !== 0) throw new Error(`${cmd}: ${p.stderr}`);
  };
  // Async: the agent runs in this process, so a synchronous spawn would block its server.
  const curl = async (args: string) => {
    const p = Bun.spawn(["sh", "-c", `curl -sS --max-time 5 ${args}`], { cwd: dir, stdout: "pipe", stderr: "pipe" });
    const [stdout, stderr, exitCode] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    return { stdout, stderr, exitCode };
  };

  beforeAll(async () => {
    dir = tempDir("gg-tls-");
    const subj = (cn: string) => `-subj /CN=${cn}`;
    sh(`openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 ${subj("test-ca")} 2>/dev/null`);
    sh(`openssl req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr ${subj("localhost")} 2>/dev/null`);
    sh(`printf 'subjectAltName=IP:127.0.0.1,DNS:localhost' > san.ext && openssl x509 -req -in srv.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out srv.crt -days 2 -extfile san.ext 2>/dev/null`);
    sh(`openssl req -newkey rsa:2048 -nodes -keyout cli.key -out cli.csr ${subj("client")} 2>/dev/null`);
    sh(`openssl x509 -req -in cli.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out cli.crt -days 2 2>/dev/null`);
    tlsFiles = await agentFiles();
    tlsAgent = await startAgent(
      { configPath: tlsFiles.conf, configPathGiven: true, probesInit: tlsFiles.probesInit, saveProbes: false, runDir: tlsFiles.runDir },
      {
        GOPHER_LOG_STDERR: "0",
        GOPHER_REST_AUTH: "yes",
        GOPHER_REST_PRIVATE_KEY: join(dir, "srv.key"),
        GOPHER_REST_CERT: join(dir, "srv.crt"),
        GOPHER_REST_CAFILE: join(dir, "ca.crt"),
      },
    );
  });
  afterAll(async () => {
    await tlsAgent.stop();
    rmrf(dir);
    rmrf(tlsFiles.dir);
  });

  test("mutual TLS 1.3: a client with a CA-signed certificate is served", async () => {
    const p = await curl(`--cacert ca.crt --cert cli.crt --key cli.key https://127.0.0.1:${tlsAgent.restPort}/baseinfo`);
    expect(p.stderr).toBe("");
    expect(p.stdout).toBe("{}\n");
  });

  test("no client certificate → refused", async () => {
    const p = await curl(`--cacert ca.crt https://127.0.0.1:${tlsAgent.restPort}/baseinfo`);
    expect(p.stdout).toBe("");
    expect(p.exitCode).not.toBe(0);
  });

  test("TLS 1.2 and below → refused", async () => {
    const p = await curl(`--tls-max 1.2 --cacert ca.crt --cert cli.crt --key cli.key https://127.0.0.1:${tlsAgent.restPort}/baseinfo`);
    expect(p.exitCode).not.toBe(0);
  });

  test("plain HTTP on the TLS port gets no API answer", async () => {
    const r = await fetch(`http://127.0.0.1:${tlsAgent.restPort}/baseinfo`).then(
      (x) => x.text(),
      () => "refused",
    );
    expect(r).not.toBe("{}\n");
  });
});

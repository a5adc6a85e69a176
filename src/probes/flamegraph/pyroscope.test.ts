// Pyroscope /ingest pushes against a local HTTP server: the URL upstream builds (name,
// from, until, units, sampleRate), the folded body, and failures reported, not thrown.
import { describe, expect, test } from "bun:test";
import { ingestUrl, pushFolded, pyroscopeServerError } from "./pyroscope.ts";

describe("pyroscope push", () => {
  test("URL as upstream: name per type (and per process), seconds, sampleRate from perf_sample_period", () => {
    const from = new Date(1_700_000_000_000);
    const until = new Date(1_700_000_030_999);
    expect(ingestUrl({ server: "pyro:4040", type: "oncpu", from, until, samplePeriodMs: 10, body: "" })).toBe(
      "http://pyro:4040/ingest?name=gala-gopher-oncpu&from=1700000000&until=1700000030&units=samples&sampleRate=100",
    );
    expect(ingestUrl({ server: "pyro:4040", type: "offcpu", pid: 42, from, until, samplePeriodMs: 10, body: "" })).toContain("name=gala-gopher-offcpu.42&");
  });

  test("the body is the folded text; an HTTP error and a refused connection come back as errors", async () => {
    const got: { url: string; body: string }[] = [];
    using server = Bun.serve({
      port: 0,
      async fetch(req) {
        got.push({ url: req.url, body: await req.text() });
        return new Response("", { status: got.length === 1 ? 200 : 500 });
      },
    });
    const r = { server: `127.0.0.1:${server.port}`, type: "oncpu" as const, from: new Date(), until: new Date(), samplePeriodMs: 20, body: "[1]a;main;f 3\n" };
    expect(await pushFolded(r)).toBeUndefined();
    expect(got[0]!.body).toBe("[1]a;main;f 3\n");
    expect(new URL(got[0]!.url).searchParams.get("sampleRate")).toBe("50");
    expect(await pushFolded(r)).toBe("HTTP 500");
    server.stop(true);
    expect(await pushFolded(r)).toBeString();
  });

  test("server values are checked", () => {
    expect(pyroscopeServerError("localhost:4040")).toBeUndefined();
    expect(pyroscopeServerError("localhost")).toMatch(/expected host:port/);
    expect(pyroscopeServerError("h:99999")).toMatch(/invalid port/);
    expect(pyroscopeServerError("h/x:80")).toMatch(/unexpected characters/);
  });
});

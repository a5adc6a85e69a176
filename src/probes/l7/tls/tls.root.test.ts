// bpf/l7/tls.h against real TLS peers, through a test object that stands in for the l7 core's
// capture.h (testdata/tlstest.bpf.c): nginx (OpenSSL 3) serving curl over one keep-alive
// connection, and a stripped Go crypto/tls client and server. The plaintext each side's
// uprobes see must be byte for byte what the other side's saw in the other direction, the
// requests must be the ones sent, and every record's fd must be a socket the process accepted
// or created (seen by the syscall tracepoints).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { ensureBpf } from "../../../../scripts/bpf.ts";
import { detectFeatures } from "../../../host/features.ts";
import { bpfObjectBytes } from "../../../libbpf/assets.ts";
import { BpfObject } from "../../../libbpf/object.ts";
import { goBuild, goPath } from "../../../libbpf/testdata/go.ts";
import { HostFs } from "../../../host/fs.ts";
import { TlsUprobes } from "./attach.ts";
import { TlsFollower } from "./follow.ts";
import { TlsCapture } from "./testdata/capture.ts";
import { ccPath } from "../../../libbpf/testdata/cc.ts";
import { buildTlsClient, run, startGoTlsServer, startNginxTls, startWaitingTlsClient, type TlsClientBuild } from "./testdata/servers.ts";

const root = process.getuid?.() === 0;
let why = root ? "" : "not root";
if (root) {
  try {
    ensureBpf({ quiet: true });
    const f = detectFeatures();
    why = f.bpfUnavailable() ?? (f.attach.uprobe.ok ? "" : `uprobes unavailable: ${f.attach.uprobe.reason}`);
  } catch (e) {
    why = (e as Error).message;
  }
}
const can = root && !why;
if (!can) console.warn(`tls.root.test: skipped: ${why}`);
const host = new HostFs({ procfs: "/proc", sysfs: "/sys", rootfs: "/" });
const missing = (cmds: string[]) => cmds.filter((c) => !Bun.which(c));
const nginxWhy = missing(["nginx", "curl", "openssl"]);
if (can && nginxWhy.length) console.warn(`tls.root.test: the nginx test is skipped: ${nginxWhy.join(", ")} not installed`);
if (can && !goPath()) console.warn("tls.root.test: the Go test is skipped: no go toolchain");
const cc = ccPath();
const clientWhy = nginxWhy.length ? `${nginxWhy.join(", ")} not installed` : !cc ? "no C compiler" : "";
if (can && clientWhy) console.warn(`tls.root.test: the OpenSSL client tests are skipped: ${clientWhy}`);

/** A python3 whose ssl module loads libssl (the follower test's late dlopen). */
const pythonSsl = !!Bun.which("python3") && Bun.spawnSync(["python3", "-c", "import ssl"]).exitCode === 0;
if (can && !pythonSsl) console.warn("tls.root.test: the follower test is skipped: no python3 with its ssl module");
const buildScript = join(import.meta.dir, "testdata", "openssl", "build-1.1.sh");
/** Why OpenSSL 1.1.1 cannot be built here (a tool missing, the registry refusing), or "". */
function openssl11Why(): string {
  if (!can || clientWhy) return clientWhy || why;
  const r = Bun.spawnSync(["bash", buildScript, "--check"], { stderr: "pipe" });
  return r.exitCode === 0 ? "" : r.stderr.toString().trim() || `build-1.1.sh --check exited with ${r.exitCode}`;
}
const ossl11Why = openssl11Why();
if (can && ossl11Why) console.warn(`tls.root.test: the OpenSSL 1.1.1 test is skipped: ${ossl11Why}`);

/** Builds OpenSSL 1.1.1 (minutes the first time, then cached); returns its prefix. */
function buildOpenssl11(): string {
  const r = Bun.spawnSync(["bash", buildScript], { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`build-1.1.sh exited with ${r.exitCode}: ${r.stderr.toString()}`);
  return r.stdout.toString().trim().split("\n").pop()!;
}

describe.if(can)("TLS plaintext uprobes", () => {
  let obj: BpfObject;
  let cap: TlsCapture;
  beforeAll(() => {
    obj = BpfObject.open(bpfObjectBytes("tlstest"), { name: "tlstest" });
    obj.load();
    for (const p of ["tt_write", "tt_read", "tt_sendto", "tt_recvfrom", "tt_sendmsg", "tt_recvmsg", "tt_writev", "tt_readv", "tt_accept4", "tt_accept", "tt_socket"]) obj.own(obj.program(p).attach());
    cap = new TlsCapture(obj);
  });
  afterAll(() => {
    cap?.[Symbol.dispose]();
    obj?.[Symbol.dispose]();
  });

  test.if(nginxWhy.length === 0)("nginx (OpenSSL 3) and curl over one keep-alive connection: each side's plaintext is the other's", async () => {
    await using nginx = await startNginxTls();
    using tls = new TlsUprobes(obj, host, 16);
    const added = tls.addProcess(nginx.pid);
    expect(added.errors).toEqual([]);
    expect(added.attached.map((c) => `${c.kind} ${c.path.replace(/.*\//, "")}`)).toEqual(["openssl libssl.so.3"]);
    const base = `https://127.0.0.1:${nginx.port}`;
    const curl = await run(["curl", "-sk", "--http1.1", `${base}/tls-a`, `${base}/tls-b?q=1`, `${base}/missing`]);
    expect(curl.stdout).toStartWith("hello /tls-a\nhello /tls-b\n");
    const sent = () => cap.stream(curl.pid, "send");
    await cap.until(() => (cap.stream(nginx.pid, "recv").length >= sent().length && sent().length > 0 && cap.stream(curl.pid, "recv").length >= cap.stream(nginx.pid, "send").length && cap.stream(nginx.pid, "send").includes("404")));
    const requests = sent().split("\r\n\r\n").filter(Boolean);
    expect(requests.map((r) => r.split("\r\n")[0])).toEqual(["GET /tls-a HTTP/1.1", "GET /tls-b?q=1 HTTP/1.1", "GET /missing HTTP/1.1"]);
    expect(cap.stream(nginx.pid, "recv")).toBe(sent());
    const responses = cap.stream(nginx.pid, "send");
    expect([...responses.matchAll(/^HTTP\/1\.1 \d+/gm)].map((m) => m[0])).toEqual(["HTTP/1.1 200", "HTTP/1.1 200", "HTTP/1.1 404"]);
    expect(cap.stream(curl.pid, "recv")).toBe(responses);
    cap.expectSocketsAndSsl([nginx.pid, curl.pid]);
  }, 60_000);

  test.if(!!goPath())("a stripped Go client and server (crypto/tls): each side's plaintext is the other's", async () => {
    const exe = goBuild(join(import.meta.dir, "testdata", "gotls"), "gotls", ["-ldflags=-s -w"]);
    await using srv = await startGoTlsServer(exe);
    using tls = new TlsUprobes(obj, host, 16);
    const added = tls.addProcess(srv.pid);
    expect(added.errors).toEqual([]);
    expect(added.attached.map((c) => c.kind)).toEqual(["go"]);
    const n = 20;
    const client = await run([exe, "client", `https://127.0.0.1:${srv.port}`, String(n)]);
    expect(client.stdout).toBe(`ok ${n}\n`);
    const sent = () => cap.stream(client.pid, "send");
    await cap.until(() => sent().length > 0 && cap.stream(srv.pid, "recv").length >= sent().length && cap.stream(client.pid, "recv").length >= cap.stream(srv.pid, "send").length && (sent().match(/^GET /gm)?.length ?? 0) === n);
    expect([...sent().matchAll(/^GET \S+ HTTP\/1\.1$/gm)].map((m) => m[0])).toEqual(Array.from({ length: n }, (_, i) => `GET /go-${i} HTTP/1.1`));
    expect(cap.stream(srv.pid, "recv")).toBe(sent());
    const responses = cap.stream(srv.pid, "send");
    expect([...responses.matchAll(/^hello \S+$/gm)].map((m) => m[0])).toEqual(Array.from({ length: n }, (_, i) => `hello /go-${i}`));
    expect(cap.stream(client.pid, "recv")).toBe(responses);
    cap.expectSocketsAndSsl([srv.pid, client.pid]);
    expect(cap.stats().TLS_GO_NO_FD).toBe(0);
  }, 120_000);

  // The client's plaintext against nginx's: the _ex calls (OpenSSL 3 shared), OpenSSL linked
  // into the executable (static libssl.a: the executable itself is probed), and OpenSSL 1.1.1.
  const clients: { name: string; build: () => TlsClientBuild; file: RegExp; skip: string }[] = [
    { name: "OpenSSL 3 shared, SSL_write_ex/SSL_read_ex", build: () => ({ kind: "shared-ex" }), file: /libssl\.so\.3$/, skip: clientWhy },
    { name: "OpenSSL 3 linked statically into the executable", build: () => ({ kind: "static" }), file: /tlsclient-static$/, skip: clientWhy },
    { name: "OpenSSL 1.1.1 (built from the openssl-src crate), SSL_write_ex/SSL_read_ex", build: () => ({ kind: "openssl11", prefix: buildOpenssl11() }), file: /libssl\.so\.1\.1$/, skip: ossl11Why },
  ];
  for (const c of clients) {
    test.if(!c.skip)(`a C client on ${c.name}: its plaintext is nginx's`, async () => {
      const b = c.build();
      const exe = buildTlsClient(cc!, b);
      await using nginx = await startNginxTls();
      using tls = new TlsUprobes(obj, host, 16);
      expect(tls.addProcess(nginx.pid).errors).toEqual([]);
      const client = await startWaitingTlsClient(exe, nginx.port, 10, "/c-");
      try {
        const added = tls.addProcess(client.pid);
        expect(added.errors).toEqual([]);
        expect(tls.probed.openssl).toBe(b.kind === "shared-ex" ? 1 : 2);
        expect(added.attached.map((a) => a.path)).toEqual(b.kind === "shared-ex" ? [] : [expect.stringMatching(c.file)]);
        expect(await client.go()).toBe("ok 10\n");
      } finally {
        client.kill();
      }
      const sent = () => cap.stream(client.pid, "send");
      await cap.until(() => (sent().match(/^GET /gm)?.length ?? 0) === 10 && cap.stream(nginx.pid, "recv").length >= sent().length && cap.stream(client.pid, "recv").length >= cap.stream(nginx.pid, "send").length);
      expect([...sent().matchAll(/^GET \S+/gm)].map((m) => m[0])).toEqual(Array.from({ length: 10 }, (_, i) => `GET /c-${i}`));
      expect(cap.stream(nginx.pid, "recv")).toBe(sent());
      expect(cap.stream(client.pid, "recv")).toBe(cap.stream(nginx.pid, "send"));
      expect([...cap.stream(client.pid, "recv").matchAll(/^hello \S+$/gm)].map((m) => m[0])).toEqual(Array.from({ length: 10 }, (_, i) => `hello /c-${i}`));
      cap.expectSocketsAndSsl([nginx.pid, client.pid]);
    }, 900_000);
  }

  test.if(nginxWhy.length === 0 && pythonSsl)("the follower probes the processes in scope, drops those that leave, and finds a libssl loaded later", async () => {
    await using nginx = await startNginxTls();
    // python3 loads libssl only when it imports ssl (after the first byte on stdin).
    const py = Bun.spawn(["python3", "-c", "import sys; print('up', flush=True); sys.stdin.read(1); import ssl; print('ssl', flush=True); sys.stdin.read(1)"], { stdin: "pipe", stdout: "pipe" });
    const lines = py.stdout.getReader();
    let buffered = "";
    const line = async () => {
      while (!buffered.includes("\n")) {
        const { value, done } = await lines.read();
        if (done) throw new Error("python3 exited");
        buffered += new TextDecoder().decode(value);
      }
      const l = buffered.slice(0, buffered.indexOf("\n") + 1);
      buffered = buffered.slice(l.length);
      return l;
    };
    try {
      expect(await line()).toBe("up\n");
      let now = 1_000_000;
      const warnings: string[] = [];
      using follower = new TlsFollower(obj, { host, maxFiles: 16, warn: (t) => void warnings.push(t), rescanMs: 30_000, now: () => now, listPids: () => [] });
      const scope = (pids: number[]) => ({ wholeHost: false, includes: (p: number) => pids.includes(p), pids: () => new Set(pids) });
      follower.follow(scope([nginx.pid, py.pid]));
      expect(follower.counts).toEqual({ openssl: 1, go: 0, processes: 2 });
      py.stdin.write("x");
      py.stdin.flush();
      expect(await line()).toBe("ssl\n");
      follower.follow(scope([py.pid])); // nginx left; python not rescanned yet
      expect(follower.counts).toEqual({ openssl: 0, go: 0, processes: 1 });
      now += 30_000;
      follower.follow(scope([py.pid]));
      expect(follower.counts).toEqual({ openssl: 1, go: 0, processes: 1 });
      follower.follow(scope([]));
      expect(follower.counts).toEqual({ openssl: 0, go: 0, processes: 0 });
      // Whole host: the pids come from /proc, the scope says which count.
      using whole = new TlsFollower(obj, { host, maxFiles: 16, warn: (t) => void warnings.push(t), listPids: () => host.list(host.proc()).map(Number).filter((p) => p > 0) });
      whole.follow({ wholeHost: true, includes: (p: number) => p === nginx.pid || p === py.pid, pids: () => new Set<number>() });
      expect(whole.counts).toEqual({ openssl: 1, go: 0, processes: 2 });
      expect(warnings).toEqual([]);
    } finally {
      py.kill(9);
    }
  }, 60_000);
});

// A listener that existed before the probe started, in another network namespace: the
// first collection finds it (the socket walk sees every namespace), its passive opens are
// attributed from then on, and its listendrop summed over the periods equals its own drop
// count as `ss` in that namespace shows it. Skipped with the reason when not root, when
// the kernel cannot run the probe, or without `ip`/`ss` (iproute2).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { ProbeRun } from "../../probe/define.ts";
import type { Row } from "../../store/table.ts";
import socket from "./index.ts";
import { Proc, rootPreflight, testContext, TestScope } from "./test-kit.ts";

const { can, bin } = rootPreflight("socket netns.root.test");
const hasIp = can && Bun.spawnSync(["sh", "-c", "command -v ip && command -v ss"]).exitCode === 0;
if (can && !hasIp) console.warn("socket netns.root.test: skipped: no `ip` or `ss` command (apt-get install iproute2)");

const NS = `ggsock${process.pid % 10000}`;
const procs: Proc[] = [];
let run: ProbeRun | undefined;
let close: (() => void) | undefined;

function sh(cmd: string): void {
  const r = Bun.spawnSync(["sh", "-c", cmd], { stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`${cmd}: ${r.stderr.toString()}`);
}

/** `ip netns exec` runs the program in the same process (exec after setns): the pid is sockgen's. */
function inNs(args: string[]): Proc {
  const p = new Proc(["ip", "netns", "exec", NS, bin, ...args]);
  procs.push(p);
  return p;
}

function ssDropsInNs(port: number): number {
  const out = Bun.spawnSync(["ip", "netns", "exec", NS, "ss", "-ltnmH", `sport = :${port}`]).stdout.toString();
  const m = /skmem:\([^)]*\bd(\d+)\)/.exec(out);
  if (!m) throw new Error(`ss in ${NS} shows no listener on ${port}: ${out}`);
  return Number(m[1]);
}

const sum = (rs: Row[], field: string) => rs.reduce((n, r) => n + (r[field] as number), 0);

describe("socket probe in another network namespace (root)", () => {
  beforeAll(() => {
    if (!hasIp) return;
    Bun.spawnSync(["sh", "-c", `ip netns del ${NS} 2>/dev/null`]);
    sh(`ip netns add ${NS} && ip netns exec ${NS} ip link set lo up`);
  });
  afterAll(async () => {
    for (const p of procs) p.kill();
    await run?.[Symbol.asyncDispose]();
    close?.();
    Bun.spawnSync(["sh", "-c", `ip netns del ${NS} 2>/dev/null`]);
  });

  test.if(hasIp)("a listener opened before the probe, in another netns: found at the first collection; listendrop summed over periods = the change of its d<N>", async () => {
    const server = inNs(["listen", "1"]);
    server.send();
    const port = Number((await server.waitFor(/listening (\d+)/))[1]);
    // Drops before the probe exists are not reported: make some.
    const early = inNs(["flood", String(port), "10"]);
    early.send();
    await early.waitFor(/connecting 10/);
    await Bun.sleep(300);
    early.kill();
    await early.proc.exited;
    const before = ssDropsInNs(port);
    expect(before).toBeGreaterThan(0);

    const scope = new TestScope([server.pid]);
    const ctx = testContext({ subitems: ["tcp_socket"], scope });
    close = () => ctx.close();
    run = await socket.open(ctx);
    await run.collect();
    const mine = (r: Row) => r.tgid === String(server.pid) && r.server_port === String(port);
    const first = ctx.rec.rows.filter((r) => r.table === "endpoint_tcp" && mine(r.row) && r.row.client_ip === "0.0.0.0");
    expect(first.length).toBe(1); // found at start
    expect(first[0]!.row.listendrop).toBe(0); // its earlier drops are not this period's
    ctx.rec.rows.length = 0;

    // The early flood's two connections filled the accept queue: every new SYN is dropped.
    const flood = inNs(["flood", String(port), "30"]);
    flood.send();
    await flood.waitFor(/connecting 30/);
    await Bun.sleep(1500);
    await run.collect();
    flood.kill();
    await flood.proc.exited;
    await Bun.sleep(200);
    await run.collect();
    const listener = ctx.rec.rows.filter((r) => r.table === "endpoint_tcp" && mine(r.row) && r.row.client_ip === "0.0.0.0").map((r) => r.row);
    expect(listener.length).toBe(2);
    expect(sum(listener, "listendrop")).toBe(ssDropsInNs(port) - before);
    expect(sum(listener, "listendrop")).toBeGreaterThan(0);
    server.send("exit");
  }, 30_000);

  test.if(hasIp)("passive opens on a listener opened before the probe are attributed to its process", async () => {
    const server = inNs(["listen", "8"]);
    server.send();
    const port = Number((await server.waitFor(/listening (\d+)/))[1]);
    const scope = new TestScope([server.pid]);
    const ctx = testContext({ subitems: ["tcp_socket"], scope });
    const probe = await socket.open(ctx);
    try {
      await probe.collect(); // adopts the listener: the kernel did not see its listen()
      ctx.rec.rows.length = 0;
      const clients = inNs(["flood", String(port), "5"]);
      clients.send();
      await clients.waitFor(/connecting 5/);
      await Bun.sleep(300);
      await probe.collect();
      const passive = ctx.rec.rows.filter((r) => r.table === "endpoint_tcp" && r.row.tgid === String(server.pid) && r.row.client_ip === "127.0.0.1").map((r) => r.row);
      expect(sum(passive, "passive_open")).toBe(5);
      expect(passive.every((r) => r.server_port === String(port) && r.role === "server")).toBe(true);
    } finally {
      await probe[Symbol.asyncDispose]();
      ctx.close();
      server.send("exit");
    }
  }, 30_000);
});

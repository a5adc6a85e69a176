// BPF iterators against the running kernel: iter/tcp and iter/udp walk the sockets a C
// fixture opened (three listeners, one flooded past its backlog of 1, and a UDP socket);
// ports, states, backlogs and the flooded listener's drop count must equal what `ss` reports.
import { describe, expect, test } from "bun:test";
import { ensureBpf } from "../../scripts/bpf.ts";
import { detectFeatures } from "../host/features.ts";
import { bpfObjectBytes } from "./assets.ts";
import { BpfError } from "./errors.ts";
import { IterOutputTooLarge, readIter } from "./iter.ts";
import { BpfObject } from "./object.ts";
import { ccPath, compileTestProgram } from "./testdata/cc.ts";

const root = process.getuid?.() === 0;
let why = root ? "" : "not root";
if (root) {
  try {
    ensureBpf({ quiet: true });
    why = detectFeatures().bpfUnavailable() ?? (ccPath() ? "" : "no C compiler for the socket fixture");
    if (!why && !Bun.which("ss")) why = "ss (iproute2) not installed";
  } catch (e) {
    why = (e as Error).message;
  }
}
const can = root && !why;
if (!can) console.warn(`iter.root.test: skipped: ${why}`);

/** testdata/sockiter.bpf.c `struct sock_rec` (40 bytes). */
interface SockRec {
  family: number;
  state: number;
  proto: number;
  full: boolean;
  sport: number;
  dport: number;
  drops: number;
  ackBacklog: number;
  maxAckBacklog: number;
}
function decode(b: Uint8Array): SockRec[] {
  expect(b.length % 40).toBe(0);
  const d = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const out: SockRec[] = [];
  for (let o = 0; o < b.length; o += 40) {
    out.push({
      family: d.getUint16(o, true),
      state: d.getUint8(o + 2),
      proto: d.getUint8(o + 3),
      full: d.getUint8(o + 4) === 1,
      sport: d.getUint16(o + 8, true),
      dport: d.getUint16(o + 10, true),
      drops: d.getUint32(o + 12, true),
      ackBacklog: d.getUint32(o + 16, true),
      maxAckBacklog: d.getUint32(o + 20, true),
    });
  }
  return out;
}

const TCP_STATES: Record<string, number> = { ESTAB: 1, "SYN-SENT": 2, "SYN-RECV": 3, "FIN-WAIT-1": 4, "FIN-WAIT-2": 5, "TIME-WAIT": 6, UNCONN: 7, "CLOSE-WAIT": 8, "LAST-ACK": 9, LISTEN: 10, CLOSING: 11 };
const ss = (args: string[]) => Bun.spawnSync(["ss", ...args]).stdout.toString().trim();

describe("BPF iterators", () => {
  test.if(can)("iter/tcp and iter/udp report exactly the fixture's sockets, backlogs and drops as ss does", async () => {
    const exe = compileTestProgram("socks");
    const child = Bun.spawn([exe, "30"], { stdin: "pipe", stdout: "pipe" });
    try {
      const reader = child.stdout.getReader();
      const first = new TextDecoder().decode((await reader.read()).value);
      const m = /^tcp (\d+) (\d+) (\d+) udp (\d+)/.exec(first);
      expect(m).not.toBeNull();
      const [flooded, l16, l128, udpPort] = m!.slice(1).map(Number) as [number, number, number, number];

      using obj = BpfObject.open(bpfObjectBytes("sockiter"), { name: "sockiter" });
      obj.load();
      const tcp = decode(readIter(obj.program("iter_tcp")));
      const udp = decode(readIter(obj.program("iter_udp")));

      const listeners = tcp.filter((r) => r.family === 2 && r.state === 10 && [flooded, l16, l128].includes(r.sport));
      expect(listeners.map((r) => r.sport).sort()).toEqual([flooded, l16, l128].sort());
      const byPort = new Map(listeners.map((r) => [r.sport, r]));
      expect(byPort.get(l16)).toMatchObject({ full: true, maxAckBacklog: 16, ackBacklog: 0, drops: 0 });
      expect(byPort.get(l128)).toMatchObject({ full: true, maxAckBacklog: 128, ackBacklog: 0, drops: 0 });
      const f = byPort.get(flooded)!;
      expect(f.maxAckBacklog).toBe(1);
      expect(f.drops).toBeGreaterThan(0);
      // ss -ltnm: Recv-Q is the accept queue, Send-Q the backlog, skmem d… the drops.
      const line = ss(["-ltnmH", `sport = :${flooded}`]).replace(/\s+/g, " ");
      const sm = /^LISTEN (\d+) (\d+) .*\bd(\d+)\)/.exec(line);
      expect(sm).not.toBeNull();
      expect([f.ackBacklog, f.maxAckBacklog, f.drops]).toEqual([Number(sm![1]), Number(sm![2]), Number(sm![3])]);
      console.log(`iter/tcp flooded listener :${flooded}: ack_backlog ${f.ackBacklog}/${f.maxAckBacklog}, drops ${f.drops}; ss: ${line}`);

      // Every TCP socket touching the flooded port, as (state, sport, dport), equals ss's list.
      const mine = tcp
        .filter((r) => r.family === 2 && (r.sport === flooded || r.dport === flooded))
        .map((r) => `${r.state} ${r.sport} ${r.dport}`)
        .sort();
      const theirs = ss(["-tanH", `( sport = :${flooded} or dport = :${flooded} )`])
        .split("\n")
        .filter(Boolean)
        .map((l) => {
          const [state, , , local, peer] = l.trim().split(/\s+/);
          const port = (a: string) => Number(a.slice(a.lastIndexOf(":") + 1)) || 0;
          return `${TCP_STATES[state!]} ${port(local!)} ${port(peer!)}`;
        })
        .sort();
      expect(mine).toEqual(theirs);

      const u = udp.filter((r) => r.family === 2 && r.sport === udpPort);
      expect(u).toHaveLength(1);
      expect(u[0]).toMatchObject({ proto: 17, state: 7, dport: 0, drops: 0 });
    } finally {
      child.stdin.end();
      await child.exited;
    }
  });

  test.if(can)("output is bounded with a clear error; a non-iterator program is refused", () => {
    using obj = BpfObject.open(bpfObjectBytes("sockiter"), { name: "sockiter" });
    obj.load();
    using server = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    using server2 = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    void server;
    void server2;
    expect(() => readIter(obj.program("iter_tcp"), 40)).toThrow(IterOutputTooLarge);
    expect(() => readIter(obj.program("iter_tcp"), 40)).toThrow(/iterator iter_tcp: output exceeds 40 bytes/);
    using self = BpfObject.open(bpfObjectBytes("selftest"), { name: "selftest" });
    expect(() => readIter(self.program("tp_getppid"))).toThrow(BpfError);
  });
});

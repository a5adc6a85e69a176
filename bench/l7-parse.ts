// The l7 probe's user-space cost on recorded traffic: real clients against real servers
// through the loopback recording proxy (src/probes/l7/protocols/testdata/record.ts), then
// the recorded chunks replayed through the probe's own path — the tracker (detection,
// sessions, pairing) and the aggregator — as the server side would see them, on one core.
import { rmSync } from "node:fs";
import { join } from "node:path";
import { Aggregator } from "../src/probes/l7/aggregate.ts";
import { DIR_RECV, DIR_SEND, EventView, L4_TCP, ROLE_SERVER, type ConnInfo } from "../src/probes/l7/decode.ts";
import type { ProtocolParser } from "../src/probes/l7/protocol.ts";
import { loadFixture, type Chunk } from "../src/probes/l7/protocols/test-replay.ts";
import { Tracker } from "../src/probes/l7/tracker.ts";
import { freePort, ROOT, waitFor } from "../test/harness.ts";

const RECORDER = join(ROOT, "src", "probes", "l7", "protocols", "testdata", "record.ts");

/** Records `client(port)` talking to the server on `serverPort` through the proxy into `out`. */
export async function record(serverPort: number, out: string, client: (port: number) => void): Promise<Chunk[]> {
  rmSync(out, { force: true });
  const port = await freePort();
  const proxy = Bun.spawn([process.execPath, RECORDER, String(port), String(serverPort), out], { stdout: "ignore", stderr: "inherit" });
  try {
    await waitFor("recording proxy", async () => (await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } }).then((s) => (s.end(), true)).catch(() => undefined)) || undefined, 5000, 50);
    client(port);
    await Bun.sleep(300);
  } finally {
    proxy.kill();
    await proxy.exited;
  }
  // The probe connection above is recorded too (no bytes): harmless.
  return loadFixture(out);
}

function conn(id: number): ConnInfo {
  return { connId: id, tgid: 1, fd: 3, family: 2, l4: L4_TCP, role: ROLE_SERVER, flags: 0, localIp: "127.0.0.1", remoteIp: "127.0.0.1", localPort: 6379, remotePort: 40000 + id, netns: 1, bytesSent: 0, bytesRecv: 0, segsSent: 0, segsRecv: 0 };
}

/**
 * Replays `chunks` through a fresh tracker and aggregator (server side) until `minMs` have
 * passed; returns records (paired requests) per second of CPU time of this process (one
 * thread: per core, whatever else the machine runs) and per second of wall time.
 */
export function parseRate(parser: ProtocolParser, chunks: Chunk[], minMs = 2000): { recordsPerS: number; recordsPerWallS: number; mibPerS: number; recordsPerPass: number } {
  const ev = new EventView();
  let records = 0;
  let bytes = 0;
  let passes = 0;
  let recordsPerPass = 0;
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  while (performance.now() - t0 < minMs || passes < 2) {
    const agg = new Aggregator({ maxLinks: 1024, maxApis: 64 });
    const infos = new Map<number, ConnInfo>();
    const t = new Tracker({
      parsers: [parser],
      conn: (id) => infos.get(id) ?? (infos.set(id, conn(id)), infos.get(id)),
      setVerdict() {},
      isListening: () => true,
      agg,
      maxConns: 65536,
      supportSsl: () => false,
      nowMs: () => 0,
    });
    for (const c of chunks) {
      ev.kind = 1;
      ev.connId = c.conn + 1;
      ev.tsNs = c.t;
      ev.len = c.bytes.length;
      ev.dir = c.dir === "req" ? DIR_RECV : DIR_SEND;
      ev.l4 = L4_TCP;
      ev.data = c.bytes;
      t.onData(ev);
      bytes += c.bytes.length;
    }
    const rows = agg.endPeriod(0, 5);
    const n = rows.rpc.reduce((a, r) => a + (r.req_count as number), 0);
    recordsPerPass = n;
    records += n;
    passes++;
  }
  const wall = (performance.now() - t0) / 1000;
  const cu = process.cpuUsage(c0);
  const cpu = (cu.user + cu.system) / 1e6;
  return { recordsPerS: records / cpu, recordsPerWallS: records / wall, mibPerS: bytes / cpu / 1048576, recordsPerPass };
}

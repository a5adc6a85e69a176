// MongoDB through the l7 probe (root): FerretDB over a temporary PostgreSQL 15 cluster
// (test-ferretdb.ts) and the official Go driver (testdata/peers mongo-client): inserts, finds
// and pings, and failing commands (an unknown operator and an unknown command: client errors;
// an aggregation stage FerretDB does not implement: a server error; a duplicate _id is ok 1
// with writeErrors, a success as the driver reports it). On both ends the probe's
// l7_rpc_api counts per command name must equal the driver's own tally (its command monitor,
// failures classed by the reply's code as mongo.ts documents), plus the driver's handshakes
// and heartbeats (legacy OP_QUERY isMaster, outside the command monitor: its pool and
// heartbeat events count them); latencies within what the driver measured.
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { PARSERS } from "./index.ts";
import { expectRowsMatch, expectServerInsideClient, ProbeOn } from "./test-e2e.ts";
import { ferretDbBinary, PG_BIN, startFerretDb, startPostgres } from "./test-ferretdb.ts";
import { rootPreflight } from "./test-kit.ts";
import { goPeers, parseTally, type PeerTally } from "./test-peers.ts";
import { held } from "./test-servers.ts";

const NAME = "l7 mongo.root.test";
const { can } = rootPreflight(NAME, () => {
  if (!PARSERS.has("mongo")) return "no mongo parser registered in src/probes/l7/protocols/index.ts";
  if (!existsSync(`${PG_BIN}/initdb`)) return `PostgreSQL 15 is not installed (${PG_BIN}/initdb)`;
  if (Bun.spawnSync(["id", "postgres"]).exitCode !== 0) return "no postgres user to run PostgreSQL as";
  return undefined;
});
const peers = goPeers(NAME, can);
const ferret = peers.skip ? undefined : ferretDbBinary();
if (ferret?.skip) console.warn(`${NAME}: skipped: ${ferret.skip}`);
afterAll(() => peers.dispose());

/** 20 of each kind: with the failing ones every fifth, and the driver's own commands. */
const N = 20;

describe("l7: MongoDB (FerretDB + the Go driver) through the probe", () => {
  test.if(ferret?.bin !== undefined)(
    `${N} inserts, finds and pings and failing commands, counted per command name with errors, exact on both ends`,
    async () => {
      await using pg = await startPostgres();
      await using server = await startFerretDb(ferret!.bin!, pg.port);
      const client = held([peers.bin, "mongo-client", `127.0.0.1:${server.port}`, String(N)]);
      await using probe = await ProbeOn.open([server.pid, client.pid], { l7_protocol: ["mongo"] });
      client.release();
      const { code, out } = await client.done;
      expect([code, out.slice(-300)]).toEqual([0, out.slice(-300)]);
      const tally = parseTally(out);
      const failing = N / 5 + 1;
      // What the client did, as it counted it: the exact numbers it was asked for.
      const counts = Object.fromEntries(Object.entries(tally.apis).map(([k, a]) => [k, [a.count, a.client, a.server]]));
      expect(counts).toMatchObject({ insert: [N + failing, 0, 0], find: [N + failing, failing, 0], ping: [N, 0, 0], noSuchCommand: [failing, failing, 0], aggregate: [failing, 0, failing], drop: [1, 0, 0] });
      const elapsed = tally.extra?.elapsed_ns ?? 0;
      const handshakes = tally.connections + (tally.extra?.heartbeats ?? 0);
      expect(elapsed).toBeGreaterThan(0);
      expect(handshakes).toBeGreaterThanOrEqual(2); // the pool's connection and the monitor's
      const apis: PeerTally["apis"] = { ...tally.apis, isMaster: { count: handshakes, client: 0, server: 0, latency_sum_ns: elapsed * handshakes, latency_max_ns: elapsed } };
      await probe.run.collect();
      const common = { protocol: "mongo", ssl: false, serverPort: server.port, apis };
      expectRowsMatch(probe, { tgid: client.pid, l4Role: "tcp_client", l7Role: "client" }, common);
      expectRowsMatch(probe, { tgid: server.pid, l4Role: "tcp_server", l7Role: "server" }, common);
      expectServerInsideClient(probe, server.pid, client.pid);
    },
    300_000,
  );
});

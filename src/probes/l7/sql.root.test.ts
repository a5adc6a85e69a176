// The l7 probe end to end with a real PostgreSQL and a real MariaDB (root): statements sent
// by their own clients, simple and prepared, some failing, counted exactly per verb with
// their errors on the client's side and the server's. PostgreSQL forks a backend per
// connection, so the probe observes the whole host there and the server's rows are those
// of the server's port. Each test skips, saying why, without its server, client or parser.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Row } from "../../store/table.ts";
import { openL7, PARSERS } from "./index.ts";
import { rootPreflight, testContext, TestScope, type TestContext } from "./test-kit.ts";
import { has, held } from "./test-servers.ts";
import { PG_BIN, startMariadb, startPostgres } from "./test-sql-servers.ts";

const { can } = rootPreflight("l7 sql.root.test");
function gate(what: string, parser: string, tools: string[]): boolean {
  if (!can) return false;
  const missing = tools.filter((t) => !has(t));
  if (missing.length) console.warn(`l7 sql.root.test: ${what} skipped: ${missing.join(", ")} not installed`);
  else if (!PARSERS.has(parser)) console.warn(`l7 sql.root.test: ${what} skipped: no ${parser} parser registered in src/probes/l7/protocols/index.ts yet`);
  return missing.length === 0 && PARSERS.has(parser);
}
const canPg = gate("PostgreSQL", "pgsql", [`${PG_BIN}/initdb`, `${PG_BIN}/psql`, `${PG_BIN}/pgbench`, "runuser"]);
const canMy = gate("MariaDB", "mysql", ["mariadbd", "mariadb", "mariadb-install-db", "mariadb-admin", "runuser"]);

const tmp = mkdtempSync(join(tmpdir(), "gg-l7-sql-"));
const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  rmSync(tmp, { recursive: true, force: true });
});

/** Requests and errors per API of the rows `pick` selects. */
function perApi(ctx: TestContext, pick: (r: Row) => boolean): Map<string, { req: number; err: number }> {
  const m = new Map<string, { req: number; err: number }>();
  for (const r of ctx.rec.rows.filter((x) => x.table === "l7_rpc_api" && pick(x.row)).map((x) => x.row)) {
    const a = m.get(r.api as string) ?? { req: 0, err: 0 };
    a.req += r.req_count as number;
    a.err += r.err_count as number;
    m.set(r.api as string, a);
  }
  return m;
}

async function probeOn(scope: TestScope, waitPids: number[], protocols: string[]): Promise<{ ctx: TestContext; run: ReturnType<typeof openL7> }> {
  const ctx = testContext({ subitems: ["l7_rpc_metrics"], scope, params: { l7_protocol: protocols } });
  const run = openL7(ctx);
  cleanups.push(async () => {
    await run[Symbol.asyncDispose]();
    ctx.close();
  });
  for (const p of waitPids) await ctx.inKernelScope(p);
  return { ctx, run };
}

/** The statements both databases get: 10 INSERT, 20 SELECT that work, 5 that fail, 5 EXECUTE of a prepared one. */
function script(execute: (i: number) => string, prepare: string): string {
  const lines = ["CREATE TABLE t (i int);"];
  for (let i = 0; i < 10; i++) lines.push(`INSERT INTO t VALUES (${i});`);
  for (let i = 0; i < 20; i++) lines.push("SELECT count(*) FROM t;");
  for (let i = 0; i < 5; i++) lines.push("SELECT * FROM no_such_table;");
  lines.push(prepare);
  for (let i = 0; i < 5; i++) lines.push(execute(i));
  return `${lines.join("\n")}\n`;
}

describe("l7 with real SQL servers", () => {
  test.if(canPg)("PostgreSQL: psql (simple protocol, SQL PREPARE/EXECUTE, failing statements) and pgbench -M extended, per verb on both ends", async () => {
    const pg = await startPostgres();
    cleanups.push(async () => await pg[Symbol.asyncDispose]());
    const file = join(tmp, "pg.sql");
    writeFileSync(file, script((i) => `EXECUTE p(${i});`, "PREPARE p(int) AS SELECT $1 + 1;"));
    const bench = join(tmp, "pgbench.sql");
    writeFileSync(bench, "SELECT 1;\n");
    const conn = ["-h", "127.0.0.1", "-p", String(pg.port), "-U", "postgres"];
    const psql = held([`${PG_BIN}/psql`, "-X", "-q", ...conn, "-d", "postgres", "-f", file]);
    const pgbench = held([`${PG_BIN}/pgbench`, "-n", "-M", "extended", "-c", "1", "-t", "50", "-f", bench, ...conn, "postgres"]);
    const { ctx, run } = await probeOn(new TestScope(), [psql.pid, pgbench.pid], ["pgsql"]);
    psql.release();
    expect((await psql.done).code).toBe(0);
    pgbench.release();
    const pb = await pgbench.done;
    expect(pb.out).toContain("number of transactions actually processed: 50/50");
    await Bun.sleep(200);
    await run.collect();
    const client = perApi(ctx, (r) => r.tgid === String(psql.pid));
    expect([client.get("INSERT"), client.get("SELECT")]).toEqual([
      { req: 10, err: 0 },
      { req: 25, err: 5 },
    ]);
    expect(perApi(ctx, (r) => r.tgid === String(pgbench.pid)).get("SELECT")).toEqual({ req: 50, err: 0 });
    const server = perApi(ctx, (r) => r.server_port === String(pg.port) && r.l4_role === "tcp_server");
    expect([server.get("INSERT"), server.get("SELECT")]).toEqual([
      { req: 10, err: 0 },
      { req: 75, err: 5 },
    ]);
    const errors = [...server.values()].reduce((a, v) => a + v.err, 0);
    expect(errors).toBe(5);
  });

  test.if(canMy)("MariaDB: the mariadb client (COM_QUERY, SQL PREPARE/EXECUTE, failing statements), per verb on both ends", async () => {
    const my = await startMariadb();
    cleanups.push(async () => await my[Symbol.asyncDispose]());
    const file = join(tmp, "my.sql");
    writeFileSync(file, script(() => "EXECUTE s USING @a;", "PREPARE s FROM 'SELECT ? + 1'; SET @a = 1;"));
    const cli = held(["mariadb", "--no-defaults", "-h127.0.0.1", `-P${my.port}`, "-uapp", "-papp-pw", "--force", "app"], file);
    const { ctx, run } = await probeOn(new TestScope([my.pid, cli.pid]), [my.pid, cli.pid], ["mysql"]);
    cli.release();
    const out = await cli.done;
    expect(out.out.match(/ERROR 1146/g)?.length).toBe(5);
    await Bun.sleep(200);
    await run.collect();
    for (const tgid of [cli.pid, my.pid]) {
      const apis = perApi(ctx, (r) => r.tgid === String(tgid));
      expect([apis.get("INSERT"), apis.get("SELECT")]).toEqual([
        { req: 10, err: 0 },
        { req: 25, err: 5 },
      ]);
      expect([...apis.values()].reduce((a, v) => a + v.err, 0)).toBe(5);
    }
  });
});

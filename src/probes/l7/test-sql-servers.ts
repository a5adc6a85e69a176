// A real PostgreSQL 15 (initdb in a temporary directory, trust auth, run as `nobody`) and a
// real MariaDB (mariadb-install-db, run as `nobody`), on loopback ports of their own, for
// the l7 probe's SQL end-to-end tests. Both wait until they accept connections.
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, waitFor } from "../../../test/harness.ts";

export const PG_BIN = "/usr/lib/postgresql/15/bin";

function sh(cmd: string[], what: string): void {
  const r = Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`${what}: ${r.stderr.toString()}${r.stdout.toString()}`);
}

function ownedTmp(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(dir, 0o755);
  sh(["chown", "nobody", dir], "chown");
  return dir;
}

export interface SqlServer extends AsyncDisposable {
  port: number;
  dir: string;
}

export async function startPostgres(): Promise<SqlServer> {
  const dir = ownedTmp("gg-l7-pg-");
  const port = await freePort();
  try {
    sh(["runuser", "-u", "nobody", "--", `${PG_BIN}/initdb`, "-D", `${dir}/data`, "-U", "postgres", "-A", "trust"], "initdb");
    sh(["runuser", "-u", "nobody", "--", `${PG_BIN}/pg_ctl`, "-D", `${dir}/data`, "-l", `${dir}/server.log`, "-w", "-o", `-c listen_addresses=127.0.0.1 -p ${port} -k ${dir}`, "start"], "pg_ctl start");
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return {
    port,
    dir,
    async [Symbol.asyncDispose]() {
      Bun.spawnSync(["runuser", "-u", "nobody", "--", `${PG_BIN}/pg_ctl`, "-D", `${dir}/data`, "-m", "immediate", "stop"]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface Mariadb extends SqlServer {
  pid: number;
}

export async function startMariadb(): Promise<Mariadb> {
  const dir = ownedTmp("gg-l7-my-");
  const port = await freePort();
  sh(["mariadb-install-db", "--no-defaults", `--datadir=${dir}/data`, "--user=nobody", "--auth-root-authentication-method=socket", "--skip-test-db"], "mariadb-install-db");
  const proc = Bun.spawn(
    ["runuser", "-u", "nobody", "--", "mariadbd", "--no-defaults", `--datadir=${dir}/data`, `--socket=${dir}/sock`, `--port=${port}`, "--bind-address=127.0.0.1", "--skip-name-resolve", "--skip-log-bin", `--pid-file=${dir}/pid`],
    { stdout: "ignore", stderr: "ignore" },
  );
  try {
    await waitFor("mariadbd", () => (Bun.spawnSync(["mariadb-admin", "--no-defaults", "-S", `${dir}/sock`, "-uroot", "ping"]).exitCode === 0 ? true : undefined), 30_000, 100);
    writeFileSync(join(dir, "setup.sql"), "CREATE DATABASE app; CREATE USER 'app'@'127.0.0.1' IDENTIFIED BY 'app-pw'; GRANT ALL ON app.* TO 'app'@'127.0.0.1';\n");
    sh(["sh", "-c", `mariadb --no-defaults -S '${dir}/sock' -uroot < '${dir}/setup.sql'`], "mariadb setup");
  } catch (e) {
    proc.kill();
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  const pid = Number((await Bun.file(`${dir}/pid`).text()).trim());
  return {
    pid,
    port,
    dir,
    async [Symbol.asyncDispose]() {
      proc.kill();
      Bun.spawnSync(["kill", String(pid)]);
      await Promise.race([proc.exited, Bun.sleep(5000)]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

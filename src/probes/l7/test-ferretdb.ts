// A real server speaking the MongoDB wire protocol for the l7 end-to-end test: FerretDB 1.24
// (a Go module; MongoDB itself is not packaged by Debian) over a PostgreSQL 15 cluster made
// with initdb in a temporary directory, run as the postgres user, both on loopback.
// FerretDB takes ~30 s to build with a warm Go cache and minutes without one, so it is built
// once per machine into CACHE_DIR (FERRETDB=<path> names a binary instead).
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, waitFor } from "../../../test/harness.ts";
import { goEnv, goTool, PeersError, runGo } from "./test-peers.ts";

export const FERRETDB_VERSION = "v1.24.0";
export const CACHE_DIR = "/var/tmp/gala-gopher-test-cache";
export const PG_BIN = "/usr/lib/postgresql/15/bin";

/**
 * The FerretDB executable: $FERRETDB, else CACHE_DIR/ferretdb-<version>, built there when
 * missing. Returns { skip } when Go is missing or the Go proxy refuses the module.
 */
export function ferretDbBinary(): { bin: string; skip?: undefined } | { bin?: undefined; skip: string } {
  if (process.env.FERRETDB) return existsSync(process.env.FERRETDB) ? { bin: process.env.FERRETDB } : { skip: `FERRETDB=${process.env.FERRETDB} does not exist` };
  const bin = join(CACHE_DIR, `ferretdb-${FERRETDB_VERSION}`);
  if (existsSync(bin)) return { bin };
  const { go, skip } = goTool();
  if (!go) return { skip: `${skip}: cannot build FerretDB` };
  mkdirSync(CACHE_DIR, { recursive: true });
  const work = mkdtempSync(join(CACHE_DIR, "ferretdb-build-"));
  try {
    const mod = `github.com/FerretDB/FerretDB@${FERRETDB_VERSION}`;
    const r = Bun.spawnSync([go, "mod", "download", "-json", mod], { cwd: work, env: goEnv(), stdout: "pipe", stderr: "pipe" });
    let info: { Dir?: string; Error?: string } = {};
    try {
      info = JSON.parse(r.stdout.toString()) as typeof info;
    } catch {
      // no JSON: the reason is on stderr
    }
    if (r.exitCode !== 0 || !info.Dir) return { skip: `the Go proxy did not give ${mod}: ${info.Error ?? r.stderr.toString().trim()}` };
    const dir = info.Dir;
    const src = join(work, "src");
    cpSync(dir, src, { recursive: true });
    Bun.spawnSync(["chmod", "-R", "u+w", src]);
    // FerretDB's build reads its version from build/version/version.txt, absent from the module.
    writeFileSync(join(src, "build", "version", "version.txt"), `${FERRETDB_VERSION}\n`);
    runGo(go, src, ["build", "-o", join(work, "ferretdb"), "./cmd/ferretdb"], "building FerretDB");
    renameSync(join(work, "ferretdb"), bin);
    return { bin };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

export interface Postgres extends AsyncDisposable {
  port: number;
}

function asPostgres(cmd: string): { code: number; out: string } {
  const r = Bun.spawnSync(["su", "postgres", "-s", "/bin/sh", "-c", cmd], { stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode, out: r.stdout.toString() + r.stderr.toString() };
}

/** A PostgreSQL 15 cluster in a temporary directory on 127.0.0.1 (trust auth), run as postgres. */
export async function startPostgres(): Promise<Postgres> {
  const dir = mkdtempSync(join(tmpdir(), "gg-l7-pg-"));
  chmodSync(dir, 0o755);
  const data = join(dir, "data");
  mkdirSync(data);
  Bun.spawnSync(["chown", "postgres", data]);
  const port = await freePort();
  const stop = () => {
    if (existsSync(join(data, "postmaster.pid"))) asPostgres(`${PG_BIN}/pg_ctl -D ${data} -m immediate -w stop`);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    let r = asPostgres(`${PG_BIN}/initdb -A trust -U postgres -D ${data}`);
    if (r.code !== 0) throw new PeersError(`initdb failed: ${r.out}`);
    r = asPostgres(`${PG_BIN}/pg_ctl -D ${data} -w -o '-p ${port} -k ${data} -c listen_addresses=127.0.0.1 -c fsync=off' -l ${data}/log start`);
    if (r.code !== 0) throw new PeersError(`pg_ctl start failed: ${r.out}${readFileSync(join(data, "log"), "utf8")}`);
    r = asPostgres(`${PG_BIN}/createdb -h 127.0.0.1 -p ${port} ferretdb`);
    if (r.code !== 0) throw new PeersError(`createdb failed: ${r.out}`);
  } catch (e) {
    stop();
    throw e;
  }
  return {
    port,
    async [Symbol.asyncDispose]() {
      stop();
    },
  };
}

export interface FerretDb extends AsyncDisposable {
  pid: number;
  port: number;
}

/** FerretDB (`bin`) over the database "ferretdb" of the cluster on `pgPort`, on 127.0.0.1. */
export async function startFerretDb(bin: string, pgPort: number): Promise<FerretDb> {
  const state = mkdtempSync(join(tmpdir(), "gg-l7-ferretdb-"));
  const port = await freePort();
  const proc = Bun.spawn(
    [bin, "--handler=postgresql", `--postgresql-url=postgres://postgres@127.0.0.1:${pgPort}/ferretdb`, `--listen-addr=127.0.0.1:${port}`, "--telemetry=disable", `--state-dir=${state}`, "--log-level=error"],
    { stdout: "ignore", stderr: "pipe" },
  );
  const dispose = async () => {
    proc.kill();
    await Promise.race([proc.exited, Bun.sleep(3000)]);
    proc.kill("SIGKILL");
    rmSync(state, { recursive: true, force: true });
  };
  try {
    await waitFor(
      "FerretDB",
      async () => {
        if (proc.exitCode !== null) throw new PeersError(`FerretDB exited ${proc.exitCode}: ${await new Response(proc.stderr).text()}`);
        const c = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } }).catch(() => undefined);
        c?.end();
        return c !== undefined || undefined;
      },
      20_000,
      100,
    );
  } catch (e) {
    await dispose();
    throw e;
  }
  return { pid: proc.pid, port, [Symbol.asyncDispose]: dispose };
}

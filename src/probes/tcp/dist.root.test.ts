// The compiled executable runs the tcp probe on a host without libbpf: it is started from
// `/` in a private mount namespace where the system's libbpf.so.1, libelf.so.1 and
// libz.so.1 are hidden (bind-mounted over with /dev/null), with GOPHER_LIBBPF=embedded
// (no system fallback) and an empty LD_LIBRARY_PATH; the probe is started over REST and a
// connection of a known process shows up in /metrics.
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { agentFiles, DIST_BIN, put, ROOT, rmrf, scrape, tempDir, waitFor, type AgentFiles } from "../../../test/harness.ts";
import { systemLibraries } from "../../../scripts/bpf.ts";
import { Proc, rootPreflight } from "./test-kit.ts";

const { can, bin } = rootPreflight("dist.root.test", () =>
  Bun.spawnSync(["sh", "-c", "command -v unshare"]).exitCode !== 0 ? "no unshare (util-linux)" : undefined,
);

/** Rebuilds dist/gala-gopher when it is older than the probe, the libbpf layer or the BPF objects. */
function ensureDist(): void {
  const files = (dir: string, ext: string) =>
    readdirSync(join(ROOT, dir))
      .filter((f) => f.endsWith(ext))
      .map((f) => join(ROOT, dir, f));
  const inputs = [...files("src/probes/tcp", ".ts"), ...files("src/libbpf", ".ts"), ...files("src/host", ".ts"), ...files("dist/bpf", ".bpf.o")];
  const newest = Math.max(...inputs.map((p) => statSync(p).mtimeMs));
  if (existsSync(DIST_BIN) && statSync(DIST_BIN).mtimeMs >= newest) return;
  const r = Bun.spawnSync([process.execPath, "run", join(ROOT, "scripts", "build.ts")], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`build failed: ${r.stderr.toString()}`);
}

const cleanup: (() => void)[] = [];
afterAll(() => {
  for (const c of cleanup.reverse()) c();
});

describe("compiled agent, system libbpf absent", () => {
  test.if(can)(
    "runs the tcp probe with its embedded libbpf, libelf and libz from /",
    async () => {
      ensureDist();
      const f: AgentFiles = await agentFiles();
      cleanup.push(() => rmrf(f.dir));
      const hide = Object.values(systemLibraries())
        .map((p) => `mount --bind /dev/null ${p}`)
        .join(" && ");
      const empty = tempDir("gg-emptylib-");
      cleanup.push(() => rmrf(empty));
      const script = `${hide} && cd / && exec ${DIST_BIN} -c ${f.conf} --run-dir ${f.runDir} --probes-init ${f.probesInit}`;
      const agent = Bun.spawn(["unshare", "-m", "--propagation", "private", "sh", "-c", script], {
        env: { ...process.env, GOPHER_LIBBPF: "embedded", LD_LIBRARY_PATH: empty, GOPHER_LOG_STDERR: "0" },
        stdout: "ignore",
        stderr: "pipe",
      });
      cleanup.push(() => agent.kill("SIGKILL"));
      await waitFor("metrics endpoint", () => scrape(f.metricsPort).then(() => true), 20_000);
      const res = await put(f.restPort, "tcp", { cmd: { probe: ["tcp_stats", "tcp_rtt"] }, params: { report_period: 5, report_cport: 1 }, state: "running" });
      expect(res.status).toBe(200);
      expect(res.body).toContain('"result": "success"');
      const server = new Proc([bin, "server", "127.0.0.1", "0", "1", "777"]);
      cleanup.push(() => server.kill());
      const port = Number((await server.waitFor(/listening (\d+)/))[1]);
      const client = new Proc([bin, "client", "127.0.0.1", String(port), "1", "4444", "hold"]);
      cleanup.push(() => client.kill());
      client.send();
      await client.waitFor(/held tx=4444 rx=777/);
      // The client holds its (closed) socket open: the link is live until it lets go.
      const text = await waitFor(
        "the client's link in /metrics",
        async () => {
          const t = await scrape(f.metricsPort);
          return t.includes(`gala_gopher_tcp_link_tx_bytes{tgid="${client.pid}"`) ? t : undefined;
        },
        30_000,
        500,
      );
      const line = text.split("\n").find((l) => l.startsWith(`gala_gopher_tcp_link_tx_bytes{tgid="${client.pid}"`))!;
      expect(line).toContain('role="client"');
      expect(line).toContain(`server_port="${port}"`);
      expect(line).toContain('client_ip="127.0.0.1"');
      expect(text).toMatch(new RegExp(`gala_gopher_tcp_link_srtt_bucket\\{tgid="${client.pid}"`));
      expect(text).toContain('gala_gopher_agent_probe_state{probe="tcp",state="running"} 1');
      const log = readFileSync(join(f.logDir, "debug", "gopher.log"), "utf8");
      expect(log).toContain("libbpf 1.1 (embedded)");
      client.send();
      agent.kill("SIGTERM");
      await agent.exited;
    },
    90_000,
  );
});

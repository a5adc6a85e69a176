// A /metrics flood against the compiled agent (issue 11, item 2): 50 concurrent scrapers
// (ab -c 50) for 15 s while REST must answer in < 1 s, probe values must keep changing every report
// period, and SIGTERM in the middle of the flood must exit in < 5 s with --save-probes
// writing probes.init. bench/scrape.ts runs the same for a minute.
import { afterAll, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { agentFiles, cliArgs, hasDist, rmrf, spawnAgent, waitFor, which, type AgentFiles, type Child } from "../harness.ts";

const SCRAPERS = 50;
const FLOOD_MS = 15_000;
const PERIOD_S = 5;
const files: AgentFiles[] = [];
afterAll(() => files.forEach((f) => rmrf(f.dir)));

const AB = which("ab");
if (!hasDist()) console.log("scrape-flood: skipped, dist/gala-gopher not built (bun run build)");
if (!AB) console.log("scrape-flood: skipped, ab not installed (apt-get install apache2-utils)");

test.if(hasDist() && AB !== undefined)(
  "50 concurrent scrapers: REST < 1 s, values change every period, SIGTERM < 5 s and --save-probes writes",
  async () => {
    const f = await agentFiles();
    files.push(f);
    const doc = { cmd: { probe: ["cpu", "mem", "nic", "net", "disk", "fs", "proc", "host"] }, params: { report_period: PERIOD_S }, state: "running" };
    writeFileSync(f.probesInit, `baseinfo ${JSON.stringify(doc)}\n`);
    const agent: Child = spawnAgent([...cliArgs(f), "--save-probes"], { env: { GOPHER_LOG_STDERR: "0" } });
    const metrics = `http://127.0.0.1:${f.metricsPort}/metrics`;
    try {
      await waitFor("first cpu sample", async () => (await (await fetch(metrics)).text()).includes("gala_gopher_cpu_"), 20_000);
      // ab exactly as the report ran it; gzip accepted, as Prometheus asks.
      const flood = Bun.spawn([AB!, "-q", "-r", "-c", String(SCRAPERS), "-t", "120", "-n", "100000000", "-H", "Accept-Encoding: gzip", metrics], {
        stdout: "pipe",
        stderr: "ignore",
      });
      const restMs: number[] = [];
      const changes: number[] = [];
      let lastCpu = "";
      const end = performance.now() + FLOOD_MS;
      while (performance.now() < end) {
        const t0 = performance.now();
        const r = await fetch(`http://127.0.0.1:${f.restPort}/baseinfo`, { signal: AbortSignal.timeout(5000) });
        expect(r.status).toBe(200);
        expect(JSON.parse(await r.text()).state).toBe("running");
        restMs.push(performance.now() - t0);
        const m = await fetch(metrics, { signal: AbortSignal.timeout(5000) });
        if (m.status === 200) {
          const cpu = (await m.text()).split("\n").filter((l) => l.startsWith("gala_gopher_cpu_")).join("\n");
          if (cpu !== lastCpu) changes.push(performance.now());
          lastCpu = cpu;
        } else await m.arrayBuffer();
        await Bun.sleep(200);
      }
      changes.push(end);
      // SIGTERM while the flood goes on.
      const t0 = performance.now();
      agent.proc.kill("SIGTERM");
      const code = await agent.proc.exited;
      const stopMs = performance.now() - t0;
      flood.kill("SIGINT"); // ab prints its summary on SIGINT
      const abOut = await new Response(flood.stdout).text();
      await flood.exited;
      const complete = Number(/Complete requests:\s+(\d+)/.exec(abOut)?.[1] ?? 0);
      const refused = Number(/Non-2xx responses:\s+(\d+)/.exec(abOut)?.[1] ?? 0);
      const scrapes = complete - refused;

      const gaps = changes.slice(1).map((t, i) => t - (changes[i] as number));
      console.log(
        `scrape-flood: ${scrapes} scrapes (${Math.round(scrapes / (FLOOD_MS / 1000))}/s), ${refused} refused, REST max ${Math.round(Math.max(...restMs))} ms over ${restMs.length}, ` +
          `${changes.length - 1} value changes, longest gap ${Math.round(Math.max(...gaps))} ms, SIGTERM exit ${Math.round(stopMs)} ms`,
      );
      expect(scrapes).toBeGreaterThan(SCRAPERS * 10);
      expect(Math.max(...restMs)).toBeLessThan(1000);
      expect(changes.length - 1).toBeGreaterThanOrEqual(Math.floor(FLOOD_MS / 1000 / PERIOD_S) - 1);
      expect(Math.max(...gaps)).toBeLessThan(PERIOD_S * 1000 + 1500);
      expect(code).toBe(0);
      expect(stopMs).toBeLessThan(5000);
      const saved = readFileSync(f.probesInit, "utf8");
      expect(saved).toStartWith("# written by gala-gopher --save-probes at stop\n");
      expect(saved).toContain('"report_period":5');
    } finally {
      if (agent.proc.exitCode === null) await agent.stop();
    }
  },
  60_000,
);

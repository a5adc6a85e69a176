// A start-up that fails half-way releases what it took (pid lock, servers' ports, output
// sinks, the snooper), so the next start succeeds.
import { afterAll, describe, expect, test } from "bun:test";
import { startAgent, type RunningAgent } from "../../src/daemon.ts";
import { agentFiles, agentOptions, copyFixture, rmrf } from "../harness.ts";

describe("start-up failure", () => {
  const cleanup: (() => unknown)[] = [];
  afterAll(async () => {
    for (const c of cleanup.reverse()) await c();
  });

  test("a taken REST port fails the start; the lock and the metrics port are free for the next one", async () => {
    const host = copyFixture("bare-metal");
    cleanup.push(() => rmrf(host));
    const files = await agentFiles();
    cleanup.push(() => rmrf(files.dir));
    const squatter = Bun.serve({ hostname: "127.0.0.1", port: files.restPort, fetch: () => new Response("taken") });
    let released = false;
    cleanup.push(() => released || squatter.stop(true));
    await expect(startAgent(agentOptions(files, host), { GOPHER_LOG_STDERR: "0" })).rejects.toThrow();
    squatter.stop(true);
    released = true;
    const agent: RunningAgent = await startAgent(agentOptions(files, host), { GOPHER_LOG_STDERR: "0" });
    cleanup.push(() => agent.stop());
    expect(agent.metricsPort).toBe(files.metricsPort);
    expect(agent.restPort).toBe(files.restPort);
  });
});

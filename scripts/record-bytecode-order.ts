// Records scripts/bytecode.order, the profile-guided bytecode layout that scripts/build.ts
// passes to `bun build --compile` (compile.bytecodeOrder): the compiled agent runs once
// with baseinfo cpu,mem (the default configuration's probe) for three report periods,
// with BUN_BYTECODE_ORDER_OUT set, and the functions it ran are placed together at the
// front of the executable's bytecode. Measured: RssFile −2.0 MiB for baseinfo cpu,mem.
// A stale profile still applies (functions are matched by a hash of their syntax); record
// again when much of the start-up or collection code changed:
//   bun run build && bun run scripts/record-bytecode-order.ts && bun run build
import { renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { agentFiles, cliArgs, DIST_BIN, ROOT, scrape, waitFor } from "../test/harness.ts";

const BYTECODE_ORDER = join(ROOT, "scripts", "bytecode.order");
const PERIOD_S = 5;

const f = await agentFiles();
writeFileSync(f.probesInit, `baseinfo {"cmd":{"probe":["cpu","mem"]},"params":{"report_period":${PERIOD_S}},"state":"running"}\n`);
const out = `${BYTECODE_ORDER}.new`;
// GOPHER_JIT=full: no re-execution, so the profile is the one process's.
const agent = Bun.spawn([DIST_BIN, ...cliArgs(f)], {
  env: { ...process.env, GOPHER_LOG_STDERR: "0", GOPHER_JIT: "full", BUN_BYTECODE_ORDER_OUT: out },
  stdout: "ignore",
  stderr: "inherit",
});
await waitFor("gala_gopher_mem_total_kB", async () => ((await scrape(f.metricsPort)).includes("gala_gopher_mem_total_kB") ? true : undefined), 30_000, 5);
for (let i = 0; i < 3; i++) {
  await Bun.sleep(PERIOD_S * 1000);
  await scrape(f.metricsPort);
}
agent.kill("SIGTERM");
const code = await agent.exited;
if (code !== 0) throw new Error(`the agent exited with ${code}; ${BYTECODE_ORDER} not changed`);
renameSync(out, BYTECODE_ORDER);
console.log(`wrote ${BYTECODE_ORDER}`);

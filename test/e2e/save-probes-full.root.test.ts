// --save-probes on a real full file system (issue 11, item 3): a small tmpfs holds
// probes.init; once it is full, SIGTERM must leave the previous probes.init byte for byte
// and log why; with space again the same agent run saves.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { appendFileSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { agentFiles, cliArgs, hasDist, put, rmrf, scrape, spawnAgent, waitFor, type AgentFiles } from "../harness.ts";
import { mountTmpfs, rootGate } from "./root-fs.ts";

const gate = rootGate();
if (!hasDist()) console.log("save-probes-full: skipped, dist/gala-gopher not built (bun run build)");
if (gate) console.log(`save-probes-full: skipped, ${gate}`);

let files: AgentFiles;
let mnt: { dir: string; [Symbol.dispose](): void } | undefined;
beforeAll(async () => {
  files = await agentFiles();
});
afterAll(() => {
  mnt?.[Symbol.dispose]();
  rmrf(files.dir);
});

/** Appends to `path` until the file system says ENOSPC. */
function fill(path: string): void {
  const chunk = new Uint8Array(4096).fill(120);
  for (;;) {
    try {
      appendFileSync(path, chunk);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOSPC") break;
      throw e;
    }
  }
  // Whatever partial page is left.
  for (;;) {
    try {
      appendFileSync(path, "x");
    } catch {
      break;
    }
  }
}

async function runAndStop(probesInit: string, beforeStop: () => void): Promise<string> {
  const agent = spawnAgent([...cliArgs({ ...files, probesInit }), "--save-probes"], { env: { GOPHER_LOG_STDERR: "1" } });
  try {
    await waitFor("baseinfo data", async () => ((await scrape(files.metricsPort)).includes("gala_gopher_mem_") ? true : undefined), 20_000);
    const r = await put(files.restPort, "baseinfo", { params: { report_period: 7 } });
    expect(r.status).toBe(200);
    beforeStop();
  } finally {
    expect(await agent.stop()).toBe(0);
  }
  return agent.stderr();
}

test.if(hasDist() && !gate)("on a full tmpfs --save-probes keeps the previous probes.init byte for byte and logs why", async () => {
  mnt = mountTmpfs(join(files.dir, "mnt"), "size=64k");
  const init = join(mnt.dir, "probes.init");
  const original = `# operator's file\nbaseinfo {"cmd":{"probe":["cpu","mem"]},"state":"running"}\n${"# padding\n".repeat(20)}`;
  writeFileSync(init, original);
  const filler = join(mnt.dir, "filler");

  const log = await runAndStop(init, () => fill(filler));
  expect(readFileSync(init, "utf8")).toBe(original);
  expect(log).toMatch(/could not save the configuration to .*probes\.init: .*probes\.init: write failed: .*ENOSPC.*; the previous file is kept/);
  expect(readdirSync(mnt.dir).sort()).toEqual(["filler", "probes.init"]);

  // Control: with space again the save happens (the test can tell the two apart).
  rmSync(filler);
  const log2 = await runAndStop(init, () => undefined);
  expect(log2).toContain(`running configuration saved to ${init}`);
  const saved = readFileSync(init, "utf8");
  expect(saved).toStartWith("# written by gala-gopher --save-probes at stop\n");
  expect(saved).toContain('"report_period":7');
}, 90_000);

// Hostile label names and values against the compiled agent (issue 11, item 1): every bad
// custom_labels / proc_name label name is refused with a 4xx and rolled back, no injected
// series ever appears, and `promtool check metrics` stays clean.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { agentFiles, cliArgs, hasDist, put, rmrf, scrape, spawnAgent, waitFor, which, type AgentFiles, type Child } from "../harness.ts";

const PROMTOOL = which("promtool");
if (!hasDist()) console.log("label-injection: skipped, dist/gala-gopher not built (bun run build)");
if (!PROMTOOL) console.log("label-injection: promtool checks skipped, promtool not installed (apt-get install prometheus)");

const INJECTION = 'a="b"} 1\nforged_metric{x="1"} 1\n# x';
const BAD_NAMES: [kind: string, name: string][] = [
  ["injection", INJECTION],
  ["injection (closing brace)", "x} 1\nforged_metric 1\n#"],
  ["reserved", "machine_id"],
  ["reserved", "tgid"],
  ["reserved", "comm"],
  ["reserved", "le"],
  ["reserved (baseinfo key)", "cpu"],
  ["not a label name", "bad-name"],
  ["not a label name", "0lead"],
  ["not a label name", ""],
  ["not a label name", "__name__"],
];

/**
 * `promtool check metrics` finds no parse error and no problem except the naming-style
 * lints that upstream's metric names (the contract, e.g. gala_gopher_mem_free_kB) always draw
 * (docs/compatibility.md).
 */
async function promtoolClean(text: string): Promise<void> {
  if (!PROMTOOL) return;
  const p = Bun.spawn([PROMTOOL, "check", "metrics"], { stdin: new TextEncoder().encode(text), stdout: "pipe", stderr: "pipe" });
  const out = (await new Response(p.stdout).text()) + (await new Response(p.stderr).text());
  const code = await p.exited;
  const contractNames =
    / (metric names should (be written in 'snake_case' not 'camelCase'|not contain abbreviated units)|non-histogram and non-summary metrics should not have "_count" suffix)$/;
  const problems = out.split("\n").filter((l) => l !== "" && !contractNames.test(l));
  expect({ code: code === 3 && problems.length === 0 ? 0 : code, problems }).toEqual({ code: 0, problems: [] });
}

describe.if(hasDist())("label names and values against the compiled agent", () => {
  let files: AgentFiles;
  let agent: Child;

  beforeAll(async () => {
    files = await agentFiles();
    writeFileSync(files.probesInit, 'baseinfo {"cmd":{"probe":["cpu","mem"]},"snoopers":{"custom_labels":{"team":"ops"}},"state":"running"}\n');
    agent = spawnAgent(cliArgs(files), { env: { GOPHER_LOG_STDERR: "0" } });
    await waitFor("first data", async () => ((await scrape(files.metricsPort)).includes('team="ops"') ? true : undefined), 20_000);
  });
  afterAll(async () => {
    await agent.stop();
    rmrf(files.dir);
  });

  test.each(BAD_NAMES)("%s: %j is refused with 400 and rolled back", async (_, name) => {
    for (const snoopers of [{ custom_labels: { [name]: "v" } }, { proc_name: [{ comm: "bash", label: { [name]: "v" } }] }]) {
      const r = await put(files.restPort, "baseinfo", { cmd: { probe: ["cpu"] }, snoopers });
      expect(r.status).toBe(400);
      const message = JSON.parse(r.body).message as string;
      const where = "custom_labels" in snoopers ? "snoopers.custom_labels" : "snoopers.proc_name";
      expect(message).toStartWith(`${where} invalid label name ${name === "" ? '""' : name}: `);
      if (name === "machine_id") expect(message).toContain("reserved for this probe: ");
    }
    // Rolled back: the subitems are still cpu,mem and the custom label is still team=ops.
    const doc = JSON.parse((await (await fetch(`http://127.0.0.1:${files.restPort}/baseinfo`)).text()));
    expect(doc.cmd.probe).toEqual(["cpu", "mem"]);
    const text = await scrape(files.metricsPort);
    expect(text).toContain('team="ops"');
    expect(text).not.toContain("forged_metric");
    expect(text).not.toContain(',v="');
  });

  test("hostile label values are escaped; the exposition passes promtool and has no forged series", async () => {
    // Quotes, a backslash, newlines and two bytes that are not UTF-8 (0xff 0xfe) in the body.
    const value = 'q"uote \\ back\nslash@@ x"} 1\nforged_metric{x="1"} 1\n# x';
    const text0 = `json=${JSON.stringify({ cmd: { probe: ["cpu", "mem"] }, snoopers: { custom_labels: { team: value } } })}`;
    const [before, after] = text0.split("@@") as [string, string];
    const enc = new TextEncoder();
    const body = new Uint8Array([...enc.encode(before), 0xff, 0xfe, ...enc.encode(after)]);
    const r = await fetch(`http://127.0.0.1:${files.restPort}/baseinfo`, { method: "PUT", body });
    expect(r.status).toBe(200);
    const text = await waitFor("the new label", async () => {
      const t = await scrape(files.metricsPort);
      return t.includes('team="q\\"uote') ? t : undefined;
    }, 15_000, 100);
    expect(text).toContain('team="q\\"uote \\\\ back\\nslash\ufffd\ufffd x\\"} 1\\nforged_metric{x=\\"1\\"} 1\\n# x"');
    expect(text.split("\n").filter((l) => l.startsWith("forged_metric"))).toEqual([]);
    for (const l of text.split("\n")) if (l && !l.startsWith("#")) expect(l).toStartWith("gala_gopher_");
    await promtoolClean(text);
  });

  test("after every refused request the exposition still passes promtool", async () => {
    await promtoolClean(await scrape(files.metricsPort));
  });
});

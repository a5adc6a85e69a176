// docs/adding-a-probe.md walks through a real probe: every code excerpt must still stand,
// line for line, in the tree (an elision is a line `// ...` or `/* ... */`), and every
// repository path it names must exist.
import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";

const ROOT = join(import.meta.dir, "..");
const DOC = readFileSync(join(ROOT, "docs", "adding-a-probe.md"), "utf8");

function sourceFiles(dir: string, out: string[] = []): string[] {
  for (const f of readdirSync(dir)) {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) {
      if (f !== "node_modules" && f !== "vmlinux") sourceFiles(p, out);
    } else if (/\.(ts|c|h)$/.test(f)) out.push(p);
  }
  return out;
}

/** The ```ts and ```c blocks of the doc, as runs of consecutive lines between elisions. */
function excerptRuns(doc: string): string[][] {
  const runs: string[][] = [];
  for (const m of doc.matchAll(/^```(?:ts|c)\n([^]*?)^```$/gm)) {
    let run: string[] = [];
    for (const line of m[1]!.replace(/\n$/, "").split("\n")) {
      if (/^\s*(\/\/|\/\*) \.\.\./.test(line)) {
        if (run.length) runs.push(run);
        run = [];
      } else run.push(line);
    }
    if (run.length) runs.push(run);
  }
  return runs;
}

describe("docs/adding-a-probe.md", () => {
  const texts = [...sourceFiles(join(ROOT, "src")), ...sourceFiles(join(ROOT, "bpf"))].map((f) => readFileSync(f, "utf8"));

  test("every code excerpt is in the tree, line for line", () => {
    const runs = excerptRuns(DOC);
    expect(runs.length).toBeGreaterThan(10);
    const missing = runs.filter((run) => !texts.some((t) => t.includes(`${run.join("\n")}\n`))).map((run) => run.join("\n"));
    expect(missing).toEqual([]);
  });

  test("every repository path it names exists", () => {
    const paths = new Set([...DOC.matchAll(/(?<![\w./<-])((?:src|bpf|bench|docs|scripts|test)\/[\w./-]+\.(?:ts|c|h|md))/g)].map((m) => m[1]!));
    expect(paths.size).toBeGreaterThan(20);
    expect([...paths].filter((p) => !existsSync(join(ROOT, p)))).toEqual([]);
  });
});

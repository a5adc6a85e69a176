// The /flamegraph page in headless Chromium (Debian's `chromium`): a frame-pointer program
// spending ~95 % of its CPU in hot_leaf is profiled, the period is written (and kept for
// the page), the page is loaded from the probe's handler; the DOM after its script ran
// names hot_leaf as the hottest frame and its frame is as wide as ≥ 75 % of the graph; a
// screenshot is taken. Skipped with the reason when not root, no kernel support or no
// Chromium (apt-get install chromium).
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PageRoutes } from "../../probe/pages.ts";
import { FlameRun } from "./index.ts";
import { compileFixture, flameContext, ListScope, rootPreflight } from "./test-kit.ts";

const chromium = ["chromium", "chromium-browser"].map((c) => Bun.spawnSync(["sh", "-c", `command -v ${c}`]).stdout.toString().trim()).find(Boolean) ?? "";
const can = rootPreflight("page.root.test", (f) => (!f.attach.perf_event.ok ? `perf_event programs unavailable: ${f.attach.perf_event.reason}` : chromium ? undefined : "no chromium (apt-get install chromium)"));
const scratch = mkdtempSync(join(tmpdir(), "gg-flame-page-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

async function chrome(args: string[]): Promise<string> {
  const p = Bun.spawn([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=10000", `--user-data-dir=${join(scratch, "profile")}`, ...args], {
    stdout: "pipe",
    stderr: "pipe",
  });
  const timer = setTimeout(() => p.kill(), 60_000);
  const [out] = await Promise.all([new Response(p.stdout).text(), p.exited]);
  clearTimeout(timer);
  return out;
}

describe("flame graph page", () => {
  test.if(can)("headless Chromium: hot_leaf is the hottest frame and the widest below its callers; screenshot", async () => {
    const exe = compileFixture("hotpath", ["-O0", "-fno-omit-frame-pointer"]);
    const child = Bun.spawn([exe, "3"], { stdout: "ignore" });
    const pages = new PageRoutes();
    const ctx = flameContext({ subitems: ["oncpu"], scope: new ListScope(new Set([child.pid])), params: { output_dir: scratch, flame_dir: scratch, svg_period: 1 }, pages });
    using server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: async (req) => (await pages.handle(new URL(req.url))) ?? new Response("not found\n", { status: 404 }) });
    try {
      const run = new FlameRun(ctx);
      try {
        await Bun.sleep(2500);
        await run.collect(); // svg_period 1 s has passed: the period is written and kept for the page
        const url = `http://127.0.0.1:${server.port}/flamegraph`;
        const data = (await (await fetch(`${url}/data`)).json()) as { periods: { type: string; stacks: unknown[] }[] };
        expect(data.periods.map((p) => p.type)).toEqual(["oncpu"]); // the written period (nothing read since)
        const dom = await chrome(["--dump-dom", url]);
        expect(dom).toContain('data-ready="1"');
        expect(/<body[^>]*data-hottest="([^"]*)"/.exec(dom)?.[1]).toBe("hot_leaf");
        const widths = [...dom.matchAll(/data-name="([^"]*)" data-value="(\d+)" data-self="(\d+)" data-width="([\d.]+)"/g)].map((m) => ({ name: m[1]!, width: Number(m[4]) }));
        const rootWidth = widths.find((w) => w.name === "all")!.width;
        const hot = widths.find((w) => w.name === "hot_leaf")!;
        const callers = new Set(["all", `[${child.pid}]hotpath`, "__libc_start_call_main", "main", "hot_caller"]);
        const widestOther = Math.max(...widths.filter((w) => !callers.has(w.name)).map((w) => w.width));
        console.log(`page: hot_leaf ${hot.width} px of ${rootWidth}; widest frame other than its callers: ${widestOther} px`);
        expect(hot.width).toBe(widestOther);
        expect(hot.width / rootWidth).toBeGreaterThanOrEqual(0.75);
        const png = join(scratch, "flamegraph.png");
        await chrome([`--screenshot=${png}`, "--window-size=1200,500", url]);
        expect(existsSync(png) && statSync(png).size > 5000).toBe(true);
      } finally {
        await run[Symbol.asyncDispose]();
      }
      expect(pages.handle(new URL(`http://h/flamegraph`))).toBeUndefined(); // gone with the run
    } finally {
      child.kill();
      ctx.kit.close();
    }
  }, 120_000);
});

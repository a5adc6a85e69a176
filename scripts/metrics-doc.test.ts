import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { metricsReference } from "./metrics-doc.ts";

test("docs/metrics.md is up to date (run `bun run docs`)", () => {
  expect(readFileSync(join(import.meta.dir, "..", "docs", "metrics.md"), "utf8")).toBe(metricsReference());
});

import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "../harness.ts";
import { firstReadmeCommand, ReadmeCommandError } from "./readme.ts";

describe("firstReadmeCommand", () => {
  test("README.md: the set-up script, then the tests", () => {
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    expect(firstReadmeCommand(readme)).toMatch(/^bash scripts\/quickstart\.sh(\s+#.*)?$/);
    // The second line of the block is the README's second command.
    const block = /```sh\n([\s\S]*?)```/.exec(readme)![1]!.split("\n");
    expect(block[1]).toMatch(/^bun run test:all(\s+#.*)?$/);
  });

  test("the first command of the first sh block, comments and blank lines skipped; other blocks ignored", () => {
    expect(firstReadmeCommand("# t\n\n```bash\nno\n```\n```sh\n\n# note\n  make all   # build\nmake test\n```\n```sh\nlater\n```\n")).toBe("make all   # build");
  });

  test("no sh block, or an empty one: an error that says so", () => {
    expect(() => firstReadmeCommand("# t\n```bash\nx\n```\n")).toThrow(ReadmeCommandError);
    expect(() => firstReadmeCommand("```sh\n# only a comment\n```\n")).toThrow("holds no command");
  });
});

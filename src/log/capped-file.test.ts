import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { rmrf, tempDir } from "../../test/harness.ts";
import { CappedFile } from "./capped-file.ts";
import { DropTally, writeFailureOf } from "./drops.ts";

const dir = tempDir("gg-capped-");
afterAll(() => rmrf(dir));

describe("CappedFile", () => {
  test("creates its directory, appends, truncates or rotates at the cap", () => {
    const drops = new DropTally();
    const t = new CappedFile(join(dir, "a", "b", "log"), { maxBytes: 10, onFull: "truncate", channel: "metric_log", drops });
    expect(t.append("12345\n")).toBe(1);
    expect(t.append("678\n")).toBe(1);
    expect(t.append("abc\n")).toBe(1);
    expect(readFileSync(join(dir, "a", "b", "log"), "utf8")).toBe("abc\n");
    const r = new CappedFile(join(dir, "rot"), { maxBytes: 10, onFull: "rotate", channel: "event_log", drops });
    r.append("12345\n");
    r.append("6789\n");
    r.append("x\n");
    expect(readFileSync(join(dir, "rot.1"), "utf8")).toBe("12345\n");
    expect(readFileSync(join(dir, "rot"), "utf8")).toBe("6789\nx\n");
    expect(drops.total("metric_log") + drops.total("event_log")).toBe(0);
  });

  test("a directory that cannot be created: nothing throws, lines counted, retried after retryMs", () => {
    let now = 0;
    const drops = new DropTally();
    const changes: (string | undefined)[] = [];
    const blocker = join(dir, "blocker");
    writeFileSync(blocker, "a file where the directory should be");
    const f = new CappedFile(join(blocker, "sub", "log"), {
      maxBytes: 1000,
      onFull: "rotate",
      channel: "meta_log",
      drops,
      retryMs: 1000,
      now: () => now,
      onChange: (failing) => changes.push(failing),
    });
    expect(f.append("one\ntwo\n")).toBe(0);
    expect(drops.total("meta_log")).toBe(2);
    rmSync(blocker);
    now = 999;
    expect(f.append("three\n")).toBe(0); // not retried yet
    now = 1000;
    expect(f.append("four\n")).toBe(1);
    expect(readFileSync(join(blocker, "sub", "log"), "utf8")).toBe("four\n");
    expect(drops.total("meta_log")).toBe(3);
    expect(changes).toEqual(["write_error", undefined]);
  });

  test("attach() hands earlier drops to the counter, by channel and reason", () => {
    const drops = new DropTally();
    drops.add("debug_log", "read_only", 2);
    const seen: [string, string, number][] = [];
    drops.attach({ inc: (l, n) => seen.push([l.channel, l.reason, n]) });
    drops.add("debug_log", "no_space", 1);
    expect(seen).toEqual([
      ["debug_log", "read_only", 2],
      ["debug_log", "no_space", 1],
    ]);
  });

  test("errno to reason", () => {
    const e = (code: string) => Object.assign(new Error(code), { code });
    expect([e("ENOSPC"), e("EDQUOT"), e("EROFS"), e("EACCES"), e("EIO")].map(writeFailureOf)).toEqual([
      "no_space",
      "no_space",
      "read_only",
      "no_permission",
      "write_error",
    ]);
  });
});

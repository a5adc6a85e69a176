import { afterAll, describe, expect, test } from "bun:test";
import { lstatSync, mkdirSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { rmrf, tempDir } from "../../test/harness.ts";
import { AtomicWriteError, writeFileAtomic } from "./atomic-file.ts";

const dir = tempDir("gg-atomic-");
afterAll(() => rmrf(dir));

describe("writeFileAtomic", () => {
  test("creates, then replaces; keeps the old mode; leaves no temporary file", () => {
    const p = join(dir, "probes.init");
    writeFileAtomic(p, "one\n", { mode: 0o600 });
    expect(readFileSync(p, "utf8")).toBe("one\n");
    expect(statSync(p).mode & 0o777).toBe(0o600);
    const inode = statSync(p).ino;
    writeFileAtomic(p, "two\n", { mode: 0o644 });
    expect(readFileSync(p, "utf8")).toBe("two\n");
    expect(statSync(p).mode & 0o777).toBe(0o600);
    expect(statSync(p).ino).not.toBe(inode); // a new file was renamed over the old one
    expect(readdirSync(dir).filter((f) => f.endsWith(".tmp"))).toEqual([]);
  });

  test("a symlink at the path is replaced, not followed", () => {
    const victim = join(dir, "victim");
    writeFileSync(victim, "precious\n");
    const p = join(dir, "machine_id");
    symlinkSync(victim, p);
    writeFileAtomic(p, "id\n", { mode: 0o440 });
    expect(readFileSync(victim, "utf8")).toBe("precious\n");
    expect(lstatSync(p).isSymbolicLink()).toBe(false);
    expect(statSync(p).mode & 0o777).toBe(0o440);
  });

  test("a failing rename keeps the old target, removes the temporary file and says why", () => {
    const p = join(dir, "is-a-dir");
    mkdirSync(join(p, "child"), { recursive: true });
    let err: unknown;
    try {
      writeFileAtomic(p, "x");
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(AtomicWriteError);
    expect((err as AtomicWriteError).code).toBe("EATOMICWRITE");
    expect((err as AtomicWriteError).step).toBe("rename");
    expect((err as Error).message).toStartWith(`${p}: rename failed: `);
    expect((err as Error).message).toEndWith("; the previous file is kept");
    expect(readdirSync(p)).toEqual(["child"]);
    expect(readdirSync(dir).filter((f) => f.endsWith(".tmp"))).toEqual([]);
  });

  test("a missing directory fails at create", () => {
    expect(() => writeFileAtomic(join(dir, "nope", "f"), "x")).toThrow(/: create failed: .*ENOENT/);
  });
});

import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HostFs } from "./fs.ts";
import { formatMachineId, isPlaceholderUuid, resolveMachineIdentity } from "./machine-id.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A fake host: rootfs with /etc/machine-id and /opt/gala-gopher, sysfs with product_uuid. */
function host(o: { product?: string; etc?: string; saved?: string }): { fs: HostFs; root: string } {
  const root = mkdtempSync(join(tmpdir(), "gg-mid-"));
  dirs.push(root);
  const sys = join(root, "sys");
  mkdirSync(join(sys, "class/dmi/id"), { recursive: true });
  mkdirSync(join(root, "etc"), { recursive: true });
  mkdirSync(join(root, "proc/net"), { recursive: true });
  writeFileSync(join(root, "proc/net/fib_trie"), "");
  if (o.product !== undefined) writeFileSync(join(sys, "class/dmi/id/product_uuid"), o.product + "\n");
  if (o.etc !== undefined) writeFileSync(join(root, "etc/machine-id"), o.etc + "\n");
  if (o.saved !== undefined) {
    mkdirSync(join(root, "opt/gala-gopher"), { recursive: true });
    writeFileSync(join(root, "opt/gala-gopher/machine_id"), o.saved + "\n");
  }
  return { fs: new HostFs({ procfs: join(root, "proc"), sysfs: sys, rootfs: root }), root };
}

const ETC = "0123456789abcdef0123456789abcdef";
const ETC_UUID = "01234567-89ab-cdef-0123-456789abcdef";
const PRODUCT = "4C4C4544-0042-3510-8051-B4C04F4A4B32";

describe("machine id", () => {
  test("product_uuid first, lower-cased, and persisted with mode 0440", () => {
    const { fs, root } = host({ product: PRODUCT, etc: ETC });
    const id = resolveMachineIdentity(fs, { persist: true });
    expect(id.source).toBe("product_uuid");
    expect(id.uuid).toBe(PRODUCT.toLowerCase());
    const file = join(root, "opt/gala-gopher/machine_id");
    expect(readFileSync(file, "utf8")).toBe(PRODUCT.toLowerCase() + "\n");
    expect(statSync(file).mode & 0o777).toBe(0o440);
  });

  test("a placeholder product_uuid (all zeros, all ones) is skipped: /etc/machine-id is used", () => {
    expect(isPlaceholderUuid("00000000-0000-0000-0000-000000000000")).toBe(true);
    expect(isPlaceholderUuid("FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF")).toBe(true);
    expect(isPlaceholderUuid(PRODUCT)).toBe(false);
    for (const p of ["00000000-0000-0000-0000-000000000000", "ffffffff-ffff-ffff-ffff-ffffffffffff"]) {
      const { fs } = host({ product: p, etc: ETC });
      const id = resolveMachineIdentity(fs, { persist: true });
      expect(id.source).toBe("etc machine-id");
      expect(id.uuid).toBe(ETC_UUID);
    }
  });

  test("the persisted file wins over /etc/machine-id when there is no product_uuid", () => {
    const saved = "11111111-2222-3333-4444-555555555555";
    const { fs } = host({ etc: ETC, saved });
    expect(resolveMachineIdentity(fs, { persist: true })).toMatchObject({ source: "machine_id file", uuid: saved });
  });

  test("nothing usable: a random uuid, persisted so the next start keeps it", () => {
    const { fs } = host({ etc: "uninitialized" });
    const a = resolveMachineIdentity(fs, { persist: true });
    expect(a.source).toBe("random");
    const b = resolveMachineIdentity(fs, { persist: true });
    expect(b).toMatchObject({ source: "machine_id file", uuid: a.uuid });
  });

  test("a symlink at /opt/gala-gopher/machine_id is not followed when persisting", () => {
    const { fs, root } = host({ product: PRODUCT });
    mkdirSync(join(root, "opt/gala-gopher"), { recursive: true });
    const victim = join(root, "victim");
    writeFileSync(victim, "precious\n");
    symlinkSync(victim, join(root, "opt/gala-gopher/machine_id"));
    const id = resolveMachineIdentity(fs, { persist: true });
    expect(id.uuid).toBe(PRODUCT.toLowerCase());
    expect(readFileSync(victim, "utf8")).toBe("precious\n");
  });

  test("persist: false writes nothing", () => {
    const { fs, root } = host({ product: PRODUCT });
    resolveMachineIdentity(fs, { persist: false });
    expect(existsSync(join(root, "opt/gala-gopher/machine_id"))).toBe(false);
  });

  test("formatMachineId: 32 hex digits or a uuid; anything else is rejected", () => {
    expect(formatMachineId(ETC)).toBe(ETC_UUID);
    expect(formatMachineId(" " + PRODUCT + "\n")).toBe(PRODUCT.toLowerCase());
    expect(formatMachineId("uninitialized")).toBeUndefined();
    expect(formatMachineId("")).toBeUndefined();
  });
});

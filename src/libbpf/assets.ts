// Where BPF objects and the shared libraries come from: embedded in the executable
// (scripts/build.ts), or, when running from a source checkout, the build directory
// dist/bpf/ that scripts/bpf.ts fills (GOPHER_BPF_OUT overrides it).
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { EMBEDDED } from "./embedded.ts";

const SOURCE_ROOT = join(import.meta.dir, "..", "..");

export function bpfOutDir(): string {
  return process.env.GOPHER_BPF_OUT || join(SOURCE_ROOT, "dist", "bpf");
}

export type LibName = "libz" | "libelf" | "libbpf";
export const LIB_FILES: Record<LibName, string> = { libz: "libz.so.1", libelf: "libelf.so.1", libbpf: "libbpf.so.1" };

/** True when the executable carries its own objects (a compiled build). */
export function isEmbeddedBuild(): boolean {
  return Object.keys(EMBEDDED.objects).length > 0;
}

/** Path of the object `<name>.bpf.o`: embedded, else the build directory; undefined when absent. */
export function bpfObjectPath(name: string): string | undefined {
  const e = EMBEDDED.objects[name];
  if (e) return e;
  const p = join(bpfOutDir(), `${name}.bpf.o`);
  return existsSync(p) ? p : undefined;
}

/** The bytes of `<name>.bpf.o`; throws with a hint when it was never built. */
export function bpfObjectBytes(name: string): Uint8Array {
  const p = bpfObjectPath(name);
  if (!p) throw new Error(`BPF object ${name}.bpf.o not found in ${bpfOutDir()} (build it with: bun run scripts/bpf.ts)`);
  return new Uint8Array(readFileSync(p));
}

/** Paths of the bundled libz, libelf and libbpf copies, in load order (missing ones omitted). */
export function bundledLibraries(): { name: LibName; path: string }[] {
  const out: { name: LibName; path: string }[] = [];
  for (const name of ["libz", "libelf", "libbpf"] as const) {
    const e = EMBEDDED.libs[name];
    if (e) {
      out.push({ name, path: e });
      continue;
    }
    const p = join(bpfOutDir(), "lib", LIB_FILES[name]);
    if (existsSync(p)) out.push({ name, path: p });
  }
  return out;
}

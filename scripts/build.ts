// Builds dist/gala-gopher: one executable (bun build --compile) with version and commit
// fixed in. The eBPF objects (scripts/bpf.ts) and libbpf, libelf and libz are embedded as
// file assets: the module src/libbpf/embedded.ts is replaced at bundle time by one that
// imports them `with { type: "file" }`.
import { existsSync, mkdirSync } from "node:fs";
import { basename, join } from "node:path";
import type { BunPlugin } from "bun";
import { ensureBpf } from "./bpf.ts";
import { SHARED_BUILD_OPTIONS } from "./build-options.ts";

const root = join(import.meta.dir, "..");
const bytecodeOrder = join(root, "scripts", "bytecode.order");
const git = Bun.spawnSync(["git", "rev-parse", "--short=12", "HEAD"], { cwd: root, stderr: "ignore" });
const sha = git.stdout.toString().trim() || "unknown";
const dirty = Bun.spawnSync(["git", "status", "--porcelain", "--untracked-files=no"], { cwd: root, stderr: "ignore" }).stdout.toString().trim();
const commit = dirty ? `${sha}-dirty` : sha;
mkdirSync(join(root, "dist"), { recursive: true });
const t0 = performance.now();
const bpf = ensureBpf();
/** Objects that ship (probe objects and runtime helpers; test objects stay out). */
const shipped = bpf.objects.filter((o) => !["selftest", "dropper"].includes(basename(o, ".bpf.o")));
const embedBpf: BunPlugin = {
  name: "embed-bpf",
  setup(b) {
    b.onLoad({ filter: /src[\\/]libbpf[\\/]embedded\.ts$/ }, () => {
      const lines: string[] = [];
      const objects: string[] = [];
      const libs: string[] = [];
      shipped.forEach((o, i) => {
        lines.push(`import o${i} from ${JSON.stringify(o)} with { type: "file" };`);
        objects.push(`${JSON.stringify(basename(o, ".bpf.o"))}: o${i}`);
      });
      bpf.libs.forEach((l, i) => {
        lines.push(`import l${i} from ${JSON.stringify(l)} with { type: "file" };`);
        libs.push(`${JSON.stringify(basename(l).replace(/\.so\.1$/, ""))}: l${i}`);
      });
      lines.push(`export const EMBEDDED = { objects: { ${objects.join(", ")} }, libs: { ${libs.join(", ")} } };`);
      return { loader: "ts", contents: lines.join("\n") };
    });
  },
};
const result = await Bun.build({
  entrypoints: [join(root, "src/main.ts")],
  // The bytecode baseinfo cpu,mem runs, first (scripts/record-bytecode-order.ts): RssFile −2 MiB.
  compile: { outfile: join(root, "dist/gala-gopher"), bytecodeOrder: existsSync(bytecodeOrder) && bytecodeOrder },
  ...SHARED_BUILD_OPTIONS,
  define: { GALA_GOPHER_COMMIT: JSON.stringify(commit) },
  plugins: [embedBpf],
});
if (!result.success) {
  for (const l of result.logs) console.error(l);
  console.error("build failed");
  process.exit(1);
}
console.log(`built dist/gala-gopher (commit ${commit}, ${shipped.length} BPF objects, ${bpf.libs.length} libraries embedded) in ${Math.round(performance.now() - t0)} ms`);

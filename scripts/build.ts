// Builds dist/gala-gopher: one executable (bun build --compile) with version and commit
// fixed in. The eBPF objects (scripts/bpf.ts) and libbpf, libelf and libz are embedded as
// file assets: the module src/libbpf/embedded.ts is replaced at bundle time by one that
// imports them `with { type: "file" }`.
//
// Runtime: on x86-64 Bun's *baseline* runtime (bun-linux-x64-baseline), the one Bun builds
// for x86-64-v2 CPUs without AVX2. No Bun runtime runs on x86-64-v1 (qemu's qemu64 model:
// SIGILL): SSSE3, SSE4.1, SSE4.2 and POPCNT are the floor. Bun fetches the runtime from the
// npm registry the first time (cached under ~/.bun). What it costs beside the default
// runtime, and which CPUs were tried: bench/baseline.ts, docs/performance-baseline.md.
//
// Usage: bun run scripts/build.ts [--target <bun-linux-...>] [--outfile <path>]
import { existsSync, mkdirSync } from "node:fs";
import { basename, dirname, join, relative, resolve } from "node:path";
import type { BunPlugin } from "bun";
import { bpfSources, ensureBpf } from "./bpf.ts";
import { DEFAULT_COMPILE_TARGET, SHARED_BUILD_OPTIONS } from "./build-options.ts";

const root = join(import.meta.dir, "..");
const bytecodeOrder = join(root, "scripts", "bytecode.order");


class BuildArgumentError extends Error {
  readonly code = "BUILD_ARGUMENT";
}

function buildArgs(argv: string[]): { target: Bun.Build.CompileTarget; outfile: string } {
  let target: string = DEFAULT_COMPILE_TARGET;
  let outfile = join(root, "dist/gala-gopher");
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const v = argv[i + 1];
    if (a === "--target" || a === "--outfile") {
      if (v === undefined || v.startsWith("--")) throw new BuildArgumentError(`${a} needs a value`);
      if (a === "--target") target = v;
      else outfile = resolve(v);
      i++;
    } else throw new BuildArgumentError(`unknown argument '${a}' (use --target <bun-linux-...> or --outfile <path>)`);
  }
  if (!/^bun-linux-(x64|arm64)(-(baseline|modern))?(-(glibc|musl))?$/.test(target)) {
    throw new BuildArgumentError(`--target '${target}' is not a Linux compile target such as bun-linux-x64-baseline or bun-linux-x64`);
  }
  return { target: target as Bun.Build.CompileTarget, outfile };
}

let args: ReturnType<typeof buildArgs>;
try {
  args = buildArgs(process.argv.slice(2));
} catch (e) {
  console.error(`build: ${(e as Error).message}`);
  process.exit(2);
}
const git = Bun.spawnSync(["git", "rev-parse", "--short=12", "HEAD"], { cwd: root, stderr: "ignore" });
const sha = git.stdout.toString().trim() || "unknown";
const dirty = Bun.spawnSync(["git", "status", "--porcelain", "--untracked-files=no"], { cwd: root, stderr: "ignore" }).stdout.toString().trim();
const commit = dirty ? `${sha}-dirty` : sha;
mkdirSync(dirname(args.outfile), { recursive: true });
const t0 = performance.now();
const bpf = ensureBpf();
/** Objects that ship (probe objects and runtime helpers; test objects stay out). */
const testObjects = new Set(bpfSources().filter((s) => s.src.includes(`${join("src", "libbpf", "testdata")}/`) || s.src.includes(`${join("l7", "tls", "testdata")}/`)).map((s) => s.name));
const shipped = bpf.objects.filter((o) => !testObjects.has(basename(o, ".bpf.o")));
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
  compile: { outfile: args.outfile, target: args.target, bytecodeOrder: existsSync(bytecodeOrder) && bytecodeOrder },
  ...SHARED_BUILD_OPTIONS,
  define: { GALA_GOPHER_COMMIT: JSON.stringify(commit) },
  plugins: [embedBpf],
});
if (!result.success) {
  for (const l of result.logs) console.error(l);
  console.error("build failed");
  process.exit(1);
}
const shown = args.outfile.startsWith(`${root}/`) ? relative(root, args.outfile) : args.outfile;
console.log(`built ${shown} (${args.target}, commit ${commit}, ${shipped.length} BPF objects, ${bpf.libs.length} libraries embedded) in ${Math.round(performance.now() - t0)} ms`);

// The Bun.build options every compiled executable of this repository shares: the agent
// (scripts/build.ts) and the bench's runtime floor (bench/floor.ts), so that the floor is
// measured with exactly the agent's bundling and runtime settings (and the same runtime,
// DEFAULT_COMPILE_TARGET).
import type { BuildConfig } from "bun";

export const SHARED_BUILD_OPTIONS = {
  minify: true,
  // Precompiled JavaScriptCore bytecode: the runtime parses and compiles nothing at start.
  // Measured on the agent (2-core VM): module loading 30-36 ms → 10 ms, `--version`
  // 0.08 → 0.02 s, VmRSS of `--version` 43.4 → 41.5 MiB; the executable grows by 4 MB.
  bytecode: true,
  // Bytecode builds default to CommonJS; the entry point uses top-level await.
  format: "esm",
} as const satisfies Partial<BuildConfig>;

/** The runtime every package uses: Bun's baseline runtime on x86-64 (see scripts/build.ts). */
export const DEFAULT_COMPILE_TARGET: Bun.Build.CompileTarget = process.arch === "arm64" ? "bun-linux-arm64" : "bun-linux-x64-baseline";

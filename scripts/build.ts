// Builds dist/gala-gopher: one executable (bun build --compile) with version and commit
// fixed in. Later issues add the eBPF objects as embedded assets here.
import { mkdirSync } from "node:fs";
import { join } from "node:path";

const root = join(import.meta.dir, "..");
const git = Bun.spawnSync(["git", "rev-parse", "--short=12", "HEAD"], { cwd: root, stderr: "ignore" });
const sha = git.stdout.toString().trim() || "unknown";
const dirty = Bun.spawnSync(["git", "status", "--porcelain", "--untracked-files=no"], { cwd: root, stderr: "ignore" }).stdout.toString().trim();
const commit = dirty ? `${sha}-dirty` : sha;
mkdirSync(join(root, "dist"), { recursive: true });
const t0 = performance.now();
const result = await Bun.build({
  entrypoints: [join(root, "src/main.ts")],
  compile: { outfile: join(root, "dist/gala-gopher") },
  minify: true,
  define: { GALA_GOPHER_COMMIT: JSON.stringify(commit) },
});
if (!result.success) {
  for (const l of result.logs) console.error(l);
  console.error("build failed");
  process.exit(1);
}
console.log(`built dist/gala-gopher (commit ${commit}) in ${Math.round(performance.now() - t0)} ms`);

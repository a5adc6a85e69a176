// Writing a period's flame graphs as upstream lays them out: the SVG of each type under
// <output_dir or /var/log/gala-gopher/stacktrace>/<type>/<YYYYMMDD>/<HHMMSS>.svg (and
// <HHMMSS>-<pid>.svg per process when multi_instance is 1), the folded stacks under
// <flame_dir>/<type>/<YYYYMMDD-HHMMSS>[-<pid>].folded, and the same as a pprof profile
// (<...>.pb.gz, beyond upstream). These are the agent's own output
// files, not host reads. After each write the two trees are kept within a disk budget,
// oldest files removed first.
import { mkdir, readdir, rename, rm, rmdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";

export const DEFAULT_SVG_DIR = "/var/log/gala-gopher/stacktrace";

const pad = (n: number, w = 2) => String(n).padStart(w, "0");

/** Local date and time stamps of `d`: YYYYMMDD and HHMMSS. */
export function stamps(d: Date): { day: string; time: string } {
  return { day: `${d.getFullYear()}${pad(d.getMonth() + 1)}${pad(d.getDate())}`, time: `${pad(d.getHours())}${pad(d.getMinutes())}${pad(d.getSeconds())}` };
}

export interface OutputFile {
  readonly path: string;
  readonly text: string | Uint8Array;
}

export interface FlameFilesOptions {
  readonly svgDir: string;
  readonly foldedDir: string;
  readonly type: string;
  readonly at: Date;
}

/** The paths of a period's files (pid: the per-process file of multi_instance). */
export function flamePaths(o: FlameFilesOptions, pid?: number): { svg: string; folded: string; pprof: string } {
  const { day, time } = stamps(o.at);
  const suffix = pid === undefined ? "" : `-${pid}`;
  const base = join(o.foldedDir, o.type, `${day}-${time}${suffix}`);
  return { svg: join(o.svgDir, o.type, day, `${time}${suffix}.svg`), folded: `${base}.folded`, pprof: `${base}.pb.gz` };
}

/** Writes files, creating their directories; every file is written whole (temporary name, then rename). */
export async function writeFiles(files: readonly OutputFile[]): Promise<void> {
  for (const f of files) {
    await mkdir(join(f.path, ".."), { recursive: true });
    const tmp = `${f.path}.tmp`;
    await writeFile(tmp, f.text);
    await rename(tmp, f.path);
  }
}

interface FileInfo {
  readonly path: string;
  readonly size: number;
  readonly mtimeMs: number;
}

async function listTree(dir: string, out: FileInfo[], depth = 0): Promise<void> {
  if (depth > 3) return;
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return;
  }
  for (const n of names) {
    const p = join(dir, n);
    const st = await stat(p).catch(() => undefined);
    if (!st) continue;
    if (st.isDirectory()) await listTree(p, out, depth + 1);
    else if (st.isFile() && (n.endsWith(".svg") || n.endsWith(".folded") || n.endsWith(".pb.gz"))) out.push({ path: p, size: st.size, mtimeMs: st.mtimeMs });
  }
}

/**
 * Removes the oldest flame graph files under `dirs` (this probe's type directories) until
 * they hold at most `budgetBytes`; empty day directories go too. Returns the files removed.
 */
export async function enforceBudget(dirs: readonly string[], budgetBytes: number): Promise<number> {
  const files: FileInfo[] = [];
  for (const d of new Set(dirs)) await listTree(d, files);
  let total = files.reduce((s, f) => s + f.size, 0);
  if (total <= budgetBytes) return 0;
  files.sort((a, b) => a.mtimeMs - b.mtimeMs || (a.path < b.path ? -1 : 1));
  let removed = 0;
  for (const f of files) {
    if (total <= budgetBytes) break;
    await rm(f.path, { force: true });
    total -= f.size;
    removed++;
    await rmdir(join(f.path, "..")).catch(() => undefined); // only when now empty
  }
  return removed;
}

// baseinfo subitem `con`: table system_con_io, one row per container in the probe's
// scope: how many bytes per second were written into the `elf_path` directory inside
// the container, from the growth of the directory's size between two reports.
//
// Upstream runs `du -sb <container merged dir>/<elf_path>` every period. Here:
// * the container's root is `/proc/<pid>/root` of one of its processes (the first pid of
//   `cgroup.procs` under `<sysfs>/fs/cgroup/<cgroup path>`, v2 or the v1 memory, pids,
//   cpu,cpuacct or systemd hierarchy), else the containerd bundle's mounted `rootfs`
//   (`/run/containerd/io.containerd.runtime.v2.task/<namespace>/<id>/rootfs`);
// * the size is du -sb's: the apparent size (st_size) of the directory and everything
//   below it, symlinks not followed, hard-linked files counted once — walked in-process
//   with lstat, bounded to MAX_WALK_ENTRIES entries and MAX_WALK_DEPTH levels. A walk
//   that hits a bound is not comparable with the previous one: the container's row is
//   skipped for that period and a warning is logged once per container;
// * write_rate = (size now − size one report earlier) / interval, bytes/s, rounded down
//   (upstream's integer division). A shrinking directory reports 0 (upstream's unsigned
//   subtraction wrapped around). The first report after start or reconfiguration has no
//   row (no bogus delta). `elf_path` "" (unset) reports nothing (logged once).
import { join } from "node:path";
import { DEFAULT_HOST_PATHS, HostFs } from "../../host/fs.ts";
import type { ContainerInfo, ProbeContext } from "../../probe/define.ts";
import { intervalSeconds, type Collector, type CollectorDeps } from "./collector.ts";
import { systemConIoTable } from "./tables-proc.ts";
import { parseUptime } from "./text.ts";

export const MAX_WALK_ENTRIES = 20_000;
export const MAX_WALK_DEPTH = 32;

export interface DirSize {
  /** Bytes (du -sb), when the walk completed. */
  readonly bytes?: number;
  /** Why the walk stopped early, or the directory is missing. */
  readonly error?: "missing" | "too many entries" | "too deep";
  readonly entries: number;
}

/** The host reads dirSize needs (ctx.host; the agent's own file system by default). */
export type DirFs = Pick<HostFs, "lstat" | "list">;
const LOCAL_FS: DirFs = new HostFs(DEFAULT_HOST_PATHS);

/** du -sb of `dir` with bounds; never throws (unreadable entries are skipped). */
export function dirSize(dir: string, maxEntries = MAX_WALK_ENTRIES, maxDepth = MAX_WALK_DEPTH, fs: DirFs = LOCAL_FS): DirSize {
  const root = fs.lstat(dir);
  if (!root) return { error: "missing", entries: 0 };
  if (!root.isDirectory()) return { bytes: root.size, entries: 1 };
  let bytes = root.size;
  let entries = 1;
  const seen = new Set<string>();
  const stack: [string, number][] = [[dir, 0]];
  while (stack.length) {
    const [d, depth] = stack.pop()!;
    for (const n of fs.list(d)) {
      if (++entries > maxEntries) return { error: "too many entries", entries };
      const p = join(d, n);
      const st = fs.lstat(p);
      if (!st) continue;
      if (st.nlink > 1 && !st.isDirectory()) {
        const key = `${st.dev}:${st.ino}`;
        if (seen.has(key)) continue;
        seen.add(key);
      }
      bytes += st.size;
      if (st.isDirectory()) {
        if (depth + 1 > maxDepth) return { error: "too deep", entries };
        stack.push([p, depth + 1]);
      }
    }
  }
  return { bytes, entries };
}

const V1_HIERARCHIES = ["memory", "pids", "cpu,cpuacct", "cpuacct", "systemd", "unified"];

/** The root directory of a container as the host sees it, or undefined. */
export function containerRoot(host: HostFs, c: ContainerInfo): string | undefined {
  if (c.cgroupPath) {
    for (const h of ["", ...V1_HIERARCHIES]) {
      const procs = host.read(host.sys("fs", "cgroup", h, c.cgroupPath, "cgroup.procs"));
      const first = procs?.split("\n").find((l) => /^\d+$/.test(l));
      if (first) {
        const root = host.proc(first, "root");
        if (host.exists(root)) return root;
      }
    }
  }
  const base = host.root("run", "containerd", "io.containerd.runtime.v2.task");
  for (const ns of host.list(base)) {
    const id = host.list(join(base, ns)).find((x) => x.startsWith(c.id) && /^[0-9a-f]{64}$/.test(x));
    if (id) return join(base, ns, id, "rootfs");
  }
  return undefined;
}

/** write_rate from two sizes; undefined without a usable interval. */
export function writeRate(prevBytes: number | undefined, curBytes: number, secs: number | undefined): number | undefined {
  if (prevBytes === undefined || secs === undefined || secs <= 0) return undefined;
  return Math.max(0, Math.floor((curBytes - prevBytes) / secs));
}

export function createConCollector(ctx: ProbeContext, deps: CollectorDeps): Collector {
  let prev = new Map<string, number>();
  let prevTime: { uptime?: number; mono: number } | undefined;
  let warnedUnset = false;
  const warned = new Set<string>();
  return {
    reset() {
      prev = new Map();
      prevTime = undefined;
    },
    collect() {
      const dirParam = ctx.params.elf_path;
      const dir = typeof dirParam === "string" ? dirParam : "";
      if (!dir) {
        if (!warnedUnset) ctx.log.warn("subitem con: elf_path is not set; nothing to measure");
        warnedUnset = true;
        return;
      }
      const up = ctx.host.readProc("uptime");
      const now = { uptime: up === undefined ? undefined : parseUptime(up).seconds, mono: deps.monotonicSeconds() };
      const secs = intervalSeconds(prevTime, now);
      const next = new Map<string, number>();
      for (const c of ctx.scope.containers().values()) {
        const root = containerRoot(ctx.host, c);
        if (!root) continue;
        const size = dirSize(join(root, dir), MAX_WALK_ENTRIES, MAX_WALK_DEPTH, ctx.host);
        if (size.bytes === undefined) {
          if (size.error !== "missing" && !warned.has(c.id)) {
            warned.add(c.id);
            ctx.log.warn(`subitem con: container ${c.id}: ${dir} has ${size.error} (bounds ${MAX_WALK_ENTRIES} entries, depth ${MAX_WALK_DEPTH}); not reported`);
          }
          if (size.error !== "missing") ctx.parseError(`container ${c.id} ${dir}`, size.error);
          continue;
        }
        next.set(c.id, size.bytes);
        const rate = writeRate(prev.get(c.id), size.bytes, secs);
        if (rate !== undefined) ctx.emit(systemConIoTable, { container_id: c.id, dir, write_rate: rate });
      }
      prev = next;
      prevTime = now;
    },
  };
}

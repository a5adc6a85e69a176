// baseinfo subitem fs: table system_df, one row per mounted file system, what `df -T` and
// `df -T -i` print (upstream runs both), computed from /proc/mounts and statfs(2):
//   Blocks = f_blocks, Used = f_blocks − f_bfree, Free = f_bavail (KiB, rounded up as df
//   does), UsePer = ⌈100 × Used / (Used + Free)⌉ (df's percentage: space usable by
//   non-root users); Inodes = f_files, IUsed = f_files − f_ffree, IFree = f_ffree,
//   IUsePer = ⌈100 × IUsed / Inodes⌉. A percentage df prints as "-" (no inodes, as on
//   btrfs or vfat) is not reported. MountStatus is the rw/ro mount option.
//
// Which mounts (df's own rules, not /proc/filesystems "nodev", which would also drop
// NFS, overlay and FUSE mounts an operator expects to see): kernel pseudo file systems
// (proc, sysfs, cgroup, devpts, tracefs, …) are skipped by type; any file system with
// zero blocks is skipped (df hides those); a mount point mounted over is reported once
// (the visible, last mount); a block device mounted at several places (bind mounts) is
// reported once, at its shortest mount point. tmpfs, devtmpfs, overlay, NFS, FUSE stay.
import type { ProbeContext } from "../../probe/define.ts";
import type { Row } from "../../store/table.ts";
import { reportErrors, type Collector, type CollectorDeps, type StatfsResult } from "./collector.ts";
import { systemDfTable } from "./tables.ts";
import { completeLines, short, words } from "./text.ts";

export interface MountEntry {
  readonly fsname: string;
  readonly mountPoint: string;
  readonly type: string;
  readonly options: readonly string[];
}

export interface Mounts {
  /** Entries in file order. */
  readonly entries: MountEntry[];
  readonly errors: string[];
}

/** Undoes the kernel's octal escapes of /proc/mounts fields (\040 space, \011 tab, \012 newline, \134 backslash). */
export function unescapeMountField(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
}

/** /proc/mounts: `fsname mountpoint type options dump pass` per line. */
export function parseMounts(text: string): Mounts {
  const errors: string[] = [];
  const entries: MountEntry[] = [];
  completeLines(text, errors, "mounts").forEach((line, i) => {
    const w = words(line);
    if (w.length === 0) return;
    const [fsname, mp, type, opts] = w;
    if (w.length < 4 || fsname === undefined || mp === undefined || type === undefined || opts === undefined || !mp.startsWith("/")) {
      errors.push(`mounts line ${i + 1}: unparsable "${short(line)}"`);
      return;
    }
    entries.push({ fsname: unescapeMountField(fsname), mountPoint: unescapeMountField(mp), type, options: opts.split(",") });
  });
  return { entries, errors };
}

/** Kernel pseudo file systems df never shows (they hold no user data). */
export const PSEUDO_FS_TYPES: ReadonlySet<string> = new Set([
  "autofs",
  "binfmt_misc",
  "bpf",
  "cgroup",
  "cgroup2",
  "configfs",
  "cpuset",
  "debugfs",
  "devfs",
  "devpts",
  "efivarfs",
  "fusectl",
  "fuse.portal",
  "hugetlbfs",
  "ignore",
  "kernfs",
  "mqueue",
  "none",
  "nfsd",
  "nsfs",
  "pipefs",
  "proc",
  "pstore",
  "rpc_pipefs",
  "securityfs",
  "selinuxfs",
  "sockfs",
  "subfs",
  "sysfs",
  "tracefs",
  "usbfs",
]);

/**
 * Mounts that may become rows, before statfs: pseudo types dropped, over-mounted mount
 * points reported once (last entry wins), a block device (fsname starting with "/")
 * kept at its shortest mount point. Result keeps the order of the kept entries.
 */
export function candidateMounts(entries: readonly MountEntry[]): MountEntry[] {
  const byMp = new Map<string, number>();
  entries.forEach((e, i) => {
    if (!PSEUDO_FS_TYPES.has(e.type)) byMp.set(e.mountPoint, i);
  });
  const kept = [...byMp.values()].sort((a, b) => a - b).map((i) => entries[i] as MountEntry);
  const byDev = new Map<string, MountEntry>();
  for (const e of kept) {
    if (!e.fsname.startsWith("/")) continue;
    const key = `${e.fsname}\0${e.type}`;
    const have = byDev.get(key);
    if (!have || e.mountPoint.length < have.mountPoint.length) byDev.set(key, e);
  }
  return kept.filter((e) => !e.fsname.startsWith("/") || byDev.get(`${e.fsname}\0${e.type}`) === e);
}

/** ⌈100 × used / total⌉, as df prints percentages; undefined when total is 0. */
export function dfPercent(used: number, total: number): number | undefined {
  if (!(total > 0) || used < 0) return undefined;
  const u100 = used * 100;
  const q = Math.floor(u100 / total);
  return q * total === u100 ? q : q + 1;
}

export interface DfRowResult {
  /** Undefined: skipped (no blocks, as df). */
  readonly row: Row | undefined;
  readonly usePer?: number;
  readonly iusePer?: number;
}

export function dfRow(m: MountEntry, s: StatfsResult): DfRowResult {
  const nums = [s.bsize, s.blocks, s.bfree, s.bavail, s.files, s.ffree];
  if (!nums.every((n) => Number.isFinite(n) && n >= 0)) return { row: undefined };
  if (s.blocks === 0) return { row: undefined };
  const kib = (n: number): number => Math.ceil((n * s.bsize) / 1024);
  const usedBlocks = Math.max(0, s.blocks - s.bfree);
  const usePer = dfPercent(usedBlocks, usedBlocks + s.bavail);
  const iused = Math.max(0, s.files - s.ffree);
  const iusePer = dfPercent(iused, s.files);
  const ro = m.options.includes("ro");
  return {
    row: {
      MountOn: m.mountPoint,
      MountStatus: ro ? "ro" : "rw",
      Fsname: m.fsname,
      Fstype: m.type,
      Inodes: String(s.files),
      IUsed: iused,
      IFree: s.ffree,
      IUsePer: iusePer,
      Blocks: String(kib(s.blocks)),
      Used: kib(usedBlocks),
      Free: kib(s.bavail),
      UsePer: usePer,
    },
    usePer,
    iusePer,
  };
}

/** How long one report waits for statfs answers (a hung NFS mount is skipped, like `df` with a timeout). */
export const STATFS_TIMEOUT_MS = 2000;

export function createFsCollector(ctx: ProbeContext, deps: CollectorDeps, timeoutMs = STATFS_TIMEOUT_MS): Collector {
  const slowWarned = new Set<string>();
  return {
    reset() {},
    async collect() {
      const text = ctx.host.readProc("mounts");
      if (text === undefined) {
        ctx.parseError("/proc/mounts", "unreadable");
        return;
      }
      const mounts = parseMounts(text);
      reportErrors(ctx, "/proc/mounts", mounts.errors);
      const thr = ctx.num("res_upper_thr");
      const candidates = candidateMounts(mounts.entries);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = Symbol("late");
      const deadline = new Promise<typeof late>((resolve) => (timer = setTimeout(() => resolve(late), timeoutMs)));
      const answers = await Promise.all(
        candidates.map(async (m) => {
          const r = await Promise.race([deps.statfs(ctx.host.root(m.mountPoint)), deadline]);
          if (r === late && !slowWarned.has(m.mountPoint)) {
            slowWarned.add(m.mountPoint);
            ctx.log.warn(`fs: statfs of ${m.mountPoint} did not answer within ${timeoutMs} ms; skipped while it hangs`);
          }
          return r === late ? undefined : r;
        }),
      );
      clearTimeout(timer);
      for (const [i, m] of candidates.entries()) {
        const s = answers[i];
        if (s === undefined) continue; // gone, hung NFS, no permission: like df, skip it
        const r = dfRow(m, s);
        if (!r.row) continue;
        ctx.emit(systemDfTable, r.row);
        if (thr > 0 && r.iusePer !== undefined && r.iusePer > thr) {
          ctx.event({ entity: "fs", key: m.mountPoint, metric: "IUsePer", message: `Too many Inodes consumed(${r.iusePer}%).` });
        }
        if (thr > 0 && r.usePer !== undefined && r.usePer > thr) {
          ctx.event({ entity: "fs", key: m.mountPoint, metric: "UsePer", message: `Too many Blocks used(${r.usePer}%).` });
        }
      }
    },
  };
}

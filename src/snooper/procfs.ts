// Pure parsers for the per-process procfs files the snooper and baseinfo `proc` read.
// Every function takes the file text (the caller does the I/O) and is total: empty,
// truncated or garbage input gives `undefined` (or a partial result), never a throw.

/** USER_HZ: the unit of /proc/<pid>/stat times. 100 on every Linux architecture in use. */
export const CLOCK_TICKS = 100;

/** PF_KTHREAD in the `flags` field of /proc/<pid>/stat. */
export const PF_KTHREAD = 0x00200000;

/** The fields of /proc/<pid>/stat this project uses (proc(5) numbering in comments). */
export interface PidStat {
  readonly pid: number; // 1
  readonly comm: string; // 2, without the parentheses
  readonly state: string; // 3
  readonly ppid: number; // 4
  readonly pgrp: number; // 5
  readonly flags: number; // 9
  readonly minflt: number; // 10
  readonly majflt: number; // 12
  readonly utime: number; // 14, ticks
  readonly stime: number; // 15
  readonly cutime: number; // 16
  readonly cstime: number; // 17
  readonly priority: number; // 18
  readonly nice: number; // 19
  readonly numThreads: number; // 20
  readonly startTicks: number; // 22, ticks since boot
  readonly vsize: number; // 23, bytes
  readonly rssPages: number; // 24
  /** 39; undefined on kernels/files that stop earlier. */
  readonly processor: number | undefined;
}

function int(s: string | undefined): number | undefined {
  if (s === undefined || !/^-?\d+$/.test(s)) return undefined;
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : undefined;
}

/**
 * /proc/<pid>/stat. The comm may contain spaces and parentheses, so it is everything
 * between the first `(` and the LAST `)`. Needs at least field 24 (rss).
 */
export function parsePidStat(text: string | undefined): PidStat | undefined {
  if (!text) return undefined;
  const open = text.indexOf("(");
  const close = text.lastIndexOf(")");
  if (open < 1 || close < open) return undefined;
  const pid = int(text.slice(0, open).trim());
  if (pid === undefined || pid <= 0) return undefined;
  const comm = text.slice(open + 1, close);
  // f[0] is field 3 (state).
  const f = text.slice(close + 1).trim().split(/\s+/);
  if (f.length < 22) return undefined;
  const n = (i: number) => int(f[i]);
  const vals = [n(1), n(2), n(6), n(7), n(9), n(11), n(12), n(13), n(14), n(15), n(16), n(17), n(19), n(20), n(21)];
  if (vals.some((v) => v === undefined)) return undefined;
  const [ppid, pgrp, flags, minflt, majflt, utime, stime, cutime, cstime, priority, nice, numThreads, startTicks, vsize, rssPages] = vals as number[];
  return {
    pid,
    comm,
    state: f[0] ?? "",
    ppid: ppid!,
    pgrp: pgrp!,
    flags: flags!,
    minflt: minflt!,
    majflt: majflt!,
    utime: utime!,
    stime: stime!,
    cutime: cutime!,
    cstime: cstime!,
    priority: priority!,
    nice: nice!,
    numThreads: numThreads!,
    startTicks: startTicks!,
    vsize: vsize!,
    rssPages: rssPages!,
    processor: n(36),
  };
}

/** The fields the snooper's process table needs: a cheaper parse than parsePidStat. */
export interface StatHead {
  readonly pid: number;
  readonly comm: string;
  readonly ppid: number;
  readonly flags: number;
  readonly startTicks: number;
}

/** Decimal digits of s[from, to) as a number; NaN when empty or not all digits. */
function digits(s: string, from: number, to: number): number {
  if (to <= from) return NaN;
  let v = 0;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return NaN;
    v = v * 10 + c;
  }
  return v;
}

/** pid, comm, ppid (4), flags (9), start time (22) of /proc/<pid>/stat; undefined when malformed. */
export function parseStatHead(text: string | undefined): StatHead | undefined {
  if (!text) return undefined;
  const open = text.indexOf(" (");
  const close = text.lastIndexOf(")");
  if (open < 1 || close < open) return undefined;
  const pid = digits(text, 0, open);
  // Walk the space-separated fields after ") ": field 3 starts at close + 2.
  let field = 3;
  let start = close + 2;
  let ppid = NaN;
  let flags = NaN;
  let startTicks = NaN;
  for (let i = start; i <= text.length; i++) {
    const c = i < text.length ? text.charCodeAt(i) : 32;
    if (c !== 32 && c !== 10) continue;
    if (field === 4) ppid = digits(text, start, i);
    else if (field === 9) flags = digits(text, start, i);
    else if (field === 22) {
      startTicks = digits(text, start, i);
      break;
    }
    field++;
    start = i + 1;
  }
  if (!(pid > 0) || Number.isNaN(ppid) || Number.isNaN(flags) || Number.isNaN(startTicks)) return undefined;
  return { pid, comm: text.slice(open + 2, close), ppid, flags, startTicks };
}

/** A /proc directory name as a pid (no leading zero, digits only), else -1. */
export function pidOfName(n: string): number {
  const c = n.charCodeAt(0);
  if (c < 49 || c > 57 || n.length > 10) return -1;
  const v = digits(n, 0, n.length);
  return Number.isNaN(v) ? -1 : v;
}

/** `btime` of /proc/stat: boot time in seconds since the epoch. */
export function parseBtime(text: string | undefined): number | undefined {
  if (!text) return undefined;
  const m = /^btime\s+(\d+)\s*$/m.exec(text);
  return m ? Number(m[1]) : undefined;
}

/** Start time of a process, seconds since the epoch (rounded down, as upstream). */
export function startEpochSeconds(btime: number, startTicks: number, hz = CLOCK_TICKS): number {
  return btime + Math.floor(startTicks / hz);
}

/** /proc/<pid>/comm without the trailing newline. */
export function parseComm(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  return text.endsWith("\n") ? text.slice(0, -1) : text;
}

/** Arguments of /proc/<pid>/cmdline (NUL-separated; a trailing NUL is not an argument). */
export function cmdlineArgs(raw: string | undefined): string[] {
  if (!raw) return [];
  const s = raw.endsWith("\0") ? raw.slice(0, -1) : raw;
  return s.split("\0");
}

/**
 * The command line as upstream shows it: arguments joined with single spaces. Processes
 * that rewrote their argv into one string with spaces (nginx: "nginx: worker process")
 * come out unchanged.
 */
export function joinCmdline(raw: string | undefined): string {
  return cmdlineArgs(raw).join(" ").trim();
}

/** Java options that take the next argument as their value. */
const JAVA_VALUE_OPTIONS = new Set(["-cp", "-classpath", "--class-path", "-p", "--module-path", "--upgrade-module-path", "--add-modules", "--limit-modules", "--add-opens", "--add-exports", "--add-reads", "--patch-module"]);

/**
 * For a Java process the `cmdline` label is its main class (outputs.md §2.3): the first
 * argument after the JVM options, `-jar <file>` gives the jar, `-m <module>/<class>` the
 * module's class. Undefined when none is found (then the plain command line is used).
 */
export function javaMainClass(args: readonly string[]): string | undefined {
  for (let i = 1; i < args.length; i++) {
    const a = args[i]!;
    if (a === "-jar" || a === "-m" || a === "--module") return args[i + 1] || undefined;
    if (a.startsWith("--module=")) return a.slice("--module=".length) || undefined;
    if (JAVA_VALUE_OPTIONS.has(a)) {
      i++;
      continue;
    }
    if (a.startsWith("-")) continue;
    return a || undefined;
  }
  return undefined;
}

/** The io counters of /proc/<pid>/io. */
export interface PidIo {
  readonly rchar: number;
  readonly wchar: number;
  readonly syscr: number;
  readonly syscw: number;
  readonly readBytes: number;
  readonly writeBytes: number;
  readonly cancelledWriteBytes: number;
}

const IO_KEYS: Record<string, keyof PidIo> = {
  rchar: "rchar",
  wchar: "wchar",
  syscr: "syscr",
  syscw: "syscw",
  read_bytes: "readBytes",
  write_bytes: "writeBytes",
  cancelled_write_bytes: "cancelledWriteBytes",
};

/** `key: value` lines; undefined unless all seven counters are present. */
export function parsePidIo(text: string | undefined): PidIo | undefined {
  if (!text) return undefined;
  const out: Partial<Record<keyof PidIo, number>> = {};
  for (const line of text.split("\n")) {
    const m = /^(\w+):\s*(\d+)\s*$/.exec(line);
    if (!m) continue;
    const k = IO_KEYS[m[1]!];
    if (k) out[k] = Number(m[2]);
  }
  for (const k of Object.values(IO_KEYS)) if (out[k] === undefined || !Number.isFinite(out[k])) return undefined;
  return out as PidIo;
}

/** The smaps_rollup sizes system_proc reports, KiB. A field the kernel lacks is undefined. */
export interface SmapsRollup {
  readonly sharedClean?: number;
  readonly sharedDirty?: number;
  readonly privateClean?: number;
  readonly privateDirty?: number;
  readonly referenced?: number;
  readonly lazyFree?: number;
  readonly swap?: number;
  readonly swapPss?: number;
}

const SMAPS_KEYS: Record<string, keyof SmapsRollup> = {
  Shared_Clean: "sharedClean",
  Shared_Dirty: "sharedDirty",
  Private_Clean: "privateClean",
  Private_Dirty: "privateDirty",
  Referenced: "referenced",
  LazyFree: "lazyFree",
  Swap: "swap",
  SwapPss: "swapPss",
};

/** /proc/<pid>/smaps_rollup (kernel ≥ 4.14); empty for kernel threads → undefined. */
export function parseSmapsRollup(text: string | undefined): SmapsRollup | undefined {
  if (!text) return undefined;
  const out: Record<string, number> = {};
  let any = false;
  for (const line of text.split("\n")) {
    const m = /^(\w+):\s+(\d+) kB\s*$/.exec(line);
    if (!m) continue;
    const k = SMAPS_KEYS[m[1]!];
    if (k) {
      out[k] = Number(m[2]);
      any = true;
    }
  }
  return any ? (out as SmapsRollup) : undefined;
}

/** Soft limit of "Max open files" in /proc/<pid>/limits; Infinity for "unlimited". */
export function parseMaxOpenFiles(text: string | undefined): number | undefined {
  if (!text) return undefined;
  const m = /^Max open files\s+(\S+)/m.exec(text);
  if (!m) return undefined;
  if (m[1] === "unlimited") return Infinity;
  const n = int(m[1]);
  return n !== undefined && n > 0 ? n : undefined;
}

/** The /proc/<pid>/status lines used: VmRSS (KiB), and Threads/NSpid for reference. */
export interface PidStatus {
  readonly vmRssKb?: number;
  readonly vmSizeKb?: number;
  readonly threads?: number;
}

export function parsePidStatus(text: string | undefined): PidStatus | undefined {
  if (!text) return undefined;
  // indexOf, not a RegExp per key: this runs for every process of the host each period.
  const get = (key: string): number | undefined => {
    const head = `${key}:`;
    let at = 0;
    if (!text.startsWith(head)) {
      const n = text.indexOf(`\n${head}`);
      if (n < 0) return undefined;
      at = n + 1;
    }
    let i = at + head.length;
    while (text[i] === " " || text[i] === "\t") i++;
    let j = i;
    while (j < text.length && text.charCodeAt(j) >= 48 && text.charCodeAt(j) <= 57) j++;
    return j > i && (j === text.length || text[j] === " " || text[j] === "\n" || text[j] === "\t") ? Number(text.slice(i, j)) : undefined;
  };
  const out = { vmRssKb: get("VmRSS"), vmSizeKb: get("VmSize"), threads: get("Threads") };
  return out.vmRssKb === undefined && out.vmSizeKb === undefined && out.threads === undefined ? undefined : out;
}

/** Numeric directory names of /proc (process ids), ascending. */
export function pidsOf(names: readonly string[]): number[] {
  const out: number[] = [];
  for (const n of names) {
    const v = pidOfName(n);
    if (v > 0) out.push(v);
  }
  return out.sort((a, b) => a - b);
}

// Pure parsers for the procfs files read by baseinfo subitems cpu and mem.
//
// Every function takes the file TEXT (the caller does the I/O) and is total: garbage,
// truncated or empty input never throws. Each returns what it could parse plus an
// `errors` list (one human-readable entry per rejected line or value), so the caller
// can count parse errors in a self-metric and skip the affected item. A result that
// is unusable as a whole is signalled by missing data (e.g. `total` undefined), never
// by an exception.
import { completeLines as lines, dec, short, words } from "./text.ts";

/** Cumulative CPU time of one /proc/stat line, in clock ticks (USER_HZ). */
export interface CpuJiffies {
  readonly user: number;
  readonly nice: number;
  readonly system: number;
  readonly idle: number;
  readonly iowait: number;
  readonly irq: number;
  readonly softirq: number;
  readonly steal: number;
}

/** The eight /proc/stat columns baseinfo uses, in kernel order. */
export const CPU_STAT_COLUMNS = [
  "user",
  "nice",
  "system",
  "idle",
  "iowait",
  "irq",
  "softirq",
  "steal",
] as const satisfies readonly (keyof CpuJiffies)[];

export interface ProcStat {
  /** The aggregate `cpu` line; undefined when missing or malformed. */
  readonly total: CpuJiffies | undefined;
  /** Per-CPU lines keyed by CPU id (`cpuN`); only online CPUs appear in /proc/stat. */
  readonly cpus: ReadonlyMap<number, CpuJiffies>;
  /** Boot time, seconds since the epoch (`btime`). */
  readonly btime: number | undefined;
  readonly errors: string[];
}

export interface SoftirqCounts {
  readonly rcu?: number;
  readonly timer?: number;
  readonly sched?: number;
  readonly net_rx?: number;
}

export interface Softirqs {
  /** Per CPU id (from the `CPUn` header) counts of the RCU, TIMER, SCHED and NET_RX rows. */
  readonly cpus: ReadonlyMap<number, SoftirqCounts>;
  readonly errors: string[];
}

export interface SoftnetRow {
  /** Column 1: packets processed. */
  readonly processed: number;
  /** Column 2: packets dropped because the backlog queue was full. */
  readonly dropped: number;
  /** Column 3: times net_rx_action ran out of budget. */
  readonly timeSqueeze?: number;
  /** Column 10: received_rps (RPS inter-processor wake-ups); absent on very old kernels. */
  readonly receivedRps?: number;
  /** Column 11: flow_limit_count (kernel >= 3.11). */
  readonly flowLimitCount?: number;
}

export interface SoftnetStat {
  /** Rows keyed by CPU id. */
  readonly cpus: ReadonlyMap<number, SoftnetRow>;
  /**
   * How row -> CPU id was resolved: "column" = the kernel printed the CPU id (column 13,
   * kernel >= 5.10), "online" = the n-th row mapped to the n-th online CPU passed in,
   * "index" = row index used as CPU id (only right when no CPU is offline).
   */
  readonly cpuIdSource: "column" | "online" | "index";
  readonly errors: string[];
}

export interface CpuMhz {
  /** Current frequency per processor id. */
  readonly mhz: ReadonlyMap<number, number>;
  readonly errors: string[];
}

export interface Meminfo {
  /** Values by /proc/meminfo key; kB for lines with a kB unit, plain counts otherwise (HugePages_*). */
  readonly values: ReadonlyMap<string, number>;
  readonly errors: string[];
}

export interface DentryState {
  readonly nr_dentry: number;
  readonly nr_unused: number;
  readonly age_limit: number;
}

export interface DentryStateResult {
  /** Undefined when the first three numbers are not all present and valid. */
  readonly state: DentryState | undefined;
  readonly errors: string[];
}

export interface VmallocUsed {
  /** vmalloc address space in use, KiB; undefined when no source gave a value. */
  readonly kb: number | undefined;
  readonly source: "vmallocinfo" | "meminfo" | undefined;
  readonly errors: string[];
}

/**
 * /proc/stat: the aggregate and per-CPU time lines and btime.
 *
 * Kernels print 10 time columns today (…, steal, guest, guest_nice); 2.6 kernels printed
 * 7 or 8 and 2.4 kernels 4. Columns user..idle are required; missing trailing columns
 * (iowait, irq, softirq, steal) count as 0, i.e. "not accounted by this kernel". guest
 * and guest_nice are ignored: they are already included in user and nice.
 */
export function parseProcStat(text: string): ProcStat {
  const errors: string[] = [];
  const cpus = new Map<number, CpuJiffies>();
  let total: CpuJiffies | undefined;
  let btime: number | undefined;
  const parsed: { line: number; id: number | undefined; vals: number[] }[] = [];

  lines(text, errors, "stat").forEach((line, i) => {
    const w = words(line);
    const head = w[0];
    if (head === undefined) return;
    if (head === "btime") {
      const v = dec(w[1]);
      if (v === undefined) errors.push(`stat line ${i + 1}: bad btime "${short(line)}"`);
      else btime = v;
      return;
    }
    if (!head.startsWith("cpu")) return;
    let id: number | undefined;
    if (head !== "cpu") {
      id = dec(head.slice(3));
      if (id === undefined) {
        errors.push(`stat line ${i + 1}: bad cpu name "${short(head)}"`);
        return;
      }
    }
    const cols = w.slice(1, 1 + CPU_STAT_COLUMNS.length);
    const vals: number[] = [];
    for (const tok of cols) {
      const v = dec(tok);
      if (v === undefined) break;
      vals.push(v);
    }
    if (vals.length < cols.length) {
      errors.push(`stat line ${i + 1}: bad time column "${short(cols[vals.length] ?? "")}"`);
      return;
    }
    if (vals.length < 4) {
      errors.push(`stat line ${i + 1}: too few time columns "${short(line)}"`);
      return;
    }
    parsed.push({ line: i + 1, id, vals });
  });

  // The kernel prints every cpu line with the same number of columns: a line narrower
  // than the others was cut off (truncated read), not written by an old kernel.
  const width = parsed.reduce((m, p) => Math.max(m, p.vals.length), 0);
  for (const p of parsed) {
    if (p.vals.length < width) {
      errors.push(`stat line ${p.line}: truncated (${p.vals.length} of ${width} columns)`);
      continue;
    }
    const col = (k: number): number => p.vals[k] ?? 0;
    const j: CpuJiffies = {
      user: col(0),
      nice: col(1),
      system: col(2),
      idle: col(3),
      iowait: col(4),
      irq: col(5),
      softirq: col(6),
      steal: col(7),
    };
    if (p.id === undefined) {
      if (total !== undefined) errors.push(`stat line ${p.line}: duplicate aggregate cpu line`);
      else total = j;
    } else if (cpus.has(p.id)) {
      errors.push(`stat line ${p.line}: duplicate cpu${p.id}`);
    } else {
      cpus.set(p.id, j);
    }
  }
  if (total === undefined) errors.push("stat: no aggregate cpu line");
  return { total, cpus, btime, errors };
}

const SOFTIRQ_ROWS: ReadonlyMap<string, keyof SoftirqCounts> = new Map([
  ["RCU:", "rcu"],
  ["TIMER:", "timer"],
  ["SCHED:", "sched"],
  ["NET_RX:", "net_rx"],
]);

/**
 * /proc/softirqs: header `CPU0 CPU1 …` (possible CPUs, so ids may have gaps), then one
 * row per softirq with one decimal count per header column. Only RCU, TIMER, SCHED and
 * NET_RX are kept. Without a usable header, column n is taken as CPU n.
 */
export function parseSoftirqs(text: string): Softirqs {
  const errors: string[] = [];
  const acc = new Map<number, { -readonly [K in keyof SoftirqCounts]: SoftirqCounts[K] }>();
  let ids: number[] | undefined;
  const seen = new Set<string>();

  lines(text, errors, "softirqs").forEach((line, i) => {
    const w = words(line);
    const head = w[0];
    if (head === undefined) return;
    if (ids === undefined && head.startsWith("CPU")) {
      const parsed = w.map((t) => (t.startsWith("CPU") ? dec(t.slice(3)) : undefined));
      if (parsed.every((x): x is number => x !== undefined)) {
        ids = parsed;
      } else {
        errors.push(`softirqs line ${i + 1}: bad header "${short(line)}"`);
        ids = [];
      }
      return;
    }
    const field = SOFTIRQ_ROWS.get(head);
    if (field === undefined) return;
    if (seen.has(head)) {
      errors.push(`softirqs line ${i + 1}: duplicate ${head} row`);
      return;
    }
    seen.add(head);
    if (ids === undefined) {
      errors.push("softirqs: missing CPU header, assuming column n is CPU n");
      ids = [];
    }
    const vals = w.slice(1);
    if (ids.length > 0 && vals.length !== ids.length) {
      // Narrower: cut off (the last value may be cut too); wider: not this file's layout.
      errors.push(`softirqs line ${i + 1}: ${head} has ${vals.length} of ${ids.length} columns`);
      return;
    }
    for (let c = 0; c < vals.length; c++) {
      const v = dec(vals[c]);
      const cpu = ids.length > 0 ? ids[c] : c;
      if (cpu === undefined) continue;
      if (v === undefined) {
        errors.push(`softirqs line ${i + 1}: bad ${head} value "${short(vals[c] ?? "")}"`);
        continue;
      }
      let rec = acc.get(cpu);
      if (rec === undefined) {
        rec = {};
        acc.set(cpu, rec);
      }
      rec[field] = v;
    }
  });
  if (seen.size === 0) errors.push("softirqs: none of RCU, TIMER, SCHED, NET_RX found");
  return { cpus: acc, errors };
}

/** 1-based column of the CPU id printed by kernels >= 5.10. */
const SOFTNET_CPU_COL = 13;
/** softnet_stat prints every column as %08x of a 32-bit value. */
const SOFTNET_TOKEN_RE = /^[0-9a-fA-F]{8}$/;

/**
 * /proc/net/softnet_stat: one row per ONLINE CPU, all columns %08x hex. Layout
 * (1-based): 1 processed, 2 dropped, 3 time_squeeze, 4-8 zero, 9 cpu_collision (zero),
 * 10 received_rps, 11 flow_limit_count (3.11+), 12 backlog length and 13 CPU id (5.10+),
 * 14-15 input/process queue lengths (6.x). Offline CPUs are skipped, so on kernels
 * without column 13 the n-th row is the n-th online CPU: pass `onlineCpus` (e.g. the
 * sorted CPU ids of /proc/stat) to map rows correctly; without it the row index is used.
 * Every row has the same width; a narrower row (or a token that is not 8 hex digits)
 * was cut off or damaged and is rejected.
 */
export function parseSoftnetStat(text: string, onlineCpus?: readonly number[]): SoftnetStat {
  const errors: string[] = [];
  const cpus = new Map<number, SoftnetRow>();
  const rows: { line: number; index: number; vals: number[] }[] = [];
  let index = 0;

  lines(text, errors, "softnet_stat").forEach((line, i) => {
    const w = words(line);
    if (w.length === 0) return;
    const rowIndex = index++;
    const bad = w.findIndex((t) => !SOFTNET_TOKEN_RE.test(t));
    if (bad >= 0) {
      errors.push(`softnet_stat line ${i + 1}: bad column ${bad + 1} "${short(w[bad] ?? "")}"`);
      return;
    }
    if (w.length < 2) {
      errors.push(`softnet_stat line ${i + 1}: too few columns`);
      return;
    }
    rows.push({ line: i + 1, index: rowIndex, vals: w.map((t) => Number.parseInt(t, 16)) });
  });

  const width = rows.reduce((m, r) => Math.max(m, r.vals.length), 0);
  const hasCpuCol = width >= SOFTNET_CPU_COL;
  const source: SoftnetStat["cpuIdSource"] = hasCpuCol ? "column" : onlineCpus ? "online" : "index";
  for (const r of rows) {
    if (r.vals.length < width) {
      errors.push(`softnet_stat line ${r.line}: truncated (${r.vals.length} of ${width} columns)`);
      continue;
    }
    const cpu = hasCpuCol
      ? r.vals[SOFTNET_CPU_COL - 1]
      : onlineCpus
        ? onlineCpus[r.index]
        : r.index;
    if (cpu === undefined) {
      errors.push(`softnet_stat line ${r.line}: more rows than online CPUs`);
      continue;
    }
    if (cpus.has(cpu)) {
      errors.push(`softnet_stat line ${r.line}: duplicate cpu ${cpu}`);
      continue;
    }
    const [processed = 0, dropped = 0] = r.vals;
    const row: { -readonly [K in keyof SoftnetRow]: SoftnetRow[K] } = { processed, dropped };
    if (r.vals[2] !== undefined) row.timeSqueeze = r.vals[2];
    if (r.vals[9] !== undefined) row.receivedRps = r.vals[9];
    if (r.vals[10] !== undefined) row.flowLimitCount = r.vals[10];
    cpus.set(cpu, row);
  }
  return { cpus, cpuIdSource: source, errors };
}

/**
 * /proc/cpuinfo `cpu MHz` per processor (x86 prints it; arm64 and others do not).
 * Returns undefined when the file has no `cpu MHz` line at all (not an error: the
 * architecture does not report it). Blocks without a `processor` line are numbered by
 * their position.
 */
export function parseCpuinfoMhz(text: string): CpuMhz | undefined {
  const errors: string[] = [];
  const mhz = new Map<number, number>();
  let block = 0;
  let proc: number | undefined;
  let inBlock = false;
  let sawKey = false;

  lines(text, errors, "cpuinfo").forEach((line, i) => {
    if (line.trim() === "") {
      if (inBlock) block++;
      inBlock = false;
      proc = undefined;
      return;
    }
    inBlock = true;
    const colon = line.indexOf(":");
    if (colon < 0) return;
    const key = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    if (key === "processor") {
      proc = dec(value);
      if (proc === undefined) errors.push(`cpuinfo line ${i + 1}: bad processor "${short(value)}"`);
      return;
    }
    if (key !== "cpu MHz") return;
    sawKey = true;
    const v = /^\d+(\.\d+)?$/.test(value) ? Number(value) : undefined;
    if (v === undefined || !Number.isFinite(v)) {
      errors.push(`cpuinfo line ${i + 1}: bad cpu MHz "${short(value)}"`);
      return;
    }
    const id = proc ?? block;
    if (mhz.has(id)) errors.push(`cpuinfo line ${i + 1}: duplicate cpu MHz for processor ${id}`);
    else mhz.set(id, v);
  });
  if (!sawKey) return undefined;
  return { mhz, errors };
}

/** /proc/meminfo `Key:   value [kB]` lines. Unknown units and non-numbers are errors. */
export function parseMeminfo(text: string): Meminfo {
  const errors: string[] = [];
  const values = new Map<string, number>();
  lines(text, errors, "meminfo").forEach((line, i) => {
    if (line.trim() === "") return;
    const m = /^([A-Za-z0-9_()]+):\s*(\S*)\s*(\S*)\s*$/.exec(line);
    if (m === null) {
      errors.push(`meminfo line ${i + 1}: unparsable "${short(line)}"`);
      return;
    }
    const key = m[1] ?? "";
    const v = dec(m[2]);
    const unit = m[3] ?? "";
    if (v === undefined || (unit !== "" && unit !== "kB")) {
      errors.push(`meminfo line ${i + 1}: bad value for ${key}`);
      return;
    }
    if (values.has(key)) {
      errors.push(`meminfo line ${i + 1}: duplicate ${key}`);
      return;
    }
    values.set(key, v);
  });
  if (values.size === 0) errors.push("meminfo: no values");
  return { values, errors };
}

/**
 * /proc/sys/fs/dentry-state: `nr_dentry nr_unused age_limit want_pages nr_negative dummy`
 * (tab separated). Only the first three are used and must be valid.
 */
export function parseDentryState(text: string): DentryStateResult {
  const errors: string[] = [];
  const w = typeof text === "string" ? words(text.split("\n")[0] ?? "") : [];
  const [a, b, c] = [dec(w[0]), dec(w[1]), dec(w[2])];
  if (a === undefined || b === undefined || c === undefined) {
    errors.push(`dentry-state: expected 3 integers, got "${short(w.join(" "))}"`);
    return { state: undefined, errors };
  }
  return { state: { nr_dentry: a, nr_unused: b, age_limit: c }, errors };
}

const VMALLOC_LINE_RE = /^0x[0-9a-fA-F]+-0x[0-9a-fA-F]+\s+(\d+)(?:\s|$)/;

/**
 * vmalloc address space in use, KiB.
 *
 * /proc/meminfo VmallocUsed is 0 on many kernels (4.4 .. 5.2 stopped computing it) and
 * otherwise counts ioremap/vmap areas too, so the preferred source is /proc/vmallocinfo
 * (root-only): sum the size column (bytes) of the areas flagged `vmalloc` (the VM_ALLOC
 * marker word; ioremap, vmap, vm_map_ram and unpurged areas are not counted), then
 * divide by 1024 rounding down. When `vmallocinfoText` is undefined, or contains no
 * well-formed area line (unreadable, empty, garbage), fall back to meminfo VmallocUsed.
 */
export function parseVmallocUsed(vmallocinfoText: string | undefined, meminfo?: Meminfo): VmallocUsed {
  const errors: string[] = [];
  if (typeof vmallocinfoText === "string") {
    let areas = 0;
    let bytes = 0;
    lines(vmallocinfoText, errors, "vmallocinfo").forEach((line, i) => {
      if (line.trim() === "") return;
      const m = VMALLOC_LINE_RE.exec(line);
      const size = m ? dec(m[1]) : undefined;
      if (size === undefined) {
        errors.push(`vmallocinfo line ${i + 1}: unparsable "${short(line)}"`);
        return;
      }
      areas++;
      if (words(line).slice(2).includes("vmalloc")) bytes += size;
    });
    if (areas > 0) return { kb: Math.floor(bytes / 1024), source: "vmallocinfo", errors };
  }
  const v = meminfo?.values.get("VmallocUsed");
  if (v !== undefined) return { kb: v, source: "meminfo", errors };
  return { kb: undefined, source: undefined, errors };
}

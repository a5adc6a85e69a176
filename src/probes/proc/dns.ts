// proc_dns: DNS lookups per (process, domain). The kernel sends one ring record per
// getaddrinfo/gethostbyname/gethostbyname2 return (struct dns_record in bpf/proc/proc.h);
// this file decodes them, aggregates them per period, and keeps the libc uprobes in step
// with the processes in scope (one attachment per libc file, found through /proc/<pid>/root).
import type { BpfObject } from "../../libbpf/object.ts";
import { ElfCache, UprobeError, UprobeSet } from "../../libbpf/uprobe.ts";
import type { ProbeEvent, Row } from "../../store/table.ts";

/** struct dns_record */
const REC_TGID = 0;
const REC_FAILED = 4;
const REC_NS = 8;
const REC_NAME = 16;
export const DNS_NAME_MAX = 256;
export const DNS_RECORD_BYTES = REC_NAME + DNS_NAME_MAX;

export interface DnsLookup {
  tgid: number;
  failed: boolean;
  ns: number;
  domain: string;
}

const latin1 = new TextDecoder("utf-8", { fatal: false });

/** Decodes one ring record; undefined when it is shorter than struct dns_record. */
export function decodeDns(view: DataView, off: number, len: number): DnsLookup | undefined {
  if (len < DNS_RECORD_BYTES || off + DNS_RECORD_BYTES > view.byteLength) return undefined;
  const bytes = new Uint8Array(view.buffer, view.byteOffset + off + REC_NAME, DNS_NAME_MAX);
  let end = bytes.indexOf(0);
  if (end < 0) end = DNS_NAME_MAX;
  return {
    tgid: view.getUint32(off + REC_TGID, true),
    failed: view.getUint32(off + REC_FAILED, true) !== 0,
    ns: Number(view.getBigUint64(off + REC_NS, true)),
    domain: latin1.decode(bytes.subarray(0, end)),
  };
}

interface DomainStats {
  tgid: number;
  domain: string;
  count: number;
  errors: number;
  sum: number;
  max: number;
}

/** Per-period aggregation of lookups, bounded by `maxPairs` (refused lookups are counted). */
export class DnsAggregator {
  private period = new Map<string, DomainStats>();
  overflow = 0;
  constructor(private readonly maxPairs: number) {}

  add(l: DnsLookup): void {
    const key = `${l.tgid}\0${l.domain}`;
    let s = this.period.get(key);
    if (!s) {
      if (this.period.size >= this.maxPairs) {
        this.overflow++;
        return;
      }
      s = { tgid: l.tgid, domain: l.domain, count: 0, errors: 0, sum: 0, max: 0 };
      this.period.set(key, s);
    }
    s.count++;
    if (l.failed) s.errors++;
    s.sum += l.ns;
    if (l.ns > s.max) s.max = l.ns;
  }

  /** Drops what a process that left the scope looked up this period. */
  forget(tgid: number): void {
    for (const [k, s] of this.period) if (s.tgid === tgid) this.period.delete(k);
  }

  /** The period's rows (latencies in ns) and error-ratio events; starts a new period. */
  endPeriod(): { rows: Row[]; events: ProbeEvent[] } {
    const rows: Row[] = [];
    const events: ProbeEvent[] = [];
    for (const s of this.period.values()) {
      const ratio = s.errors / s.count;
      rows.push({ tgid: String(s.tgid), domain: s.domain, delay_avg: Math.round(s.sum / s.count), max_delay: s.max, error_ratio: ratio, count: s.count, error_count: s.errors });
      if (s.errors > 0) {
        events.push({
          entity: "dns",
          key: `${s.tgid}_${s.domain}`,
          metric: "error_ratio",
          message: `Process(PID:${s.tgid}) DNS error ratio(${(ratio * 100).toFixed(3)} %).`,
          pid: String(s.tgid),
        });
      }
    }
    this.period = new Map();
    return { rows, events };
  }
}

/** The libc functions hooked: entry program for all, return program per result type. */
const FUNCTIONS: readonly { symbol: string; ret: "dns_exit_gai" | "dns_exit_ghbn" }[] = [
  { symbol: "getaddrinfo", ret: "dns_exit_gai" },
  { symbol: "gethostbyname", ret: "dns_exit_ghbn" },
  { symbol: "gethostbyname2", ret: "dns_exit_ghbn" },
];
const LIBC = /\/libc(\.so\.\d+|-[\d.]+\.so)$/;

/** The uprobes on every in-scope process's libc (shared per libc file). */
export class DnsUprobes implements Disposable {
  private readonly sets: UprobeSet[] = [];
  /** One parse of a libc for the six programs, dropped after each process. */
  private readonly elf = new ElfCache(1);
  private readonly covered = new Set<number>();
  /** Processes without libc (static binaries, Go's own resolver) or gone: not asked again. */
  private readonly absent = new Set<number>();

  constructor(obj: BpfObject, procRoot: string, maxLibc: number) {
    for (const f of FUNCTIONS) {
      this.sets.push(new UprobeSet(obj.program("dns_enter"), { binary: LIBC, symbol: f.symbol }, { scope: "binary", procRoot, maxAttachments: maxLibc, elfCache: this.elf }));
      this.sets.push(new UprobeSet(obj.program(f.ret), { binary: LIBC, symbol: f.symbol, retprobe: true }, { scope: "binary", procRoot, maxAttachments: maxLibc, elfCache: this.elf }));
    }
  }

  /** Attachments made since the last call (each read and parsed a libc ELF file). */
  takeNewAttachments(): number {
    const n = this.newAttachments;
    this.newAttachments = 0;
    return n;
  }
  private newAttachments = 0;

  /** A process is in scope: its libc gets the uprobes. Throws UprobeError (bound, symbol) for the caller to log. */
  add(pid: number): void {
    if (this.covered.has(pid) || this.absent.has(pid)) return;
    let any = false;
    let firstError: unknown;
    for (const s of this.sets) {
      try {
        const r = s.addProcess(pid);
        if (r !== "absent") any = true;
        if (r === "attached") this.newAttachments++;
      } catch (e) {
        firstError ??= e;
      }
    }
    this.elf.clear();
    if (any) this.covered.add(pid);
    else this.absent.add(pid);
    if (firstError) throw firstError instanceof UprobeError ? firstError : new UprobeError("ENOSYM", `libc of ${pid}: ${(firstError as Error).message}`);
  }

  remove(pid: number): void {
    this.absent.delete(pid);
    if (!this.covered.delete(pid)) return;
    for (const s of this.sets) s.removeProcess(pid);
  }

  /** Forgets every process not in `alive` (exited, or out of scope). */
  prune(alive: ReadonlySet<number>): void {
    for (const p of this.absent) if (!alive.has(p)) this.absent.delete(p);
    for (const p of [...this.covered]) if (!alive.has(p)) this.remove(p);
  }

  /** Whether `pid` was already looked at. */
  has(pid: number): boolean {
    return this.covered.has(pid) || this.absent.has(pid);
  }

  /** Live attachments (libc files × 6 programs). */
  get attachments(): number {
    return this.sets.reduce((n, s) => n + s.attachments, 0);
  }

  [Symbol.dispose](): void {
    for (const s of this.sets) s[Symbol.dispose]();
  }
}

// Small total helpers shared by the baseinfo parsers (parse.ts, nic, net, disk, fs, host):
// never throw, report what was rejected.

const DEC_RE = /^\d+$/;

/** Non-negative decimal integer token (safe integer), or undefined. */
export function dec(tok: string | undefined): number | undefined {
  if (tok === undefined || !DEC_RE.test(tok)) return undefined;
  const n = Number(tok);
  return Number.isSafeInteger(n) ? n : undefined;
}

export function short(s: string): string {
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

export function words(line: string): string[] {
  const t = line.trim();
  return t === "" ? [] : t.split(/\s+/);
}

/**
 * Complete lines of a kernel text file. The kernel ends every line with a newline, so a
 * non-empty last line without one was cut off by a short read: it is dropped with an
 * error instead of being parsed as a (possibly shortened) number.
 */
export function completeLines(text: string, errors: string[], what: string): string[] {
  if (typeof text !== "string") {
    errors.push(`${what}: not text`);
    return [];
  }
  const out = text.split("\n");
  const last = out.pop() ?? "";
  if (last.trim() !== "") errors.push(`${what}: last line not newline-terminated (truncated): "${short(last)}"`);
  return out;
}

export interface Uptime {
  /** Seconds since boot, centisecond resolution; undefined when unparsable. */
  readonly seconds: number | undefined;
  readonly errors: string[];
}

/**
 * /proc/uptime `12345.67 54321.00`: the first number is the time base of every rate of
 * nic and disk (as iostat does), so the interval between two reports is measured by the
 * kernel, not by the agent's timer.
 */
export function parseUptime(text: string): Uptime {
  const errors: string[] = [];
  const first = completeLines(text, errors, "uptime")[0];
  const w = words(first ?? "");
  const v = w[0] !== undefined && /^\d+(\.\d+)?$/.test(w[0]) ? Number(w[0]) : undefined;
  if (v === undefined || !Number.isFinite(v)) {
    errors.push(`uptime: expected seconds, got "${short(first ?? "")}"`);
    return { seconds: undefined, errors };
  }
  return { seconds: v, errors };
}

/** cur − prev for a monotonic counter; undefined if either is missing or it went backwards. */
export function delta(prev: number | undefined, cur: number | undefined): number | undefined {
  if (prev === undefined || cur === undefined) return undefined;
  if (!Number.isFinite(prev) || !Number.isFinite(cur) || cur < prev) return undefined;
  return cur - prev;
}

/** "%.2f" of a finite number, else undefined (not exported). */
export function fixed2(v: number | undefined): string | undefined {
  return v === undefined || !Number.isFinite(v) ? undefined : v.toFixed(2);
}

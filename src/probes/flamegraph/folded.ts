// Folded stacks ("frame;frame;frame value", outermost frame first) of one profile type for
// one svg_period, per process, bounded: a stack beyond `maxStacks` distinct ones is counted
// as a drop, not kept. The text form is flamegraph.pl's input and Pyroscope's folded format.

export interface FoldedEntry {
  readonly pid: number;
  readonly value: number;
}

export class FoldedStacks {
  private readonly stacks = new Map<string, FoldedEntry>();
  total = 0;

  constructor(
    private readonly maxStacks: number,
    private readonly onFull: (n: number) => void,
  ) {}

  get size(): number {
    return this.stacks.size;
  }

  /** Adds `value` to the stack of `frames` (outermost first) of process `pid`. */
  add(pid: number, frames: readonly string[], value: number): void {
    if (value <= 0 || frames.length === 0) return;
    const key = frames.map(cleanFrame).join(";");
    const prev = this.stacks.get(key);
    if (!prev && this.stacks.size >= this.maxStacks) {
      this.onFull(1);
      return;
    }
    this.stacks.set(key, { pid, value: (prev?.value ?? 0) + value });
    this.total += value;
  }

  /** Processes with samples. */
  pids(): number[] {
    return [...new Set([...this.stacks.values()].map((e) => e.pid))].sort((a, b) => a - b);
  }

  /** [stack, value] pairs (of one process when `pid` is given), sorted by stack. */
  entries(pid?: number, scale = 1): [string, number][] {
    const out: [string, number][] = [];
    for (const [k, e] of this.stacks) if (pid === undefined || e.pid === pid) out.push([k, Math.max(1, Math.round(e.value * scale))]);
    return out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  }

  /** [stack, raw value, pid] rows (of one process when `pid` is given), sorted by stack. */
  rows(pid?: number): [string, number, number][] {
    const out: [string, number, number][] = [];
    for (const [k, e] of this.stacks) if (pid === undefined || e.pid === pid) out.push([k, e.value, e.pid]);
    return out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  }

  /** The folded text ("stack value\n" per line). */
  text(pid?: number, scale = 1): string {
    return this.entries(pid, scale)
      .map(([k, v]) => `${k} ${v}\n`)
      .join("");
  }

  clear(): void {
    this.stacks.clear();
    this.total = 0;
  }
}

/** A frame name safe in the folded format: no separators, no line breaks. */
export function cleanFrame(name: string): string {
  return name.replace(/;/g, ":").replace(/[\r\n]/g, " ");
}

/** Parses folded text back ("stack value" per line). @throws Error naming the bad line */
export function parseFolded(text: string): [string, number][] {
  const out: [string, number][] = [];
  for (const [i, line] of text.split("\n").entries()) {
    if (!line) continue;
    const sp = line.lastIndexOf(" ");
    const v = Number(line.slice(sp + 1));
    if (sp <= 0 || !Number.isInteger(v) || v < 0) throw new Error(`folded line ${i + 1}: expected "<stack> <count>", got ${JSON.stringify(line.slice(0, 80))}`);
    out.push([line.slice(0, sp), v]);
  }
  return out;
}

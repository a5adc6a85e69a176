// sysfs CPU list format ("0-3,5"), used by cpu (online CPUs) and host (possible CPUs).

/** "0-3,5" → [0,1,2,3,5]; undefined when absent or malformed. */
export function parseCpuList(text: string | undefined): number[] | undefined {
  if (!text) return undefined;
  const out: number[] = [];
  for (const part of text.trim().split(",")) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) return undefined;
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (b < a || b - a > 65536) return undefined;
    for (let i = a; i <= b; i++) out.push(i);
  }
  return out;
}

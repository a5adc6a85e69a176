// Pieces the symbol tables (kallsyms, ELF symbols, perf maps) share: finding the last
// start address at or below an address in a sorted array, and reading a name out of one
// packed buffer of names (so 100k+ symbols are not 100k+ strings).

/** Index of the last element of the ascending `starts` that is ≤ `x`, or -1 when none is. */
export function floorIndex<T extends number | bigint>(starts: ArrayLike<T>, x: T): number {
  let lo = 0;
  let hi = starts.length - 1;
  let best = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if (starts[mid]! <= x) {
      best = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return best;
}

/** Name `i` of a packed name buffer: bytes nameStart[i] up to nameStart[i + 1]. */
export function packedName(names: Uint8Array, nameStart: ArrayLike<number>, i: number): string {
  const from = nameStart[i]!;
  return Buffer.from(names.buffer, names.byteOffset + from, nameStart[i + 1]! - from).toString("latin1");
}

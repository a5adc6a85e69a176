import { describe, expect, test } from "bun:test";
import { PendingRing } from "./pending-ring.ts";

class Slot {
  v = 0;
}

function push(r: PendingRing<Slot>, v: number): void {
  r.push().v = v;
}
const values = (r: PendingRing<Slot>) => Array.from({ length: r.size }, (_, k) => r.at(k)!.v);

describe("pending ring", () => {
  test("keeps order while growing past a wrap, drops the oldest when full and counts it", () => {
    const r = new PendingRing(4, () => new Slot());
    push(r, 1);
    push(r, 2);
    r.shift(); // head moves: the next growth unrolls a wrapped ring
    push(r, 3);
    push(r, 4);
    expect([values(r), r.full, r.dropped]).toEqual([[2, 3, 4], false, 0]);
    push(r, 5);
    expect([values(r), r.full, r.dropped]).toEqual([[2, 3, 4, 5], true, 0]);
    push(r, 6);
    expect([values(r), r.last()!.v, r.dropped]).toEqual([[3, 4, 5, 6], 6, 1]);
  });

  test("shift(n) removes the n oldest, never more than there are", () => {
    const r = new PendingRing(3, () => new Slot());
    for (const v of [1, 2, 3]) push(r, v);
    r.shift(2);
    expect(values(r)).toEqual([3]);
    r.shift(5);
    expect([r.size, r.at(0)]).toEqual([0, undefined]);
    push(r, 7);
    expect(values(r)).toEqual([7]);
  });

  test("a capacity that is not a positive integer is refused", () => {
    expect(() => new PendingRing(0, () => new Slot())).toThrow(/positive integer, got 0/);
    expect(() => new PendingRing(1.5, () => new Slot())).toThrow(RangeError);
  });
});

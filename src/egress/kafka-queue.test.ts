import { describe, expect, test } from "bun:test";
import { BoundedQueue, message, type DropReason, type QueuedMessage } from "./kafka-queue.ts";

function q(maxMessages: number, maxBytes: number) {
  const drops: [string, DropReason][] = [];
  const queue = new BoundedQueue(maxMessages, maxBytes, (m, r) => drops.push([m.value, r]));
  return { queue, drops };
}
const values = (ms: readonly QueuedMessage[]) => ms.map((m) => m.value);

describe("bounded Kafka queue", () => {
  test("FIFO order across takes; take honours count and byte limits but always returns one", () => {
    const { queue, drops } = q(100, 1000);
    for (let i = 0; i < 10; i++) queue.push(message("t", `m${i}`));
    expect(queue.length).toBe(10);
    expect(queue.bytes).toBe(20);
    expect(values(queue.take(3, 1000))).toEqual(["m0", "m1", "m2"]);
    expect(values(queue.take(100, 5))).toEqual(["m3", "m4"]);
    expect(values(queue.take(100, 1))).toEqual(["m5"]);
    expect(values(queue.take(100, 1000))).toEqual(["m6", "m7", "m8", "m9"]);
    expect(queue.take(100, 1000)).toEqual([]);
    expect(queue.bytes).toBe(0);
    expect(drops).toEqual([]);
  });

  test("message cap: the oldest is dropped first, with reason queue_full", () => {
    const { queue, drops } = q(3, 1000);
    for (let i = 0; i < 5; i++) queue.push(message("t", `m${i}`));
    expect(drops).toEqual([
      ["m0", "queue_full"],
      ["m1", "queue_full"],
    ]);
    expect(values(queue.take(10, 1000))).toEqual(["m2", "m3", "m4"]);
  });

  test("byte cap: as many of the oldest as needed make room, reason queue_bytes; UTF-8 bytes count", () => {
    const { queue, drops } = q(100, 10);
    queue.push(message("t", "aaaa")); // 4
    queue.push(message("t", "bbbb")); // 8
    queue.push(message("t", "cc")); // 10: fits exactly
    expect(drops).toEqual([]);
    queue.push(message("t", "ddddddd")); // 7: a and b must go
    expect(drops).toEqual([
      ["aaaa", "queue_bytes"],
      ["bbbb", "queue_bytes"],
    ]);
    expect(queue.bytes).toBe(9);
    expect(message("t", "é€").bytes).toBe(5);
    queue.push(message("t", "€")); // 3 bytes: cc goes
    expect(drops.at(-1)).toEqual(["cc", "queue_bytes"]);
    expect(values(queue.take(10, 100))).toEqual(["ddddddd", "€"]);
  });

  test("a message larger than the byte cap is dropped itself (too_large); the queue is untouched", () => {
    const { queue, drops } = q(100, 4);
    queue.push(message("t", "ab"));
    queue.push(message("t", "abcde"));
    expect(drops).toEqual([["abcde", "too_large"]]);
    expect(queue.length).toBe(1);
  });

  test("requeue puts a failed batch back at the head in order, then trims the oldest", () => {
    const { queue, drops } = q(5, 1000);
    for (let i = 0; i < 5; i++) queue.push(message("t", `m${i}`));
    const batch = queue.take(3, 1000);
    queue.push(message("t", "m5"));
    queue.push(message("t", "m6"));
    queue.push(message("t", "m7")); // 5 waiting again (m3..m7) plus 3 in flight
    expect(drops).toEqual([]);
    queue.requeue(batch);
    // 8 > 5: the three oldest (the failed batch) go.
    expect(drops).toEqual([
      ["m0", "queue_full"],
      ["m1", "queue_full"],
      ["m2", "queue_full"],
    ]);
    expect(values(queue.take(10, 1000))).toEqual(["m3", "m4", "m5", "m6", "m7"]);
    // Requeue into a queue whose head has room and one that has not both keep order.
    queue.push(message("t", "x1"));
    const b = queue.take(1, 1000);
    queue.push(message("t", "x2"));
    queue.requeue(b);
    expect(values(queue.take(10, 1000))).toEqual(["x1", "x2"]);
  });

  test("clear drops everything with the given reason; counts and bytes stay exact over many operations", () => {
    const { queue, drops } = q(1000, 50_000);
    let pushed = 0;
    let taken = 0;
    for (let round = 0; round < 200; round++) {
      for (let i = 0; i < 37; i++) queue.push(message(i % 2 ? "a" : "b", `r${round}-${i}`)), pushed++;
      const b = queue.take(25, 10_000);
      if (round % 3 === 0) queue.requeue(b);
      else taken += b.length;
    }
    expect(pushed).toBe(taken + drops.length + queue.length);
    const n = queue.length;
    queue.clear("shutdown");
    expect(drops.filter(([, r]) => r === "shutdown")).toHaveLength(n);
    expect(queue.length).toBe(0);
    expect(queue.bytes).toBe(0);
  });

  test("limits must be positive", () => {
    expect(() => new BoundedQueue(0, 1, () => undefined)).toThrow();
  });
});

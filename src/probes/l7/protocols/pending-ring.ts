// The unanswered requests of one session, oldest first (MySQL, PostgreSQL, Kafka): a ring of
// reusable entries (no allocation per request once the ring has grown to the connection's
// depth), bounded by maxPending; pushing into a full ring drops the oldest entry and counts it.

export class PendingRing<T> {
  private readonly slots: T[] = [];
  private head = 0;
  size = 0;

  constructor(
    private readonly capacity: number,
    private readonly make: () => T,
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`pending ring capacity must be a positive integer, got ${capacity}`);
  }

  /** Entries dropped from a full ring (unanswered requests lost to maxPending). */
  dropped = 0;

  /** Whether the next push drops the oldest entry. */
  get full(): boolean {
    return this.size === this.capacity;
  }

  /** A slot for a new newest entry (the caller fills every field); drops the oldest when full. */
  push(): T {
    if (this.size === this.slots.length) {
      if (this.slots.length < this.capacity) {
        if (this.head !== 0) {
          // Grow a wrapped ring by unrolling it first, so the entries stay in order.
          const unrolled = [...this.slots.slice(this.head), ...this.slots.slice(0, this.head)];
          this.slots.length = 0;
          this.slots.push(...unrolled);
          this.head = 0;
        }
        this.slots.push(this.make());
      } else {
        this.head = (this.head + 1) % this.slots.length;
        this.size--;
        this.dropped++;
      }
    }
    const at = (this.head + this.size) % this.slots.length;
    this.size++;
    return this.slots[at]!;
  }

  /** The k-th oldest entry (0 = oldest), or undefined. */
  at(k: number): T | undefined {
    if (k < 0 || k >= this.size) return undefined;
    return this.slots[(this.head + k) % this.slots.length];
  }

  /** The newest entry, or undefined. */
  last(): T | undefined {
    return this.at(this.size - 1);
  }

  /** Removes the oldest entry, or the `n` oldest. */
  shift(n = 1): void {
    if (n > this.size) n = this.size;
    if (n <= 0) return;
    this.head = (this.head + n) % this.slots.length;
    this.size -= n;
  }
}

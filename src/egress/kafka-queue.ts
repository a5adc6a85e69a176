// The Kafka send queue: FIFO, bounded by a message count and a byte total
// (queue_buffering_max_messages / queue_buffering_max_kbytes). When a new message does not
// fit, the oldest messages are dropped first, and every drop is reported with its reason.
// A batch that is taken for sending and fails is put back at the head, in order.

export interface QueuedMessage {
  readonly topic: string;
  readonly value: string;
  /** UTF-8 length of value. */
  readonly bytes: number;
}

export type DropReason =
  /** The queue held queue_buffering_max_messages: the oldest message made room. */
  | "queue_full"
  /** The queue held queue_buffering_max_kbytes: the oldest messages made room. */
  | "queue_bytes"
  /** One message larger than the byte cap or than a broker accepts. */
  | "too_large"
  /** The broker refused the message for good (invalid topic, not authorized, invalid record). */
  | "rejected"
  /** Still queued when the agent stopped and the final flush ran out of time. */
  | "shutdown";

export const DROP_REASONS: readonly DropReason[] = ["queue_full", "queue_bytes", "too_large", "rejected", "shutdown"];

export function message(topic: string, value: string): QueuedMessage {
  return { topic, value, bytes: Buffer.byteLength(value) };
}

export class BoundedQueue {
  private items: (QueuedMessage | undefined)[] = [];
  private head = 0;
  private total = 0;

  constructor(
    readonly maxMessages: number,
    readonly maxBytes: number,
    private readonly onDrop: (m: QueuedMessage, reason: DropReason) => void,
  ) {
    if (!(maxMessages >= 1) || !(maxBytes >= 1)) throw new Error("queue limits must be positive");
  }

  get length(): number {
    return this.items.length - this.head;
  }

  get bytes(): number {
    return this.total;
  }

  /** Appends a message, dropping the oldest ones while the queue is over a limit. */
  push(m: QueuedMessage): void {
    if (m.bytes > this.maxBytes) {
      this.onDrop(m, "too_large");
      return;
    }
    while (this.length >= this.maxMessages) this.dropOldest("queue_full");
    while (this.total + m.bytes > this.maxBytes) this.dropOldest("queue_bytes");
    this.items.push(m);
    this.total += m.bytes;
  }

  /**
   * Removes and returns up to `maxCount` messages from the head whose sizes add up to at
   * most `maxBytes` (always at least one message when the queue is not empty).
   */
  take(maxCount: number, maxBytes: number): QueuedMessage[] {
    const out: QueuedMessage[] = [];
    let bytes = 0;
    while (out.length < maxCount && this.head < this.items.length) {
      const m = this.items[this.head]!;
      if (out.length > 0 && bytes + m.bytes > maxBytes) break;
      out.push(m);
      bytes += m.bytes;
      this.items[this.head++] = undefined;
      this.total -= m.bytes;
    }
    this.compact();
    return out;
  }

  /** Puts a batch that could not be sent back at the head (in its order), then enforces the limits. */
  requeue(batch: readonly QueuedMessage[]): void {
    if (batch.length === 0) return;
    if (this.head >= batch.length) {
      this.head -= batch.length;
      for (let i = 0; i < batch.length; i++) this.items[this.head + i] = batch[i];
    } else {
      this.items = [...batch, ...this.items.slice(this.head)];
      this.head = 0;
    }
    for (const m of batch) this.total += m.bytes;
    while (this.length > this.maxMessages) this.dropOldest("queue_full");
    while (this.total > this.maxBytes) this.dropOldest("queue_bytes");
  }

  /** Drops everything that is queued, with `reason`. */
  clear(reason: DropReason): void {
    while (this.length > 0) this.dropOldest(reason);
  }

  private dropOldest(reason: DropReason): void {
    const m = this.items[this.head];
    if (!m) return;
    this.items[this.head++] = undefined;
    this.total -= m.bytes;
    this.compact();
    this.onDrop(m, reason);
  }

  private compact(): void {
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}

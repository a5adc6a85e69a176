// HPACK tables (RFC 7541 §2.3, Appendix A): the static table and a dynamic table that is honest
// about what it does not know.
//
// A connection seen from its start (the HTTP/2 preface) has an empty dynamic table of 4096
// bytes: every entry is known. A connection seen mid-way, or one whose header block fell into a
// capture gap, has entries nobody told us about. Entries are addressed by recency (index 62 is
// the newest insertion), and eviction only ever removes the oldest, so the insertions seen since
// the knowledge was lost are still exactly the newest entries, at known indices, whatever the
// unknown older ones were: an encoder that references index 62 + i, i < known entries, means our
// i-th newest entry. An index past the known entries is unknown ("undecodable"), never guessed.
// The table becomes complete again when the unknown entries are provably gone: a size update
// that (or an insertion that, once the capacity is known) evicts a known entry, or a size
// update to 0.

/** RFC 7541 Appendix A, index 1..61 (entry 0 unused). */
export const STATIC_TABLE: readonly (readonly [string, string])[] = [
  ["", ""],
  [":authority", ""],
  [":method", "GET"],
  [":method", "POST"],
  [":path", "/"],
  [":path", "/index.html"],
  [":scheme", "http"],
  [":scheme", "https"],
  [":status", "200"],
  [":status", "204"],
  [":status", "206"],
  [":status", "304"],
  [":status", "400"],
  [":status", "404"],
  [":status", "500"],
  ["accept-charset", ""],
  ["accept-encoding", "gzip, deflate"],
  ["accept-language", ""],
  ["accept-ranges", ""],
  ["accept", ""],
  ["access-control-allow-origin", ""],
  ["age", ""],
  ["allow", ""],
  ["authorization", ""],
  ["cache-control", ""],
  ["content-disposition", ""],
  ["content-encoding", ""],
  ["content-language", ""],
  ["content-length", ""],
  ["content-location", ""],
  ["content-range", ""],
  ["content-type", ""],
  ["cookie", ""],
  ["date", ""],
  ["etag", ""],
  ["expect", ""],
  ["expires", ""],
  ["from", ""],
  ["host", ""],
  ["if-match", ""],
  ["if-modified-since", ""],
  ["if-none-match", ""],
  ["if-range", ""],
  ["if-unmodified-since", ""],
  ["last-modified", ""],
  ["link", ""],
  ["location", ""],
  ["max-forwards", ""],
  ["proxy-authenticate", ""],
  ["proxy-authorization", ""],
  ["range", ""],
  ["referer", ""],
  ["refresh", ""],
  ["retry-after", ""],
  ["server", ""],
  ["set-cookie", ""],
  ["strict-transport-security", ""],
  ["transfer-encoding", ""],
  ["user-agent", ""],
  ["vary", ""],
  ["via", ""],
  ["www-authenticate", ""],
];
export const STATIC_COUNT = 61;
/** The table size a fresh connection starts with (SETTINGS_HEADER_TABLE_SIZE default). */
export const DEFAULT_TABLE_SIZE = 4096;
/** RFC 7541 §4.1: an entry's size is its name and value lengths plus 32. */
export const ENTRY_OVERHEAD = 32;

export class DynamicTable {
  /** Known entries, oldest first (the newest is index 62). */
  private names: string[] = [];
  private values: string[] = [];
  private sizes: number[] = [];
  private head = 0;
  private knownSize = 0;
  /** No unknown entries older than the known ones. */
  complete: boolean;
  /** The encoder's current maximum size, or -1 when a size update we did not see may have changed it. */
  private capacity: number;
  /** What the decoder side allowed (SETTINGS_HEADER_TABLE_SIZE, the largest seen): bounds memory. */
  private limit = DEFAULT_TABLE_SIZE;

  /** `fresh`: the connection was seen from its preface. */
  constructor(fresh: boolean) {
    this.complete = fresh;
    this.capacity = fresh ? DEFAULT_TABLE_SIZE : -1;
  }

  get length(): number {
    return this.names.length - this.head;
  }

  /** Forgets everything (a header block was lost): later insertions are known again. */
  lose(): void {
    this.clear();
    this.complete = false;
    this.capacity = -1;
  }

  /** A SETTINGS_HEADER_TABLE_SIZE the decoder side announced. */
  allow(size: number): void {
    if (size > this.limit) this.limit = size;
  }

  /** Dynamic index i (0 = newest) → whether known. */
  has(i: number): boolean {
    return i >= 0 && i < this.length;
  }

  name(i: number): string {
    return this.names[this.names.length - 1 - i]!;
  }

  value(i: number): string {
    return this.values[this.values.length - 1 - i]!;
  }

  /** A dynamic table size update (RFC 7541 §6.3). False when it exceeds what the decoder allowed. */
  resize(size: number): boolean {
    if (size > this.limit) return false;
    this.capacity = size;
    if (size === 0 || this.knownSize > size) this.complete = true;
    this.evictTo(size);
    return true;
  }

  /** Inserts an entry whose name and value are known. */
  insert(name: string, value: string): void {
    const size = name.length + value.length + ENTRY_OVERHEAD;
    const max = this.capacity >= 0 ? this.capacity : this.limit;
    if (size > max) {
      // RFC 7541 §4.4: an entry larger than the table empties it. With the capacity unknown
      // this only says the entry does not fit what we keep: the table stays unknown.
      this.clear();
      if (this.capacity >= 0) this.complete = true;
      return;
    }
    if (this.capacity >= 0 && this.knownSize + size > this.capacity) this.complete = true;
    this.evictTo(max - size);
    this.names.push(name);
    this.values.push(value);
    this.sizes.push(size);
    this.knownSize += size;
  }

  /** Inserts an entry whose name is unknown (an indexed name we cannot resolve): its size is
   *  unknown, so only the insertions after it stay known. */
  insertUnknown(): void {
    this.clear();
    this.complete = false;
  }

  private evictTo(size: number): void {
    while (this.knownSize > size && this.head < this.names.length) {
      this.knownSize -= this.sizes[this.head]!;
      this.head++;
    }
    if (this.head > 64 && this.head * 2 > this.names.length) {
      this.names = this.names.slice(this.head);
      this.values = this.values.slice(this.head);
      this.sizes = this.sizes.slice(this.head);
      this.head = 0;
    }
  }

  private clear(): void {
    this.names.length = 0;
    this.values.length = 0;
    this.sizes.length = 0;
    this.head = 0;
    this.knownSize = 0;
  }
}

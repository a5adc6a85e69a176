// HPACK header block decoder (RFC 7541) over one direction's DynamicTable (hpack-table.ts).
// A reference to a dynamic entry the table does not know is counted, not guessed: the block's
// other fields still decode, and insertions keep the table in step.
import { huffmanDecode } from "./hpack-huffman.ts";
import { DynamicTable, STATIC_COUNT, STATIC_TABLE } from "./hpack-table.ts";

/** Receives each decoded field of a block, in order. */
export type FieldSink = (name: string, value: string) => void;

/** `decode` result for a block that violates RFC 7541 (the table is then lost). */
export const MALFORMED = -1;

const MAX_INT = 2 ** 31;

export class HpackDecoder {
  readonly table: DynamicTable;
  private scratch = new Uint8Array(256);
  private pos = 0;

  constructor(fresh: boolean) {
    this.table = new DynamicTable(fresh);
  }

  /** Decodes the block `src[start, end)`; returns how many fields referenced an unknown
   *  dynamic entry (their name or value is not passed to `sink`), or MALFORMED, after which
   *  the table is lost (`DynamicTable.lose`). */
  decode(src: Uint8Array, start: number, end: number, sink: FieldSink): number {
    const result = this.decodeFields(src, start, end, sink);
    if (result === MALFORMED) this.table.lose();
    return result;
  }

  private decodeFields(src: Uint8Array, start: number, end: number, sink: FieldSink): number {
    const table = this.table;
    let unknown = 0;
    let fieldsSeen = false;
    this.pos = start;
    while (this.pos < end) {
      const b = src[this.pos]!;
      if (b & 0x80) {
        const index = this.integer(src, end, 7);
        if (index <= 0) return MALFORMED;
        if (index <= STATIC_COUNT) sink(STATIC_TABLE[index]![0], STATIC_TABLE[index]![1]);
        else if (table.has(index - STATIC_COUNT - 1)) sink(table.name(index - STATIC_COUNT - 1), table.value(index - STATIC_COUNT - 1));
        else if (table.complete) return MALFORMED;
        else unknown++;
        fieldsSeen = true;
      } else if ((b & 0xe0) === 0x20) {
        if (fieldsSeen) return MALFORMED; // RFC 7541 §4.2: size updates come first
        const size = this.integer(src, end, 5);
        if (size < 0 || !table.resize(size)) return MALFORMED;
      } else {
        const indexing = (b & 0xc0) === 0x40;
        const nameIndex = this.integer(src, end, indexing ? 6 : 4);
        if (nameIndex < 0) return MALFORMED;
        let name: string | undefined;
        if (nameIndex === 0) {
          name = this.string(src, end);
          if (name === undefined) return MALFORMED;
        } else if (nameIndex <= STATIC_COUNT) name = STATIC_TABLE[nameIndex]![0];
        else if (table.has(nameIndex - STATIC_COUNT - 1)) name = table.name(nameIndex - STATIC_COUNT - 1);
        else if (table.complete) return MALFORMED;
        const value = this.string(src, end);
        if (value === undefined) return MALFORMED;
        if (name === undefined) {
          unknown++;
          if (indexing) table.insertUnknown();
        } else {
          sink(name, value);
          if (indexing) table.insert(name, value);
        }
        fieldsSeen = true;
      }
    }
    return unknown;
  }

  /** RFC 7541 §5.1 integer with an n-bit prefix at `pos`; -1 when truncated or too large. */
  private integer(src: Uint8Array, end: number, n: number): number {
    const mask = (1 << n) - 1;
    let value = src[this.pos++]! & mask;
    if (value < mask) return value;
    let shift = 1;
    for (;;) {
      if (this.pos >= end) return -1;
      const b = src[this.pos++]!;
      value += (b & 0x7f) * shift;
      if (value >= MAX_INT) return -1;
      if ((b & 0x80) === 0) return value;
      shift *= 128;
    }
  }

  /** RFC 7541 §5.2 string literal at `pos` (raw or Huffman), as Latin-1; undefined when malformed. */
  private string(src: Uint8Array, end: number): string | undefined {
    if (this.pos >= end) return undefined;
    const huffman = (src[this.pos]! & 0x80) !== 0;
    const length = this.integer(src, end, 7);
    if (length < 0 || this.pos + length > end) return undefined;
    const from = this.pos;
    this.pos += length;
    if (!huffman) return latin1(src, from, from + length);
    const bound = Math.ceil((length * 8) / 5);
    if (this.scratch.length < bound) this.scratch = new Uint8Array(Math.max(bound, this.scratch.length * 2));
    const n = huffmanDecode(src, from, from + length, this.scratch, 0);
    return n < 0 ? undefined : latin1(this.scratch, 0, n);
  }
}

function latin1(b: Uint8Array, from: number, to: number): string {
  let s = "";
  for (let i = from; i < to; i += 4096) s += String.fromCharCode.apply(null, b.subarray(i, Math.min(to, i + 4096)) as unknown as number[]);
  return s;
}

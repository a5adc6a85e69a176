// Declarative C struct layouts for the option structs passed to libbpf and the kernel: fields
// are listed with their C types, offsets follow the C rules (natural alignment, size rounded
// up to the largest member alignment, LP64), and a leading `sz` field (libbpf's
// forward-compatibility convention) is filled with the struct size. No byte offset is
// written by hand; struct.test.ts checks every layout against the C headers.
import { ptr } from "bun:ffi";

export type FieldType = "bool" | "u8" | "i8" | "u16" | "i16" | "u32" | "i32" | "u64" | "i64" | "size_t" | "ptr";

const SIZE: Record<FieldType, number> = { bool: 1, u8: 1, i8: 1, u16: 2, i16: 2, u32: 4, i32: 4, u64: 8, i64: 8, size_t: 8, ptr: 8 };

/** A field value: numbers/bigints for scalars; for `ptr`, a buffer (kept alive by the StructValue), a string (NUL-terminated copy) or null. */
export type FieldValue = number | bigint | boolean | Uint8Array | ArrayBufferView | string | null | undefined;

export class StructLayout<F extends string> {
  readonly size: number;
  readonly align: number;
  readonly offsets: Readonly<Record<F, number>>;
  readonly types: Readonly<Record<F, FieldType>>;

  /**
   * @param name C struct name (for errors)
   * @param fields in declaration order; names starting with "_" are padding placeholders
   *   (unnamed C members such as libbpf's `__u32 :32`)
   */
  constructor(
    readonly name: string,
    fields: readonly (readonly [F, FieldType])[],
  ) {
    let off = 0;
    let align = 1;
    const offsets = {} as Record<F, number>;
    const types = {} as Record<F, FieldType>;
    for (const [f, t] of fields) {
      if (f in offsets) throw new Error(`struct ${name}: field ${f} declared twice`);
      const s = SIZE[t];
      off = (off + s - 1) & ~(s - 1);
      offsets[f] = off;
      types[f] = t;
      off += s;
      align = Math.max(align, s);
    }
    this.size = (off + align - 1) & ~(align - 1);
    this.align = align;
    this.offsets = offsets;
    this.types = types;
  }

  /** A zeroed instance with `values` set (and `sz`, when the struct has one, set to the size). */
  make(values: Partial<Record<F, FieldValue>> = {}): StructValue<F> {
    const v = new StructValue(this);
    if ("sz" in this.offsets) v.set("sz" as F, this.size);
    for (const [f, x] of Object.entries(values) as [F, FieldValue][]) v.set(f, x);
    return v;
  }
}

/** The bytes of one struct instance; pass `.bytes` to FFI. Holds what its pointers point to. */
export class StructValue<F extends string> {
  readonly bytes: Uint8Array;
  private readonly view: DataView;
  private readonly keep = new Map<F, unknown>();

  constructor(readonly layout: StructLayout<F>) {
    this.bytes = new Uint8Array(layout.size);
    this.view = new DataView(this.bytes.buffer);
  }

  /** Writes field `f`. @throws Error on an unknown field or a value that does not fit */
  set(f: F, x: FieldValue): this {
    const off = this.layout.offsets[f];
    const t = this.layout.types[f];
    if (off === undefined || t === undefined) throw new Error(`struct ${this.layout.name}: no field ${String(f)}`);
    const d = this.view;
    if (t === "ptr") {
      if (x === null || x === undefined) {
        d.setBigUint64(off, 0n, true);
        this.keep.delete(f);
        return this;
      }
      const buf = typeof x === "string" ? Buffer.from(`${x}\0`) : typeof x === "object" ? x : undefined;
      if (!buf) throw new Error(`struct ${this.layout.name}.${f}: a pointer field takes a buffer, a string or null`);
      this.keep.set(f, buf);
      d.setBigUint64(off, BigInt(ptr(buf as Uint8Array)), true);
      return this;
    }
    if (typeof x === "object" || typeof x === "string" || x === undefined) throw new Error(`struct ${this.layout.name}.${f}: ${t} field takes a number`);
    const n = typeof x === "boolean" ? (x ? 1 : 0) : x;
    switch (t) {
      case "bool":
      case "u8":
        d.setUint8(off, Number(n));
        break;
      case "i8":
        d.setInt8(off, Number(n));
        break;
      case "u16":
        d.setUint16(off, Number(n), true);
        break;
      case "i16":
        d.setInt16(off, Number(n), true);
        break;
      case "u32":
        d.setUint32(off, Number(n), true);
        break;
      case "i32":
        d.setInt32(off, Number(n), true);
        break;
      case "i64":
        d.setBigInt64(off, BigInt(n), true);
        break;
      default:
        d.setBigUint64(off, BigInt(n), true);
    }
    return this;
  }

  /**
   * Call after the FFI call that used `bytes`: keeps this value, and so the buffers its
   * pointer fields point to, reachable until then (libbpf may call back into JS, e.g. its
   * print callback, and a collection must not free what C still reads).
   */
  retainUntilHere(): number {
    return this.keep.size;
  }

  /** Reads a scalar field (u64/i64/size_t as bigint). */
  get(f: F): number | bigint {
    const off = this.layout.offsets[f];
    const d = this.view;
    switch (this.layout.types[f]) {
      case "bool":
      case "u8":
        return d.getUint8(off);
      case "i8":
        return d.getInt8(off);
      case "u16":
        return d.getUint16(off, true);
      case "i16":
        return d.getInt16(off, true);
      case "u32":
        return d.getUint32(off, true);
      case "i32":
        return d.getInt32(off, true);
      case "i64":
        return d.getBigInt64(off, true);
      default:
        return d.getBigUint64(off, true);
    }
  }
}

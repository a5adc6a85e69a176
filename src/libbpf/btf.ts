// Questions answered from the kernel's BTF (vmlinux or a custom file): how many
// arguments a raw tracepoint passes (they grew over kernel versions, e.g. kfree_skb's
// rx_sk, tcp_send_reset's reason) and whether a struct has a field.
import { read, type Pointer } from "bun:ffi";
import { asPtr, libbpf } from "./ffi.ts";

const KIND_STRUCT = 4;
const KIND_ENUM = 6;
const KIND_PTR = 2;
const KIND_TYPEDEF = 8;
const KIND_FUNC_PROTO = 13;
const TYPE_SIZE = 12;

export interface MemberLayout {
  /** Byte offset in the struct. */
  offset: number;
  /** Byte size of the member's type. */
  size: number;
}

export class KernelBtf implements Disposable {
  private p: Pointer | null;
  private constructor(
    p: Pointer,
    private readonly owned = true,
  ) {
    this.p = p;
  }

  /** The BTF of a BPF object (owned by the object: valid while it is open). */
  static ofObject(objectHandle: Pointer): KernelBtf | undefined {
    const p = asPtr(libbpf().sym.bpf_object__btf(objectHandle));
    return p ? new KernelBtf(p, false) : undefined;
  }

  /** The running kernel's BTF, or the file at `customPath`; undefined when unavailable. */
  static open(customPath?: string): KernelBtf | undefined {
    const lib = libbpf();
    const p = asPtr(customPath ? lib.sym.btf__parse(Buffer.from(`${customPath}\0`), null) : lib.sym.btf__load_vmlinux_btf());
    if (!p || (p as unknown as number) >= 2 ** 53) return undefined;
    return new KernelBtf(p);
  }

  private type(id: number): { kind: number; vlen: number; ref: number; at: Pointer } | undefined {
    if (!this.p) return undefined;
    const t = asPtr(libbpf().sym.btf__type_by_id(this.p, id));
    if (!t) return undefined;
    const info = read.u32(t, 4);
    return { kind: (info >>> 24) & 0x1f, vlen: info & 0xffff, ref: read.u32(t, 8), at: t };
  }

  private find(name: string, kind: number): number {
    if (!this.p) return -1;
    return libbpf().sym.btf__find_by_name_kind(this.p, Buffer.from(`${name}\0`), kind);
  }

  /** Arguments of raw tracepoint `name` (without the leading context pointer); undefined when absent. */
  rawTracepointArgs(name: string): number | undefined {
    const id = this.find(`btf_trace_${name}`, KIND_TYPEDEF);
    if (id < 0) return undefined;
    let t = this.type(id);
    for (let guard = 0; t && t.kind !== KIND_FUNC_PROTO && guard < 8; guard++) {
      if (t.kind !== KIND_TYPEDEF && t.kind !== KIND_PTR) return undefined;
      t = this.type(t.ref);
    }
    return t ? Math.max(0, t.vlen - 1) : undefined;
  }

  /** Size and member offsets of `struct <name>` (bitfields are not supported). */
  structLayout(name: string): { size: number; members: Map<string, MemberLayout> } | undefined {
    const id = this.find(name, KIND_STRUCT);
    if (id < 0 || !this.p) return undefined;
    const t = this.type(id);
    if (!t) return undefined;
    const lib = libbpf();
    const size = read.u32(t.at, 8);
    const members = new Map<string, MemberLayout>();
    for (let i = 0; i < t.vlen; i++) {
      const base = TYPE_SIZE + i * 12;
      const name = String(lib.sym.btf__name_by_offset(this.p, read.u32(t.at, base)));
      const typeId = read.u32(t.at, base + 4);
      const bitOffset = read.u32(t.at, base + 8) & 0xffffff;
      members.set(name, { offset: bitOffset / 8, size: Number(lib.sym.btf__resolve_size(this.p, typeId)) });
    }
    return { size, members };
  }

  /** Whether `struct <struct>` has a member named `field`. */
  hasField(struct: string, field: string): boolean {
    const id = this.find(struct, KIND_STRUCT);
    if (id < 0 || !this.p) return false;
    const t = this.type(id);
    if (!t) return false;
    for (let i = 0; i < t.vlen; i++) {
      const nameOff = read.u32(t.at, TYPE_SIZE + i * 12);
      if (String(libbpf().sym.btf__name_by_offset(this.p, nameOff)) === field) return true;
    }
    return false;
  }

  /** Value of enumerator `name` of `enum <enumName>`, or undefined. */
  enumValue(enumName: string, name: string): number | undefined {
    const id = this.find(enumName, KIND_ENUM);
    if (id < 0 || !this.p) return undefined;
    const t = this.type(id);
    if (!t) return undefined;
    for (let i = 0; i < t.vlen; i++) {
      const base = TYPE_SIZE + i * 8;
      if (String(libbpf().sym.btf__name_by_offset(this.p, read.u32(t.at, base))) === name) return read.i32(t.at, base + 4);
    }
    return undefined;
  }

  [Symbol.dispose](): void {
    if (this.p && this.owned) libbpf().sym.btf__free(this.p);
    this.p = null;
  }
}

// A BPF ring buffer read straight from its mapping (no FFI call per record): the
// consumer page is mapped read-write, the producer page plus the data area (mapped
// twice by the kernel, so a record never wraps) read-only. Drain it from a timer; never
// block on it (docs/ebpf.md). x86-64 ordering is relied on for the plain loads of the
// record headers (see shared notes: Atomics on the read-only mapping crash Bun).
import { read, toArrayBuffer, type Pointer } from "bun:ffi";
import { BpfError } from "./errors.ts";
import { asPtr, errno, libc, strerror } from "./ffi.ts";
import { MapType, type BpfMap } from "./object.ts";

const PAGE = 4096;
const BUSY = 0x80000000;
const DISCARD = 0x40000000;
const LEN_MASK = 0x3fffffff;
const HDR = 8;

/** Called per record with a view of its payload (valid only during the call). */
/** mmap() returns MAP_FAILED ((void *)-1), which reaches JS as a number above 2^53. */
function mapFailed(p: Pointer | null): boolean {
  return !p || (p as unknown as number) >= 2 ** 53;
}

export type RecordHandler = (data: DataView, offset: number, length: number) => void;

export class RingBufferReader implements Disposable {
  private consPtr: Pointer | null;
  private prodPtr: Pointer | null;
  private readonly size: number;
  private readonly mask: number;
  private readonly cons: BigUint64Array;
  private readonly u32: Uint32Array;
  private readonly view: DataView;
  /** Records consumed since creation. */
  records = 0;

  constructor(map: BpfMap) {
    if (map.type !== MapType.RINGBUF) throw new BpfError(`ring buffer ${map.name}`, 22, "not a BPF_MAP_TYPE_RINGBUF map");
    this.size = map.maxEntries;
    this.mask = this.size - 1;
    const c = libc();
    const fd = map.fd;
    const cons = asPtr(c.mmap(null, PAGE, 3 /* PROT_READ|PROT_WRITE */, 1 /* MAP_SHARED */, fd, 0));
    if (mapFailed(cons)) throw new BpfError(`mmap consumer page of ${map.name}`, errno(), strerror(errno()));
    const prod = asPtr(c.mmap(null, PAGE + 2 * this.size, 1 /* PROT_READ */, 1, fd, PAGE));
    if (mapFailed(prod)) {
      c.munmap(cons!, PAGE);
      throw new BpfError(`mmap data pages of ${map.name}`, errno(), strerror(errno()));
    }
    this.consPtr = cons!;
    this.prodPtr = prod!;
    this.cons = new BigUint64Array(toArrayBuffer(cons!, 0, 8));
    const data = toArrayBuffer(prod!, PAGE, 2 * this.size);
    this.u32 = new Uint32Array(data);
    this.view = new DataView(data);
  }

  /** Bytes waiting to be read. */
  pending(): number {
    if (!this.prodPtr) return 0;
    return read.intptr(this.prodPtr, 0) - Number(this.cons[0]);
  }

  /** Consumes every committed record; returns how many were handed to `onRecord`. */
  drain(onRecord: RecordHandler, max = Number.POSITIVE_INFINITY): number {
    if (!this.prodPtr) return 0;
    let c = Number(this.cons[0]);
    let p = read.intptr(this.prodPtr, 0);
    let n = 0;
    let sinceStore = 0;
    while (c < p && n < max) {
      const off = c & this.mask;
      const len = this.u32[off >>> 2]!;
      if (len & BUSY) break;
      const payload = len & LEN_MASK;
      if (!(len & DISCARD)) {
        n++;
        onRecord(this.view, off + HDR, payload);
      }
      c += (payload + HDR + 7) & ~7;
      if (++sinceStore >= 1024) {
        Atomics.store(this.cons, 0, BigInt(c));
        sinceStore = 0;
      }
      if (c >= p) p = read.intptr(this.prodPtr, 0);
    }
    Atomics.store(this.cons, 0, BigInt(c));
    this.records += n;
    return n;
  }

  [Symbol.dispose](): void {
    const c = libc();
    if (this.prodPtr) c.munmap(this.prodPtr, PAGE + 2 * this.size);
    if (this.consPtr) c.munmap(this.consPtr, PAGE);
    this.prodPtr = null;
    this.consPtr = null;
  }
}

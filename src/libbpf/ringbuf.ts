// A BPF ring buffer read straight from its mapping (no FFI call per record): the
// consumer page is mapped read-write, the producer page plus the data area (mapped
// twice by the kernel, so a record never wraps) read-only. Drain it from a timer; never
// block on it (docs/ebpf.md). Use it through RingPoller (poller.ts), which picks it only
// where its memory ordering is known to be correct.
//
// Memory ordering. The protocol needs an acquire load of producer_pos and of each record
// header (so the payload read after it is not older than the header) and a release store of
// consumer_pos (so the producer never reuses space still being read). Here:
//  - producer_pos is read with bun:ffi `read.intptr`, a native call, which the JIT cannot
//    reorder other memory accesses across; headers and payloads are plain typed-array loads.
//  - consumer_pos is written with Atomics.store (sequentially consistent) on the writable
//    consumer page.
//  - Atomics.load cannot be used: on the read-only producer/data mapping it crashes Bun with
//    SIGSEGV once JIT-compiled (the notes' measurement), so no acquire load exists in JS here.
// On x86-64 (TSO) every plain load already has acquire semantics and stores are not
// reordered with earlier loads, so this reader is correct. On arm64 and other weakly
// ordered CPUs plain loads may be reordered: there RingPoller uses LibbpfRingReader
// (ring-libbpf.ts), whose ring_buffer__consume does smp_load_acquire/smp_store_release in C.
import { read, toArrayBuffer, type Pointer } from "bun:ffi";
import { BpfError } from "./errors.ts";
import { asPtr, errno, libc, strerror } from "./ffi.ts";
import { MapType, type BpfMap } from "./object.ts";

const PAGE = 4096;
const BUSY = 0x80000000;
const DISCARD = 0x40000000;
const LEN_MASK = 0x3fffffff;
const HDR = 8;

/** mmap() returns MAP_FAILED ((void *)-1), which reaches JS as a number above 2^53. */
function mapFailed(p: Pointer | null): boolean {
  return !p || (p as unknown as number) >= 2 ** 53;
}

/** True where plain loads from the mapping are acquire loads (x86-64, TSO). */
export const MMAP_READ_IS_ORDERED = process.arch === "x64";

/** Called per record with a view of its payload (valid only during the call). */
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

  /**
   * Consumes committed records (at most `max`); returns how many were handed to `onRecord`.
   * A throwing handler stops the drain; its record counts as consumed.
   */
  drain(onRecord: RecordHandler, max = Number.POSITIVE_INFINITY): number {
    if (!this.prodPtr) return 0;
    let c = Number(this.cons[0]);
    let p = read.intptr(this.prodPtr, 0);
    let n = 0;
    let sinceStore = 0;
    try {
      while (c < p && n < max) {
        const off = c & this.mask;
        const len = this.u32[off >>> 2]!;
        if (len & BUSY) break;
        const payload = len & LEN_MASK;
        c += (payload + HDR + 7) & ~7;
        if (!(len & DISCARD)) {
          n++;
          onRecord(this.view, off + HDR, payload);
        }
        if (++sinceStore >= 1024) {
          Atomics.store(this.cons, 0, BigInt(c));
          sinceStore = 0;
        }
        if (c >= p) p = read.intptr(this.prodPtr, 0);
      }
    } finally {
      Atomics.store(this.cons, 0, BigInt(c));
      this.records += n;
    }
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

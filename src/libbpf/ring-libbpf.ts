// A BPF ring buffer consumed through libbpf's ring_buffer__consume: libbpf loads the producer
// position and each record header with acquire semantics and stores the consumer position
// with release semantics (smp_load_acquire / smp_store_release in C), which is what weakly
// ordered CPUs such as arm64 need. One JSCallback call per record (~100-170 ns, see
// shared notes), so RingPoller uses it where the direct mmap reader is not known to be safe.
import { FFIType, JSCallback, toArrayBuffer, type Pointer } from "bun:ffi";
import { BpfError } from "./errors.ts";
import { asPtr, errno, libbpf, type Libbpf } from "./ffi.ts";
import { MapType, type BpfMap } from "./object.ts";
import type { RecordHandler } from "./ringbuf.ts";

/** Returned by the callback to make libbpf stop (the record it was called for is consumed). */
const STOP = -125; // -ECANCELED

export class LibbpfRingReader implements Disposable {
  private rb: Pointer | null;
  private readonly cb: JSCallback;
  private handler: RecordHandler | undefined;
  private budget = 0;
  private taken = 0;
  private failure: { error: unknown } | undefined;
  /** Records consumed since creation. */
  records = 0;

  /** Creates a libbpf ring_buffer over `map` (a BPF_MAP_TYPE_RINGBUF, loaded). */
  constructor(
    private readonly map: BpfMap,
    private readonly lib: Libbpf = libbpf(),
  ) {
    if (map.type !== MapType.RINGBUF) throw new BpfError(`ring buffer ${map.name}`, 22, "not a BPF_MAP_TYPE_RINGBUF map");
    this.cb = new JSCallback(
      (_ctx: Pointer, data: Pointer, size: number) => {
        this.taken++;
        try {
          this.handler!(new DataView(toArrayBuffer(data, 0, size)), 0, size);
        } catch (e) {
          this.failure = { error: e }; // never let an exception cross the C frames
          return STOP;
        }
        return this.taken >= this.budget ? STOP : 0;
      },
      { args: [FFIType.ptr, FFIType.ptr, FFIType.u64_fast], returns: FFIType.i32 },
    );
    const rb = asPtr(lib.sym.ring_buffer__new(map.fd, this.cb.ptr!, null, null));
    if (!rb) {
      const e = errno() || 22;
      this.cb.close();
      throw new BpfError(`ring_buffer__new ${map.name}`, e, lib.strerror(-e));
    }
    this.rb = rb;
  }

  /**
   * Consumes committed records (at most `max`), handing each to `onRecord` with a view of its
   * payload (valid only during the call). A throwing handler stops the drain after that record.
   */
  drain(onRecord: RecordHandler, max = Number.POSITIVE_INFINITY): number {
    if (!this.rb || max <= 0) return 0;
    this.handler = onRecord;
    this.budget = max;
    this.taken = 0;
    try {
      const r = this.lib.sym.ring_buffer__consume(this.rb);
      if (r < 0 && r !== STOP) throw new BpfError(`ring_buffer__consume ${this.map.name}`, r, this.lib.strerror(r));
    } finally {
      this.handler = undefined;
      this.records += this.taken;
    }
    const f = this.failure;
    this.failure = undefined;
    if (f) throw f.error;
    return this.taken;
  }

  [Symbol.dispose](): void {
    if (!this.rb) return;
    this.lib.sym.ring_buffer__free(this.rb);
    this.rb = null;
    this.cb.close();
  }
}

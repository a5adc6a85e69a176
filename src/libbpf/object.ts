// Typed, disposable wrappers over libbpf objects: open from memory → configure
// (autoload, map sizes, .rodata) → load → attach. Links and objects are Disposable.
import { toArrayBuffer, type Pointer } from "bun:ffi";
import { BpfError } from "./errors.ts";
import { BpfObjectOpenOpts, BpfTcHook, BpfTcOpts, BpfTestRunOpts, BpfUprobeOpts } from "./structs.ts";
import { asPtr, errno, libbpf, libc, strerror, takeRecentLibbpfLog, withQuietLibbpf, type Libbpf } from "./ffi.ts";

export interface OpenOptions {
  /** Object name shown in libbpf logs and bpftool. */
  name: string;
  /** BTF file for CO-RE relocations when the kernel has no /sys/kernel/btf/vmlinux. */
  btfCustomPath?: string;
  /** Extra Kconfig text (CONFIG_X=y lines) for __kconfig externs. */
  kconfig?: string;
}

/** libbpf's map types we name (enum bpf_map_type). */
export const MapType = {
  HASH: 1,
  ARRAY: 2,
  PERF_EVENT_ARRAY: 4,
  PERCPU_HASH: 5,
  PERCPU_ARRAY: 6,
  STACK_TRACE: 7,
  LRU_HASH: 9,
  LRU_PERCPU_HASH: 10,
  RINGBUF: 27,
} as const;

const cstr = (s: string) => Buffer.from(`${s}\0`);

export class BpfLink implements Disposable {
  private p: Pointer | null;
  constructor(
    private readonly lib: Libbpf,
    p: Pointer,
    readonly description: string,
    private readonly onDestroy?: () => void,
  ) {
    this.p = p;
  }
  get fd(): number {
    return this.p ? this.lib.sym.bpf_link__fd(this.p) : -1;
  }
  destroy(): void {
    if (!this.p) return;
    const p = this.p;
    this.p = null;
    this.lib.sym.bpf_link__destroy(p);
    this.onDestroy?.();
  }
  [Symbol.dispose](): void {
    this.destroy();
  }
}

export class BpfProgram {
  constructor(
    private readonly lib: Libbpf,
    readonly handle: Pointer,
    readonly name: string,
    readonly section: string,
  ) {}

  get fd(): number {
    return this.lib.sym.bpf_program__fd(this.handle);
  }
  /**
   * Runs the loaded program once in the caller's context (BPF_PROG_TEST_RUN) with no input
   * (raw_tp and syscall programs that read no arguments); returns its return value.
   */
  testRun(): number {
    const opts = BpfTestRunOpts.make();
    this.lib.check(this.lib.sym.bpf_prog_test_run_opts(this.fd, opts.bytes), `test run ${this.name}`);
    return opts.get("retval") as number;
  }
  /** Before load: whether this program is loaded at all. */
  setAutoload(on: boolean): void {
    this.lib.check(this.lib.sym.bpf_program__set_autoload(this.handle, on), `set_autoload ${this.name}`);
  }
  get autoload(): boolean {
    return this.lib.sym.bpf_program__autoload(this.handle);
  }

  private link(p: Pointer | null, what: string, onDestroy?: () => void): BpfLink {
    const desc = `${what} (${this.name})`;
    if (!p) {
      const e = errno() || 22;
      onDestroy?.();
      throw new BpfError(`attach ${desc}`, e, this.lib.strerror(-e));
    }
    return new BpfLink(this.lib, p, desc, onDestroy);
  }

  /** Attach by section name (tracepoint/…, raw_tp/…, uprobe/…, …). */
  attach(): BpfLink {
    return this.link(asPtr(this.lib.sym.bpf_program__attach(this.handle)), this.section);
  }
  attachTracepoint(category: string, name: string): BpfLink {
    return this.link(asPtr(this.lib.sym.bpf_program__attach_tracepoint(this.handle, cstr(category), cstr(name))), `tracepoint/${category}/${name}`);
  }
  attachRawTracepoint(name: string): BpfLink {
    return this.link(asPtr(this.lib.sym.bpf_program__attach_raw_tracepoint(this.handle, cstr(name))), `raw_tp/${name}`);
  }
  /**
   * Attaches to the perf event `pfd`. The fd is owned by the link afterwards (closed by
   * bpf_link__destroy); when the attach fails it is closed here, so it never leaks.
   */
  attachPerfEvent(pfd: number): BpfLink {
    const p = asPtr(this.lib.sym.bpf_program__attach_perf_event(this.handle, pfd));
    if (!p) {
      const e = errno() || 22;
      libc().close(pfd);
      throw new BpfError(`attach perf_event fd ${pfd} (${this.name})`, e, this.lib.strerror(-e));
    }
    return new BpfLink(this.lib, p, `perf_event fd ${pfd} (${this.name})`);
  }
  /**
   * uprobe/uretprobe on `binary` at `func` (symbol name, resolved by libbpf) or offset.
   * `refCtrOffset`: file offset of a USDT semaphore the kernel increments in every process
   * mapping the file while the probe is attached (perf uprobe ref_ctr_offset, Linux 4.20).
   */
  attachUprobe(o: { binary: string; func?: string; offset?: number; pid?: number; retprobe?: boolean; cookie?: bigint; refCtrOffset?: number }): BpfLink {
    const opts = BpfUprobeOpts.make({ bpf_cookie: o.cookie ?? 0n, retprobe: !!o.retprobe, func_name: o.func ?? null, ref_ctr_offset: o.refCtrOffset ?? 0 });
    const p = asPtr(this.lib.sym.bpf_program__attach_uprobe_opts(this.handle, o.pid ?? -1, cstr(o.binary), o.offset ?? 0, opts.bytes));
    opts.retainUntilHere();
    return this.link(p, `${o.retprobe ? "uretprobe" : "uprobe"} ${o.binary}:${o.func ?? `0x${(o.offset ?? 0).toString(16)}`}`);
  }
  /** cgroup program (sock_ops, cgroup_skb, …) on a cgroup v2 directory. */
  attachCgroup(cgroupPath: string): BpfLink {
    const fd = libc().open(cstr(cgroupPath), 0o200000 /* O_DIRECTORY */ | 0o2000000 /* O_CLOEXEC */, 0);
    if (fd < 0) throw new BpfError(`open cgroup ${cgroupPath}`, errno(), strerror(errno()));
    try {
      return this.link(asPtr(this.lib.sym.bpf_program__attach_cgroup(this.handle, fd)), `cgroup ${cgroupPath}`);
    } finally {
      libc().close(fd); // the link holds its own reference to the cgroup
    }
  }
  /** tc (sched_cls) program on `ifname` ingress or egress (clsact qdisc created if needed). */
  attachTc(ifname: string, direction: "ingress" | "egress", priority = 1): TcAttachment {
    return new TcAttachment(this.lib, this, ifname, direction, priority);
  }
}

/**
 * A tc filter created through libbpf's netlink helpers (direct-action, handle 1) on a
 * clsact qdisc; the filter is removed on dispose. A clsact qdisc this created stays (empty)
 * since other users' filters may have joined it.
 */
export class TcAttachment implements Disposable {
  private readonly hook = BpfTcHook.make();
  private readonly opts = BpfTcOpts.make();
  private attached = false;
  private createdHook = false;
  constructor(
    private readonly lib: Libbpf,
    prog: BpfProgram,
    readonly ifname: string,
    direction: "ingress" | "egress",
    priority: number,
  ) {
    const ifindex = libc().if_nametoindex(cstr(ifname));
    if (!ifindex) throw new BpfError(`tc attach ${prog.name} on ${ifname}`, 19, `no such network device ${ifname}`);
    this.hook.set("ifindex", ifindex).set("attach_point", direction === "ingress" ? 1 : 2); // BPF_TC_INGRESS=1, BPF_TC_EGRESS=2
    // An existing clsact qdisc is fine (-EEXIST; the kernel's "exclusivity" note is not logged).
    const r = withQuietLibbpf(() => lib.sym.bpf_tc_hook_create(this.hook.bytes));
    if (r < 0 && r !== -17) lib.check(r, `tc hook create on ${ifname}`);
    this.createdHook = r === 0;
    this.opts.set("prog_fd", prog.fd).set("handle", 1).set("priority", priority);
    lib.check(lib.sym.bpf_tc_attach(this.hook.bytes, this.opts.bytes), `tc attach ${prog.name} on ${ifname} ${direction}`);
    this.attached = true;
  }
  [Symbol.dispose](): void {
    if (!this.attached) return;
    this.attached = false;
    this.opts.set("prog_fd", 0).set("flags", 0).set("prog_id", 0);
    this.lib.sym.bpf_tc_detach(this.hook.bytes, this.opts.bytes);
    if (this.createdHook) this.lib.sym.bpf_tc_hook_destroy(this.hook.bytes);
  }
}

export interface BatchResult {
  keys: Uint8Array;
  values: Uint8Array;
  count: number;
}

export class BpfMap {
  constructor(
    private readonly lib: Libbpf,
    readonly handle: Pointer,
    readonly name: string,
  ) {}

  get fd(): number {
    return this.lib.sym.bpf_map__fd(this.handle);
  }
  get type(): number {
    return this.lib.sym.bpf_map__type(this.handle);
  }
  get keySize(): number {
    return this.lib.sym.bpf_map__key_size(this.handle);
  }
  get valueSize(): number {
    return this.lib.sym.bpf_map__value_size(this.handle);
  }
  get maxEntries(): number {
    return this.lib.sym.bpf_map__max_entries(this.handle);
  }
  private get perCpu(): boolean {
    const t = this.type;
    return t === MapType.PERCPU_HASH || t === MapType.PERCPU_ARRAY || t === MapType.LRU_PERCPU_HASH;
  }
  /** Bytes of one value as the syscall returns it (per-CPU maps: one 8-aligned slot per possible CPU). */
  get valueBufferSize(): number {
    if (!this.perCpu) return this.valueSize;
    return ((this.valueSize + 7) & ~7) * possibleCpus();
  }
  /** Before load. */
  setMaxEntries(n: number): void {
    this.lib.check(this.lib.sym.bpf_map__set_max_entries(this.handle, n), `set max_entries of ${this.name}`);
  }
  private mapped: { p: Pointer; size: number; view: DataView } | undefined;
  /** Set by BpfObject after a successful load. */
  loaded = false;

  /**
   * The map's data section (.rodata/.data/.bss/custom sections): before load, the initial
   * value libbpf will use; after load, a live view of the kernel memory (mmap of the map,
   * writable for .data/.bss, read-only for the frozen .rodata).
   */
  data(): DataView {
    if (this.mapped) return this.mapped.view;
    if (!this.loaded) {
      const size = new BigUint64Array(1);
      const p = asPtr(this.lib.sym.bpf_map__initial_value(this.handle, size));
      if (!p) throw new BpfError(`data section of ${this.name}`, 22, "map has no data section (not a global-variable map)");
      return new DataView(toArrayBuffer(p, 0, Number(size[0])));
    }
    const size = this.valueSize;
    const len = (size + 4095) & ~4095;
    const ro = this.name.endsWith(".rodata");
    const p = asPtr(libc().mmap(null, len, ro ? 1 : 3, 1 /* MAP_SHARED */, this.fd, 0));
    if (!p || (p as unknown as number) >= 2 ** 53) throw new BpfError(`mmap ${this.name}`, errno(), strerror(errno()));
    this.mapped = { p, size: len, view: new DataView(toArrayBuffer(p, 0, size)) };
    return this.mapped.view;
  }

  /**
   * A live view of a whole BPF_F_MMAPABLE array map (after load): entry i is at
   * i × valueSize (array values are 8-byte aligned in the kernel: use valueSize rounded up).
   */
  mmapArray(writable = false): DataView {
    if (this.mapped) return this.mapped.view;
    const stride = (this.valueSize + 7) & ~7;
    const size = stride * this.maxEntries;
    const len = (size + 4095) & ~4095;
    const p = asPtr(libc().mmap(null, len, writable ? 3 : 1, 1 /* MAP_SHARED */, this.fd, 0));
    if (!p || (p as unknown as number) >= 2 ** 53) throw new BpfError(`mmap ${this.name}`, errno(), strerror(errno()));
    this.mapped = { p, size: len, view: new DataView(toArrayBuffer(p, 0, size)) };
    return this.mapped.view;
  }

  /** Unmaps the data view (called by BpfObject.close; views become invalid). */
  unmap(): void {
    if (this.mapped) libc().munmap(this.mapped.p, this.mapped.size);
    this.mapped = undefined;
  }

  /** Returns false when the key is absent. */
  lookup(key: Uint8Array | ArrayBufferView, value: Uint8Array | ArrayBufferView): boolean {
    const r = this.lib.sym.bpf_map_lookup_elem(this.fd, key as Uint8Array, value as Uint8Array);
    if (r === -2) return false;
    this.lib.check(r, `lookup in ${this.name}`);
    return true;
  }
  /** flags: 0 any, 1 BPF_NOEXIST, 2 BPF_EXIST. */
  update(key: Uint8Array | ArrayBufferView, value: Uint8Array | ArrayBufferView, flags = 0): void {
    this.lib.check(this.lib.sym.bpf_map_update_elem(this.fd, key as Uint8Array, value as Uint8Array, flags), `update in ${this.name}`);
  }
  /** Returns false when the key was absent. */
  delete(key: Uint8Array | ArrayBufferView): boolean {
    const r = this.lib.sym.bpf_map_delete_elem(this.fd, key as Uint8Array);
    if (r === -2) return false;
    this.lib.check(r, `delete in ${this.name}`);
    return true;
  }
  /** Every key, through get_next_key (for map types without batch support). */
  keys(): Uint8Array[] {
    const out: Uint8Array[] = [];
    let prev: Uint8Array | null = null;
    for (;;) {
      const next: Uint8Array = new Uint8Array(this.keySize);
      const r: number = this.lib.sym.bpf_map_get_next_key(this.fd, prev, next);
      if (r === -2) break;
      this.lib.check(r, `get_next_key in ${this.name}`);
      out.push(next);
      prev = next;
    }
    return out;
  }

  private batch(deleting: boolean, chunk: number, visit: (b: BatchResult) => void): number {
    const keys = new Uint8Array(this.keySize * chunk);
    const values = new Uint8Array(this.valueBufferSize * chunk);
    const tokenSize = Math.max(this.keySize, 8);
    let inTok: Uint8Array | null = null;
    const outTok = new Uint8Array(tokenSize);
    const count = new Uint32Array(1);
    const f = deleting ? this.lib.sym.bpf_map_lookup_and_delete_batch : this.lib.sym.bpf_map_lookup_batch;
    let total = 0;
    for (;;) {
      count[0] = chunk;
      const r = f(this.fd, inTok, outTok, keys, values, count, null);
      if (r < 0 && r !== -2) this.lib.check(r, `${deleting ? "lookup_and_delete" : "lookup"}_batch in ${this.name}`);
      if (count[0] > 0) {
        total += count[0];
        visit({ keys, values, count: count[0] });
      }
      if (r === -2) break;
      inTok = inTok ?? new Uint8Array(tokenSize);
      inTok.set(outTok);
    }
    return total;
  }

  /** Reads every entry in batches of `chunk`; `visit` sees reused buffers. Returns the count. */
  lookupBatch(visit: (b: BatchResult) => void, chunk = 1024): number {
    return this.batch(false, chunk, visit);
  }
  /** Reads and deletes every entry in batches. */
  lookupAndDeleteBatch(visit: (b: BatchResult) => void, chunk = 1024): number {
    return this.batch(true, chunk, visit);
  }
}

export class BpfObject implements Disposable {
  private p: Pointer | null;
  private loadedFlag = false;
  private readonly links = new Set<BpfLink>();
  readonly programs = new Map<string, BpfProgram>();
  readonly maps = new Map<string, BpfMap>();

  private constructor(
    private readonly lib: Libbpf,
    p: Pointer,
    readonly name: string,
  ) {
    this.p = p;
    let prog: Pointer | null = null;
    while ((prog = asPtr(lib.sym.bpf_object__next_program(p, prog)))) {
      const n = String(lib.sym.bpf_program__name(prog));
      this.programs.set(n, new BpfProgram(lib, prog, n, String(lib.sym.bpf_program__section_name(prog))));
    }
    let map: Pointer | null = null;
    while ((map = asPtr(lib.sym.bpf_object__next_map(p, map)))) {
      const n = String(lib.sym.bpf_map__name(map));
      this.maps.set(n, new BpfMap(lib, map, n));
    }
  }

  /** Parses an ELF object from memory (the buffer is only needed during this call). */
  static open(bytes: Uint8Array, o: OpenOptions): BpfObject {
    const lib = libbpf();
    const opts = BpfObjectOpenOpts.make({ object_name: o.name, kconfig: o.kconfig ?? null, btf_custom_path: o.btfCustomPath ?? null });
    const p = asPtr(lib.sym.bpf_object__open_mem(bytes, bytes.length, opts.bytes));
    opts.retainUntilHere();
    return new BpfObject(lib, lib.checkPtr(p, `open ${o.name}.bpf.o`), o.name);
  }

  /** The libbpf `struct bpf_object *` (for KernelBtf.ofObject and similar). */
  get handle(): Pointer {
    if (!this.p) throw new Error(`BPF object ${this.name} is closed`);
    return this.p;
  }

  program(name: string): BpfProgram {
    const p = this.programs.get(name);
    if (!p) throw new BpfError(`program ${name} in ${this.name}`, 2, "no such program");
    return p;
  }
  map(name: string): BpfMap {
    const m = this.maps.get(name);
    if (!m) throw new BpfError(`map ${name} in ${this.name}`, 2, "no such map");
    return m;
  }
  get loaded(): boolean {
    return this.loadedFlag;
  }

  /** Loads every autoload program and creates the maps; verifier output goes to the log and the error. */
  load(): void {
    takeRecentLibbpfLog();
    const r = this.lib.sym.bpf_object__load(this.handle);
    if (r < 0) {
      const log = takeRecentLibbpfLog();
      const verifier = log.filter((l) => l.length > 0).slice(-12).join(" | ");
      throw new BpfError(`load ${this.name}.bpf.o`, r, `${this.lib.strerror(r)}${verifier ? ` — ${verifier}` : ""}`);
    }
    this.loadedFlag = true;
    for (const m of this.maps.values()) m.loaded = true;
  }

  /** Tracks a link so close() destroys it. */
  own(link: BpfLink): BpfLink {
    this.links.add(link);
    return link;
  }

  close(): void {
    for (const l of this.links) l.destroy();
    this.links.clear();
    for (const m of this.maps.values()) m.unmap();
    if (this.p) {
      this.lib.sym.bpf_object__close(this.p);
      this.p = null;
    }
  }
  [Symbol.dispose](): void {
    this.close();
  }
}

let cpus: number | undefined;
export function possibleCpus(): number {
  return (cpus ??= libbpf().sym.libbpf_num_possible_cpus());
}



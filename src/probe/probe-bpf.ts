// ctx.bpf: how a probe opens, loads and attaches its embedded BPF objects, reads their ring
// buffers through the agent's one poller and keeps the shared kernel scope in step. Every
// object, link, ring subscription and scope binding a run opened is closed when the run
// ends — also when open() throws half-way (the manager disposes the set either way).
import type { KernelFeatures } from "../host/features.ts";
import { trimHeap } from "../host/features.ts";
import type { Logger } from "../log/logger.ts";
import { bpfObjectBytes } from "../libbpf/assets.ts";
import { BpfObject, type BpfLink, type BpfMap } from "../libbpf/object.ts";
import type { RecordHandler } from "../libbpf/ringbuf.ts";
import { BpfScope, SCOPE_EVENTS, SCOPE_PROGRAMS, type BpfScopeOptions } from "./bpf-scope.ts";
import type { ScopeView } from "./define.ts";
import type { RingHandle, RingOptions, RingPoller } from "../libbpf/poller.ts";

export interface BpfOpenOptions {
  /** Map sizes set before load (e.g. a ring buffer from ringbuf_map_size). */
  readonly maps?: Readonly<Record<string, { readonly maxEntries?: number }>>;
  /** Writes the object's `const volatile` globals (its `<object>.rodata` section) before load. */
  readonly rodata?: (data: DataView) => void;
}

export interface ProbeBpf {
  /**
   * Opens the embedded object `<object>.bpf.o` (bpf/<probe>/<object>.bpf.c), not yet loaded:
   * set autoload and map sizes, then load(). With scope.h included, its process hooks are
   * set to load where this kernel has their tracepoints.
   */
  open(object: string, o?: BpfOpenOptions): BpfObject;
  /** Loads the object (verifier errors in the exception) and returns the heap libbpf used. */
  load(obj: BpfObject): void;
  /** Attaches `program` by its section, or to the raw tracepoint `rawTracepoint`; closed with the object. */
  attach(obj: BpfObject, program: string, rawTracepoint?: string): BpfLink;
  /**
   * Registers a ring buffer map of an open object on the agent's one poller
   * (src/libbpf/poller.ts); `o.drops` counts what the kernel could not put in the ring.
   * The handle's drain() reads it now (before a collection reads the maps).
   */
  ringbuf(map: BpfMap, onRecord: RecordHandler, o?: RingOptions): RingHandle;
  /** Binds the object's scope.h map and mode word to ctx.scope (kept in step until closed). */
  scopeSync(obj: BpfObject, o?: BpfScopeOptions): BpfScope;
  /** Closes an object and everything registered for it, before the run ends (a reload). */
  close(obj: BpfObject): void;
}

export interface ProbeBpfDeps {
  readonly feature: string;
  readonly log: Logger;
  readonly features: () => KernelFeatures;
  readonly poller: RingPoller;
  readonly scope: () => ScopeView;
  readonly drops: (reason: string) => (n: number) => void;
}

/** Whether this kernel has the raw tracepoint `name` (BTF answers, else tracefs). */
export function hasRawTracepoint(f: KernelFeatures, name: string, categories: readonly string[] = ["sched", "tcp", "sock", "skb", "udp"]): boolean {
  if (f.rawTracepointArgs(name) !== undefined) return true;
  return categories.some((c) => f.hasTracepoint(c, name));
}

/** The ProbeBpf of one run. */
export class ProbeBpfSet implements ProbeBpf, Disposable {
  /** Per object: what was registered for it, closed before the object itself. */
  private readonly objects = new Map<BpfObject, DisposableStack>();
  private readonly scopes = new Set<BpfScope>();
  private disposed = false;

  constructor(private readonly deps: ProbeBpfDeps) {}

  open(object: string, o: BpfOpenOptions = {}): BpfObject {
    if (this.disposed) throw new Error(`${this.deps.feature}: the run is closed`);
    const f = this.deps.features();
    const obj = BpfObject.open(bpfObjectBytes(object), { name: object, btfCustomPath: f.btfCustomPath });
    const stack = new DisposableStack();
    stack.defer(() => obj.close());
    this.objects.set(obj, stack);
    try {
      for (const [name, m] of Object.entries(o.maps ?? {})) if (m.maxEntries !== undefined) obj.map(name).setMaxEntries(m.maxEntries);
      if (o.rodata) o.rodata(obj.map(`${object}.rodata`).data());
      for (const [prog, tp] of Object.entries(SCOPE_PROGRAMS)) obj.programs.get(prog)?.setAutoload(hasRawTracepoint(f, tp, ["sched"]));
    } catch (e) {
      this.close(obj);
      throw e;
    }
    return obj;
  }

  load(obj: BpfObject): void {
    obj.load();
    trimHeap(); // libbpf parsed (and freed) the kernel's BTF for CO-RE
  }

  attach(obj: BpfObject, program: string, rawTracepoint?: string): BpfLink {
    const prog = obj.program(program);
    return obj.own(rawTracepoint ? prog.attachRawTracepoint(rawTracepoint) : prog.attach());
  }

  ringbuf(map: BpfMap, onRecord: RecordHandler, o: RingOptions = {}): RingHandle {
    const stack = this.stackOf(map);
    const handle = this.deps.poller.add(map, onRecord, { name: `${this.deps.feature}/${map.name}`, ...o });
    stack.use(handle);
    return handle;
  }

  scopeSync(obj: BpfObject, o: BpfScopeOptions = {}): BpfScope {
    const stack = this.objects.get(obj);
    if (!stack) throw new Error(`${obj.name}: not opened through ctx.bpf`);
    for (const [prog, tp] of Object.entries(SCOPE_PROGRAMS)) {
      if (obj.programs.get(prog)?.autoload) this.attach(obj, prog, tp);
      else this.deps.log.warn(`${tp} is not available: the scope map is updated only when the snooper rescans`);
    }
    const scope = new BpfScope(
      obj,
      {
        scope: this.deps.scope,
        ringbuf: (onRecord, drops) => this.ringbuf(obj.map(SCOPE_EVENTS), onRecord, { drops }),
        drops: this.deps.drops,
      },
      o,
    );
    this.scopes.add(scope);
    stack.defer(() => this.scopes.delete(scope));
    stack.use(scope);
    return scope;
  }

  /**
   * Whether every scope binding's kernel side observes `tgid` now (false without a binding).
   * A test starts a process's traffic only once this holds, so nothing slips through before
   * the kernel knows the process.
   */
  observes(tgid: number): boolean {
    if (this.scopes.size === 0) return false;
    for (const s of this.scopes) if (!s.observes(tgid)) return false;
    return true;
  }

  /** ctx.scope was replaced (reconfiguration): every binding follows the new one. */
  rescope(): void {
    for (const s of this.scopes) s.watch();
  }

  close(obj: BpfObject): void {
    const stack = this.objects.get(obj);
    if (!stack) return;
    this.objects.delete(obj);
    stack.dispose();
  }

  private stackOf(map: BpfMap): DisposableStack {
    for (const [obj, stack] of this.objects) if (obj.maps.get(map.name) === map) return stack;
    throw new Error(`map ${map.name} does not belong to an object opened through ctx.bpf`);
  }

  /** Closes everything (newest object first); errors are logged, never thrown. */
  [Symbol.dispose](): void {
    this.disposed = true;
    for (const obj of [...this.objects.keys()].reverse()) {
      try {
        this.close(obj);
      } catch (e) {
        this.deps.log.warn(`closing ${obj.name}.bpf.o: ${(e as Error).message ?? String(e)}`);
      }
    }
  }
}

// The kernel half of the l7 probe: opens bpf/l7/l7.bpf.o through ctx.bpf, sizes its maps
// from the limits, attaches the syscall tracepoints this kernel has, registers the payload
// ring on the agent's poller and gives typed access to the connection and verdict maps.
// The process scope is scope.h's (bound by the run through ctx.bpf.scopeSync).
import type { KernelFeatures } from "../../host/features.ts";
import { KernelBtf } from "../../libbpf/btf.ts";
import { possibleCpus, type BpfMap, type BpfObject } from "../../libbpf/object.ts";
import type { RingHandle } from "../../libbpf/poller.ts";
import type { ProbeBpf } from "../../probe/probe-bpf.ts";
import { CAP_MAX, ConnLayout, DROP_REASONS, EventLayout, type ConnInfo } from "./decode.ts";

/** Syscalls whose enter/exit pair the probe attaches; read and write are required. */
export const DATA_SYSCALLS = ["read", "write", "readv", "writev", "sendto", "recvfrom", "sendmsg", "recvmsg", "sendmmsg", "recvmmsg", "sendfile64"] as const;
export const CONN_SYSCALLS = ["connect", "accept", "accept4"] as const;
const REQUIRED = ["read", "write", "close"] as const;

export class L7ObjectError extends Error {
  readonly code = "EL7OBJECT";
}

/** Whether this kernel can run the probe; the reason when not. */
export function l7Unsupported(f: KernelFeatures): string | undefined {
  const gone = f.bpfUnavailable();
  if (gone) return gone;
  if (!f.attach.tracepoint.ok) return `tracepoints cannot be attached: ${f.attach.tracepoint.reason}`;
  if (!f.mapTypes.ringbuf) return "BPF ring buffers are not supported (kernel < 5.8)";
  if (!f.vmlinuxBtf && !f.btfCustomPath) return "no kernel BTF for CO-RE (/sys/kernel/btf/vmlinux or a custom BTF file)";
  const missing = REQUIRED.filter((n) => !f.hasTracepoint("syscalls", `sys_enter_${n}`) || (n !== "close" && !f.hasTracepoint("syscalls", `sys_exit_${n}`)));
  if (missing.length) return `missing syscall tracepoints ${missing.map((n) => `syscalls/sys_{enter,exit}_${n}`).join(", ")}`;
  return undefined;
}

export interface L7KernelOptions {
  bpf: ProbeBpf;
  features: KernelFeatures;
  maxConns: number;
  captureBytes: number;
  ringbufMiB: number;
  /** support_ssl: the syscall programs consult l7_tls_calls (the TLS uprobes' calls in flight). */
  tls: boolean;
  /** One ring record (a DATA or CLOSE event). */
  onRecord(view: DataView, off: number, length: number): void;
  /** Ring records the kernel could not reserve. */
  onRingDrops(n: number): void;
}

export class L7Kernel implements Disposable {
  readonly obj: BpfObject;
  readonly events: EventLayout;
  private readonly conns: BpfMap;
  private readonly verdicts: BpfMap;
  private readonly fds: BpfMap;
  private readonly dropsMap: BpfMap;
  private readonly connLayout: ConnLayout;
  private readonly ring: RingHandle;
  private readonly dropTotals = new Array<number>(DROP_REASONS.length).fill(0);
  readonly attached: string[] = [];
  readonly missing: string[] = [];
  private disposed = false;
  private readonly bss: DataView;
  private readonly tlsAt: number;

  constructor(private readonly o: L7KernelOptions) {
    const f = o.features;
    const n = o.maxConns;
    const obj = o.bpf.open("l7", {
      maps: {
        l7_conns: { maxEntries: n },
        l7_fds: { maxEntries: n },
        l7_verdicts: { maxEntries: n },
        l7_events: { maxEntries: o.ringbufMiB * 1024 * 1024 },
        l7_scratch: { maxEntries: possibleCpus() },
      },
    });
    try {
      const attach: string[] = [];
      for (const name of [...DATA_SYSCALLS, ...CONN_SYSCALLS]) {
        const has = f.hasTracepoint("syscalls", `sys_enter_${name}`) && f.hasTracepoint("syscalls", `sys_exit_${name}`);
        if (!has) this.missing.push(`syscalls/sys_{enter,exit}_${name}`);
        for (const p of [`enter_${name}`, `exit_${name}`]) {
          obj.program(p).setAutoload(has);
          if (has) attach.push(p);
        }
      }
      attach.push("enter_close");
      o.bpf.load(obj);
      this.obj = obj;
      for (const p of attach) {
        o.bpf.attach(obj, p);
        this.attached.push(p.replace(/^(enter|exit)_/, "sys_$1_"));
      }
      using btf = KernelBtf.ofObject(obj.handle);
      const ev = btf?.structLayout("l7_event");
      const conn = btf?.structLayout("l7_conn");
      const cfg = btf?.structLayout("l7_cfg");
      if (!ev || !conn || !cfg) throw new L7ObjectError("l7.bpf.o carries no BTF for struct l7_event/l7_conn/l7_cfg");
      this.events = new EventLayout(ev.size, ev.members);
      this.connLayout = new ConnLayout(conn.size, conn.members);
      const capAt = cfg.members.get("capture");
      const tlsAt = cfg.members.get("tls_on");
      if (!capAt || !tlsAt) throw new L7ObjectError("struct l7_cfg has no member capture/tls_on");
      // cfg is the object's only .bss variable (bpf/l7/capture.h), so it starts the section.
      this.bss = obj.map("l7.bss").data();
      this.tlsAt = tlsAt.offset;
      this.bss.setUint32(capAt.offset, Math.min(CAP_MAX, o.captureBytes), true);
      this.setTls(o.tls);
      this.conns = obj.map("l7_conns");
      this.verdicts = obj.map("l7_verdicts");
      this.fds = obj.map("l7_fds");
      this.dropsMap = obj.map("drops");
      const ringDrop = DROP_REASONS.indexOf("ring_full");
      this.ring = o.bpf.ringbuf(obj.map("l7_events"), o.onRecord, {
        drops: { read: () => this.dropTotal(ringDrop), report: (k) => o.onRingDrops(k) },
      });
    } catch (e) {
      o.bpf.close(obj);
      throw e;
    }
  }

  /** support_ssl changed: whether the syscall programs look for SSL calls in flight. */
  setTls(on: boolean): void {
    this.bss.setUint32(this.tlsAt, on ? 1 : 0, true);
  }

  /** Delivers the records waiting in the ring now. */
  drain(): number {
    return this.ring.drain();
  }

  /** Every tracked connection with its cumulative counters. */
  readConns(visit: (c: ConnInfo) => void): number {
    const ks = this.conns.keySize;
    const vs = this.conns.valueBufferSize;
    return this.conns.lookupBatch(({ keys, values, count }) => {
      const kv = new DataView(keys.buffer, keys.byteOffset, keys.byteLength);
      const vv = new DataView(values.buffer, values.byteOffset, values.byteLength);
      for (let i = 0; i < count; i++) visit(this.connLayout.decode(Number(kv.getBigUint64(i * ks, true)), vv, i * vs));
    }, 1024);
  }

  private readonly key8 = new BigUint64Array(1);
  private readonly connBuf = new Uint8Array(4096);

  /** One connection (undefined: not in the map). */
  conn(id: number): ConnInfo | undefined {
    this.key8[0] = BigInt(id);
    const buf = this.connBuf.subarray(0, this.conns.valueBufferSize);
    if (!this.conns.lookup(this.key8, buf)) return undefined;
    return this.connLayout.decode(id, new DataView(buf.buffer, buf.byteOffset, buf.byteLength), 0);
  }

  setVerdict(id: number, verdict: number): void {
    this.key8[0] = BigInt(id);
    try {
      this.verdicts.update(this.key8, new Uint32Array([verdict]));
    } catch {
      // The verdict map is as large as the connection map; a full one only costs capture.
    }
  }

  /** Forgets a connection in the kernel (closed, or its process is gone). */
  forget(c: { connId: number; tgid: number; fd: number }): void {
    this.key8[0] = BigInt(c.connId);
    this.conns.delete(this.key8);
    this.verdicts.delete(this.key8);
    const fk = new DataView(new ArrayBuffer(8));
    fk.setUint32(0, c.tgid, true);
    fk.setInt32(4, c.fd, true);
    const fv = new BigUint64Array(2);
    // Only the entry that still names this connection (the fd may already name another).
    if (this.fds.lookup(new Uint8Array(fk.buffer), fv) && Number(fv[0]) === c.connId) this.fds.delete(new Uint8Array(fk.buffer));
  }

  get connCapacity(): number {
    return this.conns.maxEntries;
  }

  private dropTotal(i: number): number {
    const buf = new BigUint64Array(this.dropsMap.valueBufferSize / 8);
    const stride = this.dropsMap.valueBufferSize / 8 / possibleCpus();
    let total = 0;
    if (this.dropsMap.lookup(new Uint32Array([i]), buf)) for (let c = 0; c < possibleCpus(); c++) total += Number(buf[c * stride]);
    return total;
  }

  /** Increments of the kernel's loss counters since the last call, by reason (ring_full goes through the poller). */
  dropDeltas(): Record<string, number> {
    const out: Record<string, number> = {};
    DROP_REASONS.forEach((name, i) => {
      if (name === "ring_full") return;
      const total = this.dropTotal(i);
      out[name] = Math.max(0, total - this.dropTotals[i]!);
      this.dropTotals[i] = total;
    });
    return out;
  }

  [Symbol.dispose](): void {
    if (this.disposed) return;
    this.disposed = true;
    this.o.bpf.close(this.obj);
  }
}

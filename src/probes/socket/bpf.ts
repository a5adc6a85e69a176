// The kernel half of the socket probe: opens bpf/socket/socket.bpf.o through ctx.bpf with
// the programs of the chosen subitems, attaches the tracepoints this kernel has, and gives
// typed access to the counters, the UDP byte map and the socket walk (iter/task_file).
// The scope map (scope.h) is bound by the run through ctx.bpf.scopeSync.
import type { KernelFeatures } from "../../host/features.ts";
import { KernelBtf } from "../../libbpf/btf.ts";
import { BpfError } from "../../libbpf/errors.ts";
import { BpfIterator } from "../../libbpf/iter.ts";
import { possibleCpus, type BpfMap, type BpfObject } from "../../libbpf/object.ts";
import type { ProbeBpf } from "../../probe/define.ts";
import { hasRawTracepoint } from "../../probe/probe-bpf.ts";
import { DROP_REASONS, IPPROTO_TCP, Layouts, SocketObjectError, type TcpStat, type UdpBytes, type WalkRecord } from "./decode.ts";

/** Program -> the tracepoint it attaches to (raw, or BTF-typed: `btf`), and which subitem needs it. */
const HOOKS: Record<string, { tp: string; subitem: "tcp" | "udp"; btf?: boolean; without?: string }> = {
  on_state: { tp: "inet_sock_set_state", subitem: "tcp" },
  on_retrans_synack: { tp: "tcp_retransmit_synack", subitem: "tcp", without: "retran_synacks" },
  on_retrans: { tp: "tcp_retransmit_skb", subitem: "tcp", without: "retran_syn" },
  on_kfree_skb: { tp: "kfree_skb", subitem: "tcp", without: "syn_drop" },
  on_send_length: { tp: "sock_send_length", subitem: "udp", btf: true, without: "bind_sends (sock_send_length appeared in Linux 6.3)" },
  on_recv_length: { tp: "sock_recv_length", subitem: "udp", btf: true, without: "bind_rcvs (sock_recv_length appeared in Linux 6.3)" },
};

/** Whether this kernel can run the probe; the reason when not. */
export function socketUnsupported(f: KernelFeatures): string | undefined {
  const gone = f.bpfUnavailable();
  if (gone) return gone;
  if (!f.attach.raw_tracepoint.ok) return `raw tracepoints cannot be attached: ${f.attach.raw_tracepoint.reason}`;
  if (!hasRawTracepoint(f, "inet_sock_set_state")) return "missing tracepoint sock:inet_sock_set_state";
  if (!f.vmlinuxBtf) return "BPF iterators need the kernel's own BTF (/sys/kernel/btf/vmlinux)";
  if (f.enumValue("bpf_func_id", "BPF_FUNC_sock_from_file") === undefined) return "the bpf_sock_from_file helper is missing (Linux < 5.11)";
  return undefined;
}

export interface SocketKernelOptions {
  bpf: ProbeBpf;
  features: KernelFeatures;
  tcp: boolean;
  udp: boolean;
  /** max_entries of the bounded maps (the probe's limits). */
  maps: { tcp_stats: number; listeners: number; connecting: number; udp_socks: number };
}

type CfgField = "epoch" | "neigh_lo" | "neigh_hi" | "tcp_on" | "udp_on";

export class SocketKernel {
  readonly obj: BpfObject;
  private readonly layouts: Layouts;
  private readonly cfgView: DataView;
  private readonly tcpStats: BpfMap;
  private readonly udpSocks: BpfMap;
  private readonly listeners: BpfMap;
  private readonly dropsMap: BpfMap;
  private readonly walker: BpfIterator;
  private readonly dropTotals = new Array<number>(DROP_REASONS.length).fill(0);
  readonly attached: string[] = [];
  readonly missing: string[] = [];
  private disposed = false;
  /** Whether UDP payload bytes are counted (sent, received): the hooks exist since Linux 6.3. */
  readonly udpBytes = { sent: false, received: false };

  constructor(o: SocketKernelOptions) {
    const f = o.features;
    const obj = o.bpf.open("socket", { maps: Object.fromEntries(Object.entries(o.maps).map(([k, n]) => [k, { maxEntries: n }])) });
    let walker: BpfIterator | undefined;
    try {
      const kfreeArgs = f.rawTracepointArgs("kfree_skb") ?? 0;
      const neighLo = f.enumValue("skb_drop_reason", "SKB_DROP_REASON_NEIGH_CREATEFAIL");
      const neighHi = f.enumValue("skb_drop_reason", "SKB_DROP_REASON_NEIGH_HH_FILLFAIL") ?? f.enumValue("skb_drop_reason", "SKB_DROP_REASON_NEIGH_DEAD");
      const want: Record<string, boolean> = { tcp: o.tcp, udp: o.udp };
      for (const [name, prog] of obj.programs) {
        const h = HOOKS[name];
        if (!h) continue; // the walk always loads; scope.h's programs are ctx.bpf's
        let ok = want[h.subitem]! && hasRawTracepoint(f, h.tp);
        if (name === "on_kfree_skb" && (kfreeArgs < 3 || neighLo === undefined || neighHi === undefined)) ok = false;
        prog.setAutoload(ok);
        if (want[h.subitem] && !ok && h.without) this.missing.push(`${h.tp} (${h.without})`);
      }
      o.bpf.load(obj);
      this.obj = obj;
      for (const [name, prog] of obj.programs) {
        const h = HOOKS[name];
        if (!h || !prog.autoload) continue;
        o.bpf.attach(obj, name, h.btf ? undefined : h.tp);
        this.attached.push(h.btf ? `tp_btf/${h.tp}` : h.tp);
        if (name === "on_send_length") this.udpBytes.sent = true;
        if (name === "on_recv_length") this.udpBytes.received = true;
      }
      walker = new BpfIterator(obj.program("walk"));
      this.attached.push("iter/task_file");
      using btf = KernelBtf.ofObject(obj.handle);
      if (!btf) throw new SocketObjectError("no BTF");
      this.layouts = Layouts.fromBtf((n) => btf.structLayout(n));
      this.cfgView = obj.map("socket.bss").data();
      this.tcpStats = obj.map("tcp_stats");
      this.udpSocks = obj.map("udp_socks");
      this.listeners = obj.map("listeners");
      this.dropsMap = obj.map("drops");
      this.walker = walker;
      this.setCfg("epoch", 1);
      this.setCfg("tcp_on", o.tcp ? 1 : 0);
      this.setCfg("udp_on", o.udp ? 1 : 0);
      if (obj.program("on_kfree_skb").autoload) {
        this.setCfg("neigh_lo", neighLo!);
        this.setCfg("neigh_hi", neighHi!);
      }
    } catch (e) {
      walker?.[Symbol.dispose]();
      o.bpf.close(obj);
      throw e;
    }
  }

  private setCfg(name: CfgField, v: number): void {
    const m = this.layouts.cfg.get(name);
    if (!m) throw new SocketObjectError(`struct gsock_cfg has no ${name}`);
    this.cfgView.setUint32(m.offset, v >>> 0, true);
  }

  private get epoch(): number {
    return this.cfgView.getUint32(this.layouts.cfg.get("epoch")!.offset, true);
  }

  /** Starts the next period; returns the epoch that just ended. */
  bumpEpoch(): number {
    const e = this.epoch;
    this.setCfg("epoch", (e + 1) >>> 0 || 1);
    return e;
  }

  /** Every endpoint_tcp entry; latency maxima are those of period `epoch`. */
  readTcp(epoch: number): TcpStat[] {
    const out: TcpStat[] = [];
    const ks = this.tcpStats.keySize;
    const vs = this.tcpStats.valueSize;
    this.tcpStats.lookupBatch(({ keys, values, count }) => {
      const kv = new DataView(keys.buffer, keys.byteOffset, keys.byteLength);
      const vv = new DataView(values.buffer, values.byteOffset, values.byteLength);
      for (let i = 0; i < count; i++) out.push(this.layouts.decodeTcp(kv, i * ks, vv, i * vs, epoch));
    }, 256);
    return out;
  }

  deleteTcp(ids: readonly string[]): void {
    for (const id of ids) this.tcpStats.delete(Buffer.from(id, "hex"));
  }

  /** One walk over the socket files of the processes in scope. */
  walk(): WalkRecord[] {
    const bytes = this.walker.read();
    const size = this.layouts.walk.size;
    if (bytes.length % size !== 0) throw new SocketObjectError(`the socket walk returned ${bytes.length} bytes, not a whole number of ${size}-byte records`);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const out: WalkRecord[] = [];
    for (let off = 0; off < bytes.length; off += size) out.push(this.layouts.decodeWalk(view, off));
    return out;
  }

  /** UDP byte counters per socket. */
  readUdp(): UdpBytes[] {
    const out: UdpBytes[] = [];
    const vs = this.udpSocks.valueSize;
    this.udpSocks.lookupBatch(({ keys, values, count }) => {
      const kv = new DataView(keys.buffer, keys.byteOffset, keys.byteLength);
      const vv = new DataView(values.buffer, values.byteOffset, values.byteLength);
      for (let i = 0; i < count; i++) out.push(this.layouts.decodeUdp(kv.getBigUint64(i * 8, true), vv, i * vs));
    }, 256);
    return out;
  }

  deleteUdp(sks: readonly bigint[]): void {
    for (const sk of sks) this.udpSocks.delete(new BigUint64Array([sk]));
  }

  /**
   * Names the owner of listeners the kernel did not see start (opened before the agent,
   * or before their process came into scope): passive opens on them are then attributed.
   * Entries the kernel wrote at listen() are kept.
   */
  adoptListeners(recs: readonly WalkRecord[]): number {
    let refused = 0;
    for (const r of recs) {
      if (r.proto !== IPPROTO_TCP) continue;
      const { key, val } = this.layouts.encodeListener(r);
      try {
        this.listeners.update(key, val, 1 /* BPF_NOEXIST */);
      } catch (e) {
        if (!(e instanceof BpfError && e.code === "EEXIST")) refused++;
      }
    }
    return refused;
  }

  /** Increments of the kernel's loss counters since the last call, by reason. */
  dropDeltas(): Record<string, number> {
    const out: Record<string, number> = {};
    const cpus = possibleCpus();
    const buf = new BigUint64Array(this.dropsMap.valueBufferSize / 8);
    const stride = buf.length / cpus;
    DROP_REASONS.forEach((name, i) => {
      let total = 0;
      if (this.dropsMap.lookup(new Uint32Array([i]), buf)) for (let c = 0; c < cpus; c++) total += Number(buf[c * stride]);
      out[name] = Math.max(0, total - this.dropTotals[i]!);
      this.dropTotals[i] = total;
    });
    return out;
  }

  /** Closes the walk's link and the object with what ctx.bpf registered for it. */
  close(bpf: ProbeBpf): void {
    if (this.disposed) return;
    this.disposed = true;
    this.walker[Symbol.dispose]();
    bpf.close(this.obj);
  }
}

// The kernel half of the tcp probe: opens bpf/tcp/tcp.bpf.o through ctx.bpf, configures
// it (.bss cfg), attaches the tracepoints this kernel has, registers its ring buffer on
// the agent's poller, and gives typed access to its maps. The process scope is scope.h's
// (bound by the run through ctx.bpf.scopeSync).
import { gunzipSync } from "node:zlib";
import type { KernelFeatures } from "../../host/features.ts";
import type { HostFs } from "../../host/fs.ts";
import { KernelBtf } from "../../libbpf/btf.ts";
import { possibleCpus, type BpfLink, type BpfMap, type BpfObject, type BpfProgram, type TcAttachment } from "../../libbpf/object.ts";
import { hasRawTracepoint, type ProbeBpf } from "../../probe/probe-bpf.ts";
import type { RingHandle } from "../../libbpf/poller.ts";
import { ConnLayout, decodeConn, DROP_REASONS, F, REC_CONN, type ConnRecord } from "./decode.ts";

/** Raw tracepoints the probe cannot work without. */
export const REQUIRED_TRACEPOINTS = ["inet_sock_set_state", "tcp_probe", "tcp_rcv_space_adjust"] as const;

/** Optional hooks and what is not counted without them. */
const OPTIONAL: Record<string, string> = {
  tcp_retransmit_skb: "retransmissions are counted only at samples",
  tcp_send_reset: "send_rsts and tcp_oom",
  tcp_receive_reset: "receive_rsts",
  kfree_skb: "backlog_drops, filter_drops and rmem_scheduls",
  sock_exceed_buf_limit: "snd_buf_limit_count",
  inet_sk_error_report: "tmout_count",
  tcp_destroy_sock: "bytes read after the connection reached CLOSE",
};

export interface TcpKernelOptions {
  bpf: ProbeBpf;
  features: KernelFeatures;
  host: HostFs;
  /** Closed connections, as the ring buffer (or the spill map) delivers them. */
  onClosed(r: ConnRecord): void;
  /** ringbuf_map_size, MiB (power of two). */
  ringbufMiB: number;
  /** Capacity of the connection map. */
  maxConns: number;
  sampleMs: number;
  /** tcp_delay subitem: hook tcp_sendmsg_locked. */
  delay: boolean;
  /** dev_name: stamp packets at this device's ingress for tcp_delay. */
  devName?: string;
}

/** Whether this kernel can run the probe; the reason when not. */
export function tcpUnsupported(f: KernelFeatures): string | undefined {
  const gone = f.bpfUnavailable();
  if (gone) return gone;
  if (!f.attach.raw_tracepoint.ok) return `raw tracepoints cannot be attached: ${f.attach.raw_tracepoint.reason}`;
  if (!f.mapTypes.ringbuf) return "BPF ring buffers are not supported (kernel < 5.8)";
  const missing = REQUIRED_TRACEPOINTS.filter((t) => !hasRawTp(f, t));
  if (missing.length) return `missing tracepoints ${missing.join(", ")}`;
  return undefined;
}

function hasRawTp(f: KernelFeatures, name: string): boolean {
  // Without BTF answers, tracefs tells whether the event exists.
  return hasRawTracepoint(f, name, ["tcp", "sock", "skb", "sched"]);
}

/** Kernel HZ from its config (/proc/config.gz or /boot/config-<release>); 1000 when unknown. */
export function kernelHz(host: HostFs, release: string): number {
  const texts: string[] = [];
  const gz = host.readBytes(host.proc("config.gz")); // absent unless built with IKCONFIG_PROC
  if (gz) {
    try {
      texts.push(gunzipSync(gz).toString());
    } catch {
      /* not gzip: ignored */
    }
  }
  const file = host.readRoot("boot", `config-${release}`);
  if (file !== undefined) texts.push(file);
  for (const t of texts) {
    const m = /^CONFIG_HZ=(\d+)$/m.exec(t);
    if (m) return Number(m[1]);
  }
  return 1000;
}

/** net.ipv4.ip_local_port_range. */
export function ephemeralRange(host: HostFs): [number, number] {
  const text = host.readProc("sys", "net", "ipv4", "ip_local_port_range");
  const [lo, hi] = (text ?? "").trim().split(/\s+/).map(Number);
  if (lo && hi && lo <= hi) return [lo, hi];
  return [32768, 60999];
}

type CfgField =
  | "sample_ns"
  | "epoch"
  | "delay_on"
  | "eph_lo"
  | "eph_hi"
  | "hz"
  | "rst_has_reason"
  | "kfree_has_rx_sk"
  | "reason_backlog"
  | "reason_filter"
  | "reason_proto_mem"
  | "rst_reason_oom"
  | "destroy_hook"
  | "sample_jiffies"
  | "refresh_on"
  | "spilled";

export class TcpKernel implements Disposable {
  readonly obj: BpfObject;
  private readonly layout: ConnLayout;
  private readonly cfgView: DataView;
  private readonly cfgOff: Map<string, { offset: number; size: number }>;
  private readonly ring: RingHandle;
  private readonly conns: BpfMap;
  private readonly dropsMap: BpfMap;
  private readonly spillMap: BpfMap;
  /** The refresh pass (bytes of live sockets brought up to date), when the kernel can run it. */
  private readonly refreshProg: BpfProgram | undefined;
  private swept = 0;
  private delayLinks: (BpfLink | TcAttachment)[] = [];
  private readonly dropTotals = new Array<number>(DROP_REASONS.length).fill(0);
  /** Hooks attached, and optional ones missing (with what that costs). */
  readonly attached: string[] = [];
  readonly missing: string[] = [];
  private disposed = false;
  private hz = 1000;

  constructor(private readonly o: TcpKernelOptions) {
    const f = o.features;
    const obj = o.bpf.open("tcp", { maps: { events: { maxEntries: o.ringbufMiB * 1024 * 1024 }, conns: { maxEntries: o.maxConns } } });
    try {
      const kfreeArgs = f.rawTracepointArgs("kfree_skb") ?? 0;
      const rstArgs = f.rawTracepointArgs("tcp_send_reset") ?? 0;
      const program: Record<string, string | undefined> = {
        on_state: "inet_sock_set_state",
        on_destroy: "tcp_destroy_sock",
        on_tcp_probe: "tcp_probe",
        on_rcv_space: "tcp_rcv_space_adjust",
        on_sendmsg: o.delay && hasRawTp(f, "tcp_sendmsg_locked") ? "tcp_sendmsg_locked" : undefined,
        on_data_ready: o.delay && hasRawTp(f, "sk_data_ready") ? "sk_data_ready" : undefined,
        on_retrans: "tcp_retransmit_skb",
        on_send_reset: rstArgs < 3 ? "tcp_send_reset" : undefined,
        on_send_reset_reason: rstArgs >= 3 ? "tcp_send_reset" : undefined,
        on_recv_reset: "tcp_receive_reset",
        on_kfree_skb: kfreeArgs === 3 ? "kfree_skb" : undefined,
        on_kfree_skb_rx: kfreeArgs >= 4 ? "kfree_skb" : undefined,
        on_buf_limit: "sock_exceed_buf_limit",
        on_sk_error: "inet_sk_error_report",
      };
      for (const [name, prog] of obj.programs) {
        if (name.startsWith("gopher_scope_")) continue; // scope.h's, set by ctx.bpf
        if (name === "tc_stamp") {
          prog.setAutoload(o.delay && !!o.devName);
          continue;
        }
        if (name === "refresh") {
          // bpf_for_each_map_elem (5.13) in a raw_tp run through BPF_PROG_TEST_RUN (5.10).
          prog.setAutoload(f.helpers.for_each_map_elem);
          continue;
        }
        const tp = program[name];
        const ok = tp !== undefined && hasRawTp(f, tp);
        prog.setAutoload(ok);
      }
      if (o.delay && !program.on_sendmsg) this.missing.push("tcp_sendmsg_locked (net_delay of proc_flow_perf)");
      if (o.delay && !program.on_data_ready) this.missing.push("sk_data_ready (sys_delay only for data arriving in ESTABLISHED)");
      for (const [tp, what] of Object.entries(OPTIONAL)) if (!hasRawTp(f, tp)) this.missing.push(`${tp} (${what})`);
      if (!kfreeArgs || kfreeArgs < 3) this.missing.push("kfree_skb drop reasons (backlog_drops, filter_drops, rmem_scheduls)");
      o.bpf.load(obj);
      this.obj = obj;
      for (const [name, prog] of obj.programs) {
        const tp = program[name];
        if (!prog.autoload || tp === undefined) continue;
        const link = o.bpf.attach(obj, name, tp);
        if (name === "on_sendmsg" || name === "on_data_ready") this.delayLinks.push(link);
        this.attached.push(tp);
      }
      if (o.delay && o.devName) {
        try {
          this.delayLinks.push(obj.program("tc_stamp").attachTc(o.devName, "ingress"));
          this.attached.push(`tc ingress ${o.devName}`);
        } catch (e) {
          this.missing.push(`tc ingress on ${o.devName} (${(e as Error).message}; sys_delay is measured from TCP arrival)`);
        }
      }
      using btf = KernelBtf.ofObject(obj.handle);
      const connLayout = btf?.structLayout("gtcp_conn");
      const cfgLayout = btf?.structLayout("gtcp_cfg");
      if (!connLayout || !cfgLayout) throw new Error("tcp.bpf.o carries no BTF for struct gtcp_conn/gtcp_cfg");
      this.layout = ConnLayout.fromBtf(connLayout);
      this.cfgOff = cfgLayout.members;
      this.cfgView = obj.map("tcp.bss").data();
      this.conns = obj.map("conns");
      this.dropsMap = obj.map("drops");
      this.spillMap = obj.map("spill");
      const refresh = obj.programs.get("refresh");
      this.refreshProg = refresh?.autoload ? refresh : undefined;
      // Static configuration.
      const [lo, hi] = ephemeralRange(o.host);
      this.setCfg("eph_lo", lo);
      this.setCfg("eph_hi", hi);
      this.hz = kernelHz(o.host, f.release);
      this.setCfg("hz", this.hz);
      this.setCfg("rst_has_reason", rstArgs >= 3 ? 1 : 0);
      this.setCfg("kfree_has_rx_sk", kfreeArgs >= 4 ? 1 : 0);
      const reason = (n: string) => f.enumValue("skb_drop_reason", n) ?? 0;
      this.setCfg("reason_backlog", reason("SKB_DROP_REASON_SOCKET_BACKLOG"));
      this.setCfg("reason_filter", reason("SKB_DROP_REASON_SOCKET_FILTER"));
      this.setCfg("reason_proto_mem", reason("SKB_DROP_REASON_PROTO_MEM"));
      this.setCfg("rst_reason_oom", f.enumValue("sk_rst_reason", "SK_RST_REASON_TCP_ABORT_ON_MEMORY") ?? 0);
      this.setCfg("epoch", 1);
      this.setCfg("destroy_hook", this.attached.includes("tcp_destroy_sock") ? 1 : 0);
      this.setSampleMs(o.sampleMs);
      this.setCfg("delay_on", o.delay ? 1 : 0);
      if (!this.refreshProg) this.missing.push("bpf_for_each_map_elem (every read of an observed socket takes the slower path)");
      else this.setCfg("refresh_on", 1);
      const events = obj.map("events");
      this.ring = o.bpf.ringbuf(
        events,
        (view, off) => {
          if (view.getUint32(off, true) === REC_CONN) o.onClosed(decodeConn(view, off, this.layout, this.epoch));
        },
        // Final records that found the ring full went to the spill map (cfg.spilled counts
        // them): the poller reports each increase, and they are swept from there.
        { drops: { read: () => this.getCfg("spilled"), report: () => void this.sweepSpill(o.onClosed) } },
      );
    } catch (e) {
      for (const l of this.delayLinks) l[Symbol.dispose]();
      o.bpf.close(obj);
      throw e;
    }
  }

  private setCfg(name: CfgField, v: number): void {
    const m = this.cfgOff.get(name);
    if (!m) throw new Error(`struct gtcp_cfg has no ${name}`);
    if (m.size === 8) this.cfgView.setBigUint64(m.offset, BigInt(v), true);
    else this.cfgView.setUint32(m.offset, v >>> 0, true);
  }
  private getCfg(name: CfgField): number {
    const m = this.cfgOff.get(name)!;
    return m.size === 8 ? Number(this.cfgView.getBigUint64(m.offset, true)) : this.cfgView.getUint32(m.offset, true);
  }

  get delayAttached(): boolean {
    return this.delayLinks.length > 0;
  }

  setSampleMs(ms: number): void {
    this.setCfg("sample_ns", Math.max(1, ms) * 1_000_000);
    this.setCfg("sample_jiffies", Math.max(1, Math.ceil((ms * this.hz) / 1000)));
  }

  get epoch(): number {
    return this.getCfg("epoch");
  }
  /** Starts the next period; returns the epoch that just ended. */
  bumpEpoch(): number {
    const e = this.epoch;
    this.setCfg("epoch", (e + 1) >>> 0 || 1);
    return e;
  }

  /** Delivers the closed connections waiting in the ring buffer and the spill map now. */
  drain(): number {
    return this.ring.drain() + this.sweepSpill(this.o.onClosed);
  }

  /** Reads and removes the closed connections parked in the spill map (ring was full). */
  sweepSpill(onConn: (r: ConnRecord) => void): number {
    if (this.getCfg("spilled") === this.swept) return 0;
    const epoch = this.epoch;
    const vs = this.spillMap.valueSize;
    const n = this.spillMap.lookupAndDeleteBatch(({ values, count }) => {
      const view = new DataView(values.buffer, values.byteOffset, values.byteLength);
      for (let i = 0; i < count; i++) onConn(decodeConn(view, i * vs, this.layout, epoch));
    }, 256);
    this.swept += n;
    return n;
  }

  /**
   * Reads every tracked connection; maxima are those of period `epoch`. The refresh pass
   * runs first: live sockets' byte counts are current, not as of their last sample.
   */
  readConns(epoch: number, visit: (r: ConnRecord) => void): number {
    this.refreshProg?.testRun();
    const vs = this.conns.valueSize;
    return this.conns.lookupBatch(({ values, count }) => {
      const view = new DataView(values.buffer, values.byteOffset, values.byteLength);
      for (let i = 0; i < count; i++) visit(decodeConn(view, i * vs, this.layout, epoch));
    }, 512);
  }

  deleteConn(sk: bigint): void {
    this.conns.delete(new BigUint64Array([sk]));
  }

  get connCapacity(): number {
    return this.conns.maxEntries;
  }

  /** Increments of the kernel's loss counters since the last call, by reason. */
  dropDeltas(): Record<string, number> {
    const out: Record<string, number> = {};
    const buf = new BigUint64Array(this.dropsMap.valueBufferSize / 8);
    const stride = this.dropsMap.valueBufferSize / 8 / possibleCpus();
    DROP_REASONS.forEach((name, i) => {
      let total = 0;
      if (this.dropsMap.lookup(new Uint32Array([i]), buf)) for (let c = 0; c < possibleCpus(); c++) total += Number(buf[c * stride]);
      const d = Math.max(0, total - this.dropTotals[i]!);
      this.dropTotals[i] = total;
      if (name) out[name] = d;
      else this.spilledTotal += d;
    });
    return out;
  }

  /** Closed connections whose record went through the spill map (ring buffer full). */
  spilledTotal = 0;

  [Symbol.dispose](): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const l of this.delayLinks) l[Symbol.dispose]();
    this.delayLinks = [];
    this.o.bpf.close(this.obj); // the ring subscription and the scope binding go with it
  }
}

export { F };

// Pure parsers of the virt probe: is this host a VM, is a process a qemu guest, and the
// guest's uuid and name from the qemu command line or libvirt's status XML. Text in,
// fields out; never throws.
import { hostType, type VirtEvidence } from "../../host/virtualization.ts";

/**
 * Why this host counts as a virtual machine (upstream: `systemd-detect-virt -v` is not
 * "none"), or undefined on a physical host. Same evidence as baseinfo's host_type: DMI
 * vendor/product strings, /sys/hypervisor/type, the cpuinfo `hypervisor` flag.
 */
export function virtualizedBecause(e: VirtEvidence): string | undefined {
  if (hostType(e) === "pm") return undefined;
  const named = e.dmi.filter((s): s is string => s !== undefined && s.trim() !== "");
  if (e.hypervisorType?.trim()) return `/sys/hypervisor/type is ${e.hypervisorType.trim()}`;
  const noCpuFlag = hostType({ ...e, cpuinfo: undefined }) === "vm";
  return noCpuFlag ? `DMI says ${named.join(" / ")}` : "the CPU has the hypervisor flag";
}

/** qemu's process name: `qemu-kvm`, or `qemu-system-<arch>` (comm keeps 15 characters). */
export function isQemuComm(comm: string): boolean {
  return comm === "qemu-kvm" || comm.startsWith("qemu-system-");
}

export interface GuestIdentity {
  uuid?: string;
  name?: string;
}

const UUID_RE = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/** QEMU option values are comma separated; ",," is a literal comma. */
function splitOpts(v: string): string[] {
  const out: string[] = [];
  let cur = "";
  for (let i = 0; i < v.length; i++) {
    const c = v[i]!;
    if (c === ",") {
      if (v[i + 1] === ",") {
        cur += ",";
        i++;
        continue;
      }
      out.push(cur);
      cur = "";
    } else cur += c;
  }
  out.push(cur);
  return out;
}

/** `-name guest=<name>,debug-threads=on` or `-name <name>[,process=…]`. */
export function qemuNameOption(v: string): string | undefined {
  const parts = splitOpts(v);
  const first = parts[0] ?? "";
  if (!first.includes("=")) return first || undefined;
  for (const p of parts) if (p.startsWith("guest=")) return p.slice("guest=".length) || undefined;
  return undefined;
}

/** The guest uuid (`-uuid`) and name (`-name`) of a qemu command line (arguments). */
export function parseQemuArgs(args: readonly string[]): GuestIdentity {
  const out: GuestIdentity = {};
  for (let i = 1; i < args.length; i++) {
    const a = args[i]!;
    const opt = a.startsWith("--") ? a.slice(1) : a;
    const eq = opt.indexOf("=");
    const key = eq > 0 && opt.startsWith("-") ? opt.slice(0, eq) : opt;
    const inline = eq > 0 && opt.startsWith("-") ? opt.slice(eq + 1) : undefined;
    if (key !== "-uuid" && key !== "-name") continue;
    const v = inline ?? args[i + 1];
    if (inline === undefined) i++;
    if (v === undefined) break;
    if (key === "-uuid" && UUID_RE.test(v)) out.uuid = v.toLowerCase();
    if (key === "-name") {
      const n = qemuNameOption(v);
      if (n) out.name = n;
    }
  }
  return out;
}

export interface LibvirtDomainStatus extends GuestIdentity {
  /** The qemu process id of a running domain. */
  pid?: number;
}

function xmlText(s: string): string {
  return s
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, "&")
    .trim();
}

/**
 * libvirt's status file `/run/libvirt/qemu/<name>.xml`: `<domstatus … pid='N'>` around
 * the live `<domain>` whose first `<name>` and `<uuid>` children identify the guest.
 * Undefined when it is not such a file.
 */
export function parseLibvirtStatus(text: string | undefined): LibvirtDomainStatus | undefined {
  if (!text) return undefined;
  const ds = /<domstatus\b[^>]*>/.exec(text);
  const dom = text.indexOf("<domain");
  if (!ds && dom < 0) return undefined;
  const out: LibvirtDomainStatus = {};
  const pid = ds && /\bpid=['"](\d+)['"]/.exec(ds[0]);
  if (pid) out.pid = Number(pid[1]);
  if (dom >= 0) {
    const body = text.slice(dom);
    const name = /<name>([^<]*)<\/name>/.exec(body);
    const uuid = /<uuid>([^<]*)<\/uuid>/.exec(body);
    if (name && xmlText(name[1]!)) out.name = xmlText(name[1]!);
    if (uuid && UUID_RE.test(xmlText(uuid[1]!))) out.uuid = xmlText(uuid[1]!).toLowerCase();
  }
  return out.pid !== undefined || out.name !== undefined || out.uuid !== undefined ? out : undefined;
}

// Whether this host is a virtual machine, from DMI strings, the hypervisor type in sysfs and
// the CPU flags (what upstream derives from `systemd-detect-virt -v`). Used by baseinfo's
// host row and by virt, which reports guests of physical hosts only.
const VM_DMI_RE =
  /\b(KVM|QEMU|VMware|VMW|VirtualBox|innotek|Xen|Bochs|Parallels|BHYVE|OpenStack|KubeVirt|Amazon EC2|Google Compute Engine|Hyper-V|Apple Virtualization|Alibaba Cloud ECS|Virtual Machine)\b/i;

/** The `hypervisor` CPU flag on a `flags` line of /proc/cpuinfo (x86 guests). */
export function cpuinfoHasHypervisorFlag(cpuinfo: string | undefined): boolean {
  if (!cpuinfo) return false;
  for (const line of cpuinfo.split("\n")) {
    const colon = line.indexOf(":");
    if (colon < 0 || line.slice(0, colon).trim() !== "flags") continue;
    if (line.slice(colon + 1).trim().split(/\s+/).includes("hypervisor")) return true;
  }
  return false;
}

export interface VirtEvidence {
  /** DMI strings: sys_vendor, product_name, board_vendor, bios_vendor (missing as undefined). */
  readonly dmi: readonly (string | undefined)[];
  readonly productName?: string;
  readonly hypervisorType?: string;
  readonly cpuinfo?: string;
}

/** "vm" or "pm" (what upstream derives from `systemd-detect-virt -v`). */
export function hostType(e: VirtEvidence): "vm" | "pm" {
  // EC2 bare-metal instances carry the "Amazon EC2" vendor string; their product names end in ".metal".
  const metal = /\.metal$/.test(e.productName?.trim() ?? "");
  if (!metal && e.dmi.some((s) => s !== undefined && VM_DMI_RE.test(s))) return "vm";
  if (e.hypervisorType !== undefined && e.hypervisorType.trim() !== "") return "vm";
  return cpuinfoHasHypervisorFlag(e.cpuinfo) ? "vm" : "pm";
}

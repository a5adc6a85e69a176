// virt: one virt_proc row per libvirt/qemu guest on a physical host (key tgid of the qemu
// process, labels uuid and vm_name, value 1). Upstream runs `systemd-detect-virt -v`,
// `virsh list --uuid --name` and `ps -ef | grep <uuid>`; here everything is read from
// procfs, sysfs and libvirt's status files, no child process:
// * a host that is itself a VM (DMI strings, /sys/hypervisor/type, the cpuinfo
//   `hypervisor` flag — baseinfo's host_type evidence) reports nothing, as upstream; the
//   probe still runs and says why once in the log;
// * guests are processes whose comm is `qemu-kvm` or `qemu-system-*`; uuid and name come
//   from their command line (`-uuid`, `-name guest=…`), completed from libvirt's
//   `/run/libvirt/qemu/<domain>.xml` (matched by pid, else by uuid or name); a qemu that
//   neither names a uuid nor is known to libvirt is not a libvirt guest and is skipped.
// Upstream also printed a row for every `vhost-<pid>` kernel thread of a guest (uuid
// only); those are not reported (since Linux 6.4 they are threads of the qemu process).
import { defineProbe, NotSupported, type ProbeContext, type ProbeRun } from "../../probe/define.ts";
import { cmdlineArgs, parseStatHead, pidsOf } from "../../snooper/procfs.ts";
import { isQemuComm, parseLibvirtStatus, parseQemuArgs, virtualizedBecause, type LibvirtDomainStatus } from "./parse.ts";
import { virtProcTable, virtTables } from "./tables.ts";
import type { HostFs } from "../../host/fs.ts";
import type { Row } from "../../store/table.ts";

/** Why this host is a VM, or undefined on a physical host. */
export function hostIsVm(host: HostFs): string | undefined {
  const dmi = (f: string) => host.readSys("class", "dmi", "id", f)?.trim();
  return virtualizedBecause({
    dmi: [dmi("sys_vendor"), dmi("product_name"), dmi("board_vendor"), dmi("bios_vendor")],
    productName: dmi("product_name"),
    hypervisorType: host.readSys("hypervisor", "type"),
    cpuinfo: host.readProc("cpuinfo"),
  });
}

/** Running libvirt domains from /run/libvirt/qemu/*.xml. */
export function libvirtDomains(host: HostFs): LibvirtDomainStatus[] {
  const dir = host.root("run", "libvirt", "qemu");
  const out: LibvirtDomainStatus[] = [];
  for (const f of host.list(dir)) {
    if (!f.endsWith(".xml")) continue;
    const d = parseLibvirtStatus(host.read(`${dir}/${f}`));
    if (d) out.push(d);
  }
  return out;
}

/** The virt_proc rows of a host (physical or not: the caller decides). */
export function virtRows(host: HostFs): Row[] {
  const domains = libvirtDomains(host);
  const rows: Row[] = [];
  for (const pid of pidsOf(host.list(host.proc()))) {
    const stat = parseStatHead(host.readProc(String(pid), "stat"));
    if (!stat || !isQemuComm(stat.comm)) continue;
    const id = parseQemuArgs(cmdlineArgs(host.readProc(String(pid), "cmdline")));
    const dom =
      domains.find((d) => d.pid === pid) ??
      domains.find((d) => d.pid === undefined && ((id.uuid !== undefined && d.uuid === id.uuid) || (id.name !== undefined && d.name === id.name)));
    const uuid = id.uuid ?? dom?.uuid;
    const name = id.name ?? dom?.name;
    if (!uuid && !dom) continue;
    rows.push({ tgid: String(pid), uuid: uuid ?? "", vm_name: name ?? "", value: 1 });
  }
  return rows;
}

export default defineProbe({
  feature: "virt",
  kind: "native",
  bin: "virtualized_infos",
  ipcType: 2,
  scope: "NONE",
  tables: virtTables,
  open(ctx: ProbeContext): ProbeRun {
    const stat = ctx.host.proc("stat");
    if (!ctx.host.exists(stat)) throw new NotSupported(`${stat} is not readable (is procfs mounted?)`);
    let told = false;
    return {
      collect() {
        const vm = hostIsVm(ctx.host);
        if (vm) {
          if (!told) ctx.log.info(`this host is a virtual machine (${vm}); virt reports guests of physical hosts only`);
          told = true;
          return;
        }
        told = false;
        for (const r of virtRows(ctx.host)) ctx.emit(virtProcTable, r);
      },
      async [Symbol.asyncDispose]() {},
    };
  },
});

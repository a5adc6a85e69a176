// baseinfo subitem host: table system_os, one row (key os_version) whose labels describe
// the machine and whose value is 1. Every field comes from a file, no command:
//   os_version  /etc/os-release (else /usr/lib/os-release): on openEuler/EulerOS the
//               `…euler…version=` line of /etc/<id>-latest as upstream, else PRETTY_NAME,
//               else NAME VERSION
//   hostname    /proc/sys/kernel/hostname (what gethostname(2) returns)
//   kversion    /proc/sys/kernel/osrelease (uname -r)
//   cpu_num     cpuN entries of /sys/devices/system/cpu (sysconf _SC_NPROCESSORS_CONF),
//               else /sys/devices/system/cpu/possible, else /proc/cpuinfo processors
//   memory_MB   MemTotal / 1024 (sysconf PHYS_PAGES × PAGESIZE / 1 MiB)
//   ip_addr     local IPv4 addresses of /proc/net/fib_trie (127/8 excluded), then
//               IPv6 addresses of /proc/net/if_inet6 that are neither loopback nor
//               link-local, space separated (upstream's getifaddrs set)
//   host_type   "vm" when DMI names a hypervisor vendor/product, /sys/hypervisor/type is
//               set, or /proc/cpuinfo has the `hypervisor` CPU flag; else "pm"
//   clock_ticks 100 (USER_HZ, fixed by the Linux ABI on every architecture it runs on)
//   os_btime    /proc/stat btime
import type { HostFs } from "../../host/fs.ts";
import { parseFibTrieLocal } from "../../host/machine-id.ts";
import { ipText } from "../../host/ip.ts";
import type { ProbeContext } from "../../probe/define.ts";
import type { Row } from "../../store/table.ts";
import { parseCpuList } from "./cpulist.ts";
import { reportErrors, type Collector, type CollectorDeps } from "./collector.ts";
import { parseMeminfo, parseProcStat } from "./parse.ts";
import { systemOsTable } from "./tables.ts";
import { completeLines, short, words } from "./text.ts";

export const CLOCK_TICKS = 100;

export interface OsRelease {
  readonly values: ReadonlyMap<string, string>;
  readonly errors: string[];
}

/**
 * os-release(5): `KEY=value` lines, value optionally in double or single quotes with
 * backslash escapes; `#` comments and blank lines ignored. Malformed lines are errors.
 */
export function parseOsRelease(text: string): OsRelease {
  const errors: string[] = [];
  const values = new Map<string, string>();
  completeLines(text, errors, "os-release").forEach((line, i) => {
    const t = line.trim();
    if (t === "" || t.startsWith("#")) return;
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(t);
    if (!m) {
      errors.push(`os-release line ${i + 1}: unparsable "${short(t)}"`);
      return;
    }
    let v = m[2] ?? "";
    const q = v[0];
    if (q === '"' || q === "'") {
      if (v.length < 2 || !v.endsWith(q)) {
        errors.push(`os-release line ${i + 1}: unterminated quote for ${m[1]}`);
        return;
      }
      v = v.slice(1, -1);
      if (q === '"') v = v.replace(/\\(["\\$`])/g, "$1");
    }
    values.set(m[1] ?? "", v);
  });
  return { values, errors };
}

/** Value of the first `<…euler…version>=<value>` line of an /etc/openEuler-latest file. */
export function eulerLatestVersion(text: string): string | undefined {
  for (const line of text.split("\n")) {
    const eq = line.indexOf("=");
    if (eq < 0) continue;
    if (/euler.*version/.test(line.slice(0, eq))) {
      const v = line.slice(eq + 1).trim();
      if (v) return v;
    }
  }
  return undefined;
}

/** os_version as upstream builds it (see the file comment); undefined when nothing is known. */
export function osVersion(rel: OsRelease | undefined, latestFile: (id: string) => string | undefined): string | undefined {
  const v = rel?.values;
  const id = v?.get("ID")?.toLowerCase();
  if (id === "openeuler" || id === "euleros") {
    const text = latestFile(id === "openeuler" ? "openEuler" : "euleros");
    const latest = text === undefined ? undefined : eulerLatestVersion(text);
    if (latest) return latest;
  }
  const pretty = v?.get("PRETTY_NAME")?.trim();
  if (pretty) return pretty;
  const name = v?.get("NAME")?.trim();
  const version = v?.get("VERSION")?.trim();
  if (name) return version ? `${name} ${version}` : name;
  return undefined;
}

/** IPv6 text in RFC 5952 form (as inet_ntop prints it) from 32 hex digits. */
export function formatIpv6(hex32: string): string | undefined {
  if (!/^[0-9a-fA-F]{32}$/.test(hex32)) return undefined;
  return ipText(10, Uint8Array.from(hex32.match(/../g)!, (h) => Number.parseInt(h, 16)));
}

export interface Inet6Addr {
  readonly addr: string;
  readonly dev: string;
  readonly scope: number;
}

/** /proc/net/if_inet6: `<32 hex> <ifindex> <prefixlen> <scope> <flags> <dev>` (hex numbers). */
export function parseIfInet6(text: string): { addrs: Inet6Addr[]; errors: string[] } {
  const errors: string[] = [];
  const addrs: Inet6Addr[] = [];
  completeLines(text, errors, "if_inet6").forEach((line, i) => {
    const w = words(line);
    if (w.length === 0) return;
    const addr = formatIpv6(w[0] ?? "");
    const scope = w[3] !== undefined && /^[0-9a-fA-F]+$/.test(w[3]) ? Number.parseInt(w[3], 16) : undefined;
    const dev = w[5];
    if (w.length !== 6 || addr === undefined || scope === undefined || dev === undefined) {
      errors.push(`if_inet6 line ${i + 1}: unparsable "${short(line)}"`);
      return;
    }
    addrs.push({ addr, dev, scope });
  });
  return { addrs, errors };
}

const IPV6_SCOPE_LINK = 0x20;
const IPV6_SCOPE_HOST = 0x10;

/** ip_addr: IPv4 locals of fib_trie then global/site IPv6 of if_inet6, space separated. */
export function hostIpAddrs(fibTrie: string | undefined, ifInet6: readonly Inet6Addr[]): string {
  const v4 = parseFibTrieLocal(fibTrie ?? "").filter((a) => !a.startsWith("127."));
  const v6 = ifInet6
    .filter((a) => a.dev !== "lo" && a.scope !== IPV6_SCOPE_LINK && a.scope !== IPV6_SCOPE_HOST && a.addr !== "::1")
    .map((a) => a.addr);
  return [...new Set([...v4, ...v6])].join(" ");
}

// Shared with the virt probe: src/host/virtualization.ts.
export { cpuinfoHasHypervisorFlag, hostType, type VirtEvidence } from "../../host/virtualization.ts";
import { hostType, type VirtEvidence } from "../../host/virtualization.ts";

/** CPUs the system is configured with (see the file comment); undefined when unknown. */
export function cpuCount(host: HostFs): number | undefined {
  const dir = host.sys("devices", "system", "cpu");
  const n = host.list(dir).filter((e) => /^cpu\d+$/.test(e)).length;
  if (n > 0) return n;
  const possible = parseCpuList(host.readSys("devices", "system", "cpu", "possible"));
  if (possible && possible.length > 0) return possible.length;
  const info = host.readProc("cpuinfo");
  const procs = info?.split("\n").filter((l) => /^processor\s*:/.test(l)).length ?? 0;
  return procs > 0 ? procs : undefined;
}

export interface HostRowResult {
  readonly row: Row;
  readonly errors: { item: string; errors: string[] }[];
}

export function readHostRow(host: HostFs): HostRowResult {
  const errors: { item: string; errors: string[] }[] = [];
  const relText = host.readRoot("etc", "os-release") ?? host.readRoot("usr", "lib", "os-release");
  const rel = relText === undefined ? undefined : parseOsRelease(relText);
  if (rel) errors.push({ item: "/etc/os-release", errors: rel.errors });
  const version = osVersion(rel, (id) => host.readRoot("etc", `${id}-latest`)) ?? "Linux";

  const statText = host.readProc("stat");
  const stat = statText === undefined ? undefined : parseProcStat(statText);
  const memText = host.readProc("meminfo");
  const mem = memText === undefined ? undefined : parseMeminfo(memText);
  const memTotal = mem?.values.get("MemTotal");
  const inet6Text = host.readProc("net", "if_inet6");
  const inet6 = inet6Text === undefined ? undefined : parseIfInet6(inet6Text);
  if (inet6) errors.push({ item: "/proc/net/if_inet6", errors: inet6.errors });
  const dmi = (f: string): string | undefined => host.readSys("class", "dmi", "id", f)?.trim();
  const cpus = cpuCount(host);
  const row: Row = {
    os_version: version,
    hostname: host.readProc("sys", "kernel", "hostname")?.trim() ?? "",
    kversion: host.readProc("sys", "kernel", "osrelease")?.trim() ?? "",
    cpu_num: cpus === undefined ? "" : String(cpus),
    memory_MB: memTotal === undefined ? "" : String(Math.floor(memTotal / 1024)),
    ip_addr: hostIpAddrs(host.readProc("net", "fib_trie"), inet6?.addrs ?? []),
    host_type: hostType({
      dmi: [dmi("sys_vendor"), dmi("product_name"), dmi("board_vendor"), dmi("bios_vendor")],
      productName: dmi("product_name"),
      hypervisorType: host.readSys("hypervisor", "type"),
      cpuinfo: host.readProc("cpuinfo"),
    }),
    clock_ticks: String(CLOCK_TICKS),
    os_btime: stat?.btime === undefined ? "" : String(stat.btime),
    value: 1,
  };
  return { row, errors };
}

export function createHostCollector(ctx: ProbeContext, _deps: CollectorDeps): Collector {
  return {
    reset() {},
    collect() {
      const r = readHostRow(ctx.host);
      for (const e of r.errors) reportErrors(ctx, e.item, e.errors);
      ctx.emit(systemOsTable, r.row);
    },
  };
}

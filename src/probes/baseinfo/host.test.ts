import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import path from "node:path";
import { FixtureHost, HOSTS, fakeDeps } from "./test-fixture-host.ts";
import {
  cpuCount,
  cpuinfoHasHypervisorFlag,
  createHostCollector,
  eulerLatestVersion,
  formatIpv6,
  hostIpAddrs,
  hostType,
  osVersion,
  parseIfInet6,
  parseOsRelease,
  readHostRow,
} from "./host.ts";
import { recordingContext } from "./test-context.ts";

const fx = (host: string, rel: string): string => readFileSync(path.join(HOSTS, host, rel), "utf8");

describe("os-release and os_version", () => {
  test("quotes, escapes, comments", () => {
    const r = parseOsRelease('# c\nNAME="Fancy \\"OS\\""\nID=fancy\nVERSION=\'1 (x)\'\n\nBAD LINE\n');
    expect(r.values.get("NAME")).toBe('Fancy "OS"');
    expect(r.values.get("ID")).toBe("fancy");
    expect(r.values.get("VERSION")).toBe("1 (x)");
    expect(r.errors.length).toBe(1);
  });
  test("openEuler: the version line of /etc/openEuler-latest (upstream)", () => {
    const rel = parseOsRelease(fx("bare-metal", "etc/os-release"));
    expect(osVersion(rel, (id) => (id === "openEuler" ? fx("bare-metal", "etc/openEuler-latest") : undefined))).toBe("openEuler-22.03-LTS-SP3");
    // no -latest file: PRETTY_NAME rather than upstream's empty value
    expect(osVersion(rel, () => undefined)).toBe("openEuler 22.03 (LTS-SP3)");
    expect(eulerLatestVersion("compiletime=1\neulerversion=EulerOS-V2.0SP10\n")).toBe("EulerOS-V2.0SP10");
  });
  test("others: PRETTY_NAME, else NAME VERSION, else NAME", () => {
    expect(osVersion(parseOsRelease(fx("vm", "etc/os-release")), () => undefined)).toBe("Ubuntu 22.04.3 LTS");
    expect(osVersion(parseOsRelease('NAME="X"\nVERSION="2"\n'), () => undefined)).toBe("X 2");
    expect(osVersion(parseOsRelease('NAME="X"\n'), () => undefined)).toBe("X");
    expect(osVersion(undefined, () => undefined)).toBeUndefined();
  });
  test("broken os-release is total", () => {
    const r = parseOsRelease(fx("broken", "etc/os-release"));
    expect(r.errors.length).toBeGreaterThan(0);
    expect(r.values.get("NAME")).toBe("openEuler");
  });
});

describe("addresses", () => {
  test("RFC 5952 text", () => {
    expect(formatIpv6("20010db8000100000000000000000020")).toBe("2001:db8:1::20");
    expect(formatIpv6("00000000000000000000000000000001")).toBe("::1");
    expect(formatIpv6("fe80000000000000021b21fffe3a4b5c")).toBe("fe80::21b:21ff:fe3a:4b5c");
    expect(formatIpv6("20010db8000000010000000000000001")).toBe("2001:db8:0:1::1");
    expect(formatIpv6("20010db8000000000001000000000001")).toBe("2001:db8::1:0:0:1");
    expect(formatIpv6("00000000000000000000ffffc0a80114")).toBe("::ffff:192.168.1.20");
    expect(formatIpv6("20010db8111122223333444455556666")).toBe("2001:db8:1111:2222:3333:4444:5555:6666");
    expect(formatIpv6("zz")).toBeUndefined();
  });
  test("bare-metal: IPv4 locals then global IPv6; loopback and link-local left out", () => {
    const v6 = parseIfInet6(fx("bare-metal", "proc/net/if_inet6"));
    expect(v6.errors).toEqual([]);
    expect(hostIpAddrs(fx("bare-metal", "proc/net/fib_trie"), v6.addrs)).toBe("192.168.1.20 2001:db8:1::20");
  });
  test("vm: two IPv4 (eth0 and docker0), link-local IPv6 only", () => {
    expect(hostIpAddrs(fx("vm", "proc/net/fib_trie"), parseIfInet6(fx("vm", "proc/net/if_inet6")).addrs)).toBe("10.0.2.15 172.17.0.1");
  });
  test("broken if_inet6 and fib_trie", () => {
    const v6 = parseIfInet6(fx("broken", "proc/net/if_inet6"));
    expect(v6.addrs.map((a) => a.addr)).toEqual(["2001:db8:1::99"]);
    expect(v6.errors.length).toBe(2);
    expect(() => hostIpAddrs(fx("broken", "proc/net/fib_trie"), [])).not.toThrow();
  });
});

describe("host_type", () => {
  test("hypervisor CPU flag, DMI vendor, Xen sysfs", () => {
    expect(cpuinfoHasHypervisorFlag(fx("vm", "proc/cpuinfo"))).toBe(true);
    expect(cpuinfoHasHypervisorFlag(fx("bare-metal", "proc/cpuinfo"))).toBe(false); // vmx is a host feature
    expect(hostType({ dmi: ["QEMU"] })).toBe("vm");
    expect(hostType({ dmi: ["Microsoft Corporation", "Virtual Machine"] })).toBe("vm");
    expect(hostType({ dmi: ["Microsoft Corporation", "Surface Laptop 5"] })).toBe("pm");
    expect(hostType({ dmi: ["Amazon EC2", "c5.metal"], productName: "c5.metal" })).toBe("pm");
    expect(hostType({ dmi: ["Amazon EC2", "c5.large"], productName: "c5.large" })).toBe("vm");
    expect(hostType({ dmi: [undefined], hypervisorType: "xen\n" })).toBe("vm");
    expect(hostType({ dmi: ["Dell Inc.", "PowerEdge R740"], cpuinfo: fx("bare-metal", "proc/cpuinfo") })).toBe("pm");
  });
});

describe("system_os row", () => {
  test("bare-metal", () => {
    const h = new FixtureHost("bare-metal");
    expect(cpuCount(h)).toBe(4);
    expect(readHostRow(h).row).toEqual({
      os_version: "openEuler-22.03-LTS-SP3",
      hostname: "node-bm-01",
      kversion: "5.10.0-182.0.0.95.oe2203sp3.x86_64",
      cpu_num: "4",
      memory_MB: "15884",
      ip_addr: "192.168.1.20 2001:db8:1::20",
      host_type: "pm",
      clock_ticks: "100",
      os_btime: "1766390400",
      value: 1,
    });
  });
  test("vm (cpu count from cpu/possible)", () => {
    expect(readHostRow(new FixtureHost("vm")).row).toEqual({
      os_version: "Ubuntu 22.04.3 LTS",
      hostname: "vm-ubuntu-01",
      kversion: "5.15.0-91-generic",
      cpu_num: "2",
      memory_MB: "3921",
      ip_addr: "10.0.2.15 172.17.0.1",
      host_type: "vm",
      clock_ticks: "100",
      os_btime: "1767225600",
      value: 1,
    });
  });
  test("broken host: a row all the same, parse errors counted", () => {
    const ctx = recordingContext(new FixtureHost("broken"), ["host"]);
    createHostCollector(ctx, fakeDeps("")).collect();
    expect(ctx.table("system_os").length).toBe(1);
    expect(ctx.table("system_os")[0]?.value).toBe(1);
    expect(ctx.parseErrors.map((e) => e.item).sort()).toEqual(["/etc/os-release", "/proc/net/if_inet6"]);
  });
});

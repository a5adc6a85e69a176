import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import path from "node:path";
import { cmdlineArgs } from "../../snooper/procfs.ts";
import { isQemuComm, parseLibvirtStatus, parseQemuArgs, qemuNameOption, virtualizedBecause } from "./parse.ts";

const KVM = path.join(import.meta.dir, "../../../test/fixtures/hosts/kvm-host");
const read = (rel: string) => readFileSync(path.join(KVM, rel), "utf8");
const U1 = "6f1c9a2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b";
const U2 = "a0b1c2d3-e4f5-4a6b-9c8d-7e6f5a4b3c2d";

describe("is this host a VM", () => {
  test("the kvm-host fixture is physical", () => {
    expect(
      virtualizedBecause({ dmi: ["Huawei", "2288H V5", "Huawei", "Insyde Corp."], productName: "2288H V5", cpuinfo: read("proc/cpuinfo") }),
    ).toBeUndefined();
  });

  test("DMI, /sys/hypervisor and the cpuinfo flag", () => {
    expect(virtualizedBecause({ dmi: ["QEMU", "Standard PC (Q35 + ICH9, 2009)", undefined, "SeaBIOS"], productName: "Standard PC (Q35 + ICH9, 2009)" })).toContain("DMI");
    expect(virtualizedBecause({ dmi: [], hypervisorType: "xen\n" })).toBe("/sys/hypervisor/type is xen");
    expect(virtualizedBecause({ dmi: ["Dell Inc."], cpuinfo: "flags\t: fpu vme hypervisor\n" })).toBe("the CPU has the hypervisor flag");
    // EC2 bare metal is physical.
    expect(virtualizedBecause({ dmi: ["Amazon EC2", "m5.metal"], productName: "m5.metal" })).toBeUndefined();
  });
});

describe("qemu processes", () => {
  test("comm", () => {
    expect(isQemuComm("qemu-kvm")).toBe(true);
    expect(isQemuComm("qemu-system-x86")).toBe(true);
    expect(isQemuComm("qemu-img")).toBe(false);
    expect(isQemuComm("kvm")).toBe(false);
  });

  test("libvirt command line: -name guest=…, -uuid", () => {
    expect(parseQemuArgs(cmdlineArgs(read("proc/4100/cmdline")))).toEqual({ uuid: U1, name: "vm-web" });
    expect(parseQemuArgs(cmdlineArgs(read("proc/4200/cmdline")))).toEqual({ name: "vm-db" });
    expect(parseQemuArgs(cmdlineArgs(read("proc/4300/cmdline")))).toEqual({});
  });

  test("option forms", () => {
    expect(qemuNameOption("guest=a,,b,debug-threads=on")).toBe("a,b");
    expect(qemuNameOption("plain,process=qemu:plain")).toBe("plain");
    expect(qemuNameOption("debug-threads=on")).toBeUndefined();
    expect(qemuNameOption("")).toBeUndefined();
    expect(parseQemuArgs(["qemu", "--name=x", "--uuid", U2.toUpperCase()])).toEqual({ name: "x", uuid: U2 });
    expect(parseQemuArgs(["qemu", "-uuid", "not-a-uuid", "-name"])).toEqual({});
    expect(parseQemuArgs(["qemu", "-uuid"])).toEqual({});
    expect(parseQemuArgs([])).toEqual({});
  });
});

describe("libvirt status files", () => {
  test("pid, name and uuid of the live domain (metadata names ignored)", () => {
    expect(parseLibvirtStatus(read("run/libvirt/qemu/vm-web.xml"))).toEqual({ pid: 4100, name: "vm-web", uuid: U1 });
    expect(parseLibvirtStatus(read("run/libvirt/qemu/vm-db.xml"))).toEqual({ pid: 4200, name: "vm-db", uuid: U2 });
  });

  test("truncated, garbage, escaped", () => {
    expect(parseLibvirtStatus(read("run/libvirt/qemu/broken.xml"))).toEqual({ pid: 77 });
    expect(parseLibvirtStatus("garbage")).toBeUndefined();
    expect(parseLibvirtStatus("")).toBeUndefined();
    expect(parseLibvirtStatus(undefined)).toBeUndefined();
    expect(parseLibvirtStatus("<domain><name>a&amp;b</name><uuid>nope</uuid></domain>")).toEqual({ name: "a&b" });
    const full = read("run/libvirt/qemu/vm-web.xml");
    for (let cut = 0; cut < full.length; cut += 17) expect(() => parseLibvirtStatus(full.slice(0, cut))).not.toThrow();
  });
});

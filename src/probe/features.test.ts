import { describe, expect, test } from "bun:test";
import { FEATURES, findFeature } from "../probes/catalog.ts";
import { findSubitem } from "./catalog.ts";

const EXT = "/opt/gala-gopher/extend_probes/";

// rest-api.md §10, transcribed independently of features.ts.
const TABLE: ReadonlyArray<[string, string, number, string, string]> = [
  ["baseinfo", "system_infos", 1, "ALL", "cpu 0x1, mem 0x2, nic 0x4, net 0x8, disk 0x10, fs 0x20, proc 0x40, host 0x80, con 0x100"],
  ["virt", "virtualized_infos", 2, "NONE", ""],
  ["flamegraph", EXT + "stackprobe", 3, "PROC", "oncpu 0x1, offcpu 0x2, mem 0x4, mem_glibc 0x8, io 0x10"],
  ["l7", EXT + "l7probe", 4, "ALL", "l7_bytes_metrics 0x1, l7_rpc_metrics 0x2, l7_rpc_trace 0x4"],
  ["tcp", EXT + "tcpprobe", 5, "PROC", "tcp_abnormal 0x1, tcp_rtt 0x4, tcp_windows 0x2, tcp_srtt 0x40, tcp_rate 0x20, tcp_sockbuf 0x10, tcp_stats 0x8, tcp_delay 0x80"],
  ["socket", EXT + "endpoint", 6, "PROC", "tcp_socket 0x1, udp_socket 0x2"],
  ["io", EXT + "ioprobe", 7, "NONE", "io_trace 0x1, io_err 0x2, io_count 0x4, page_cache 0x8"],
  ["proc", EXT + "taskprobe", 8, "ALL", "proc_syscall 0x1, proc_fs 0x2, proc_dns 0x4, proc_io 0x8, proc_pagecache 0x10, proc_net 0x20, proc_offcpu 0x40, proc_ioctl 0x80, proc_pygc 0x100"],
  ["jvm", EXT + "jvmprobe", 9, "PROC", ""],
  ["postgre_sli", EXT + "pgsliprobe", 10, "NONE", ""],
  ["opengauss_sli", EXT + "pg_stat_probe.py", 11, "NONE", ""],
  ["nginx", EXT + "nginx_probe", 12, "NONE", ""],
  ["lvs", EXT + "trace_lvs", 13, "NONE", ""],
  ["kafka", EXT + "kafkaprobe", 14, "NONE", ""],
  ["tprofiling", EXT + "tprofiling", 15, "PROC", "oncpu 0x1, syscall_file 0x2, syscall_net 0x4, syscall_lock 0x10, syscall_sched 0x8, python_gc 0x20, pthread_sync 0x40, oncpu_sample 0x80, mem_usage 0x100, mem_glibc 0x200, offcpu 0x400"],
  ["hw", EXT + "hwprobe", 16, "NONE", "hw_nic 0x1, hw_mem 0x2"],
  ["ksli", EXT + "ksliprobe", 17, "NONE", ""],
  ["container", EXT + "cadvisor_probe.py", 18, "PROC", ""],
  ["sermant", EXT + "sermant_probe.py", 19, "PROC", "l7_bytes_metrics 0x1, l7_rpc_metrics 0x2, l7_rpc_trace 0x4"],
  ["sli", EXT + "sliprobe", 20, "CON", "cpu 0x1, mem 0x2, io 0x4, node 0x8, container 0x10, histogram 0x20"],
  ["flowtracer", EXT + "flowtracer", 21, "NONE", ""],
];

describe("FEATURES (rest-api.md §10)", () => {
  test("exactly the 21 built-in features, in IPC-type order", () => {
    expect(FEATURES.map((f) => f.name)).toEqual(TABLE.map((r) => r[0]));
  });

  test.each(TABLE)("%s", (name, bin, ipc, scope, subs) => {
    const f = findFeature(name);
    expect(f).toBeDefined();
    expect(f!.name).toBe(name);
    expect(f!.bin).toBe(bin);
    expect(f!.kind).toBe(name === "baseinfo" || name === "virt" ? "native" : "extend");
    expect(f!.ipcType).toBe(ipc);
    expect(f!.scopeKind).toBe(scope as never);
    const expected = subs === "" ? [] : subs.split(", ").map((s) => {
      const [n, b] = s.split(" ");
      return { name: n, bit: Number(b) };
    });
    expect(f!.subitems.map((s) => ({ name: s.name, bit: s.bit }))).toEqual(expected as never);
  });

  test("subitem bits are distinct within a feature", () => {
    for (const f of FEATURES) {
      expect(new Set(f.subitems.map((s) => s.bit)).size).toBe(f.subitems.length);
    }
  });

  test("definitions are frozen", () => {
    expect(Object.isFrozen(FEATURES)).toBe(true);
    expect(Object.isFrozen(FEATURES[0])).toBe(true);
  });
});

describe("findFeature", () => {
  test("case-insensitive match of built-in names", () => {
    expect(findFeature("TCP")?.name).toBe("tcp");
    expect(findFeature("BaseInfo")?.name).toBe("baseinfo");
    expect(findFeature("Postgre_SLI")?.name).toBe("postgre_sli");
  });

  test.each([[""], ["/tcp"], ["tcp/"], ["tcp/x"], ["dnsmasq"], ["haproxy"], ["tc"], ["tcp "], ["%74cp"], ["\u212Aafka"], ["x".repeat(100)]])(
    "unknown: %j",
    (name) => {
      expect(findFeature(name)).toBeUndefined();
    },
  );

  test("findSubitem is case-insensitive", () => {
    const tcp = findFeature("tcp")!;
    expect(findSubitem(tcp, "TCP_RTT")?.bit).toBe(0x4);
    expect(findSubitem(tcp, "tcp_nope")).toBeUndefined();
  });
});

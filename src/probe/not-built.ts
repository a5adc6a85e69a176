// The features of rest-api.md §10 that this agent answers for but does not implement
// (yet): their REST declarations only, so every request, error text and GET document is
// upstream's. Starting one fails with "no built-in implementation". A probe folder that
// implements one of them declares it itself, and its definition replaces the entry here
// (FeatureCatalog.of); the entry can then be deleted.
import type { FeatureDeclaration } from "./define.ts";
import { numberParam, stringParam } from "./params.ts";

const sub = (list: string): { name: string; bit: number }[] =>
  list.split(", ").map((s) => {
    const [name, bit] = s.split(" ");
    return { name: name!, bit: Number(bit) };
  });

const L7_SUBITEMS = sub("l7_bytes_metrics 0x1, l7_rpc_metrics 0x2, l7_rpc_trace 0x4");
const devName = stringParam("dev_name", "", { maxLenExclusive: 32 });
const elfPath = stringParam("elf_path", "", { path: true });

export const NOT_BUILT: readonly FeatureDeclaration[] = Object.freeze([
  { feature: "jvm", bin: "jvmprobe", ipcType: 9, scope: "PROC" },
  { feature: "postgre_sli", bin: "pgsliprobe", ipcType: 10, scope: "NONE", params: [devName] },
  { feature: "opengauss_sli", bin: "pg_stat_probe.py", ipcType: 11, scope: "NONE" },
  { feature: "nginx", bin: "nginx_probe", ipcType: 12, scope: "NONE", params: [elfPath] },
  { feature: "lvs", bin: "trace_lvs", ipcType: 13, scope: "NONE" },
  { feature: "kafka", bin: "kafkaprobe", ipcType: 14, scope: "NONE", params: [devName, numberParam("kafka_port", 9092, 1, 65535)] },
  {
    feature: "tprofiling",
    bin: "tprofiling",
    ipcType: 15,
    scope: "PROC",
    subitems: sub(
      "oncpu 0x1, syscall_file 0x2, syscall_net 0x4, syscall_lock 0x10, syscall_sched 0x8, python_gc 0x20, pthread_sync 0x40, oncpu_sample 0x80, mem_usage 0x100, mem_glibc 0x200, offcpu 0x400",
    ),
  },
  { feature: "hw", bin: "hwprobe", ipcType: 16, scope: "NONE", subitems: sub("hw_nic 0x1, hw_mem 0x2") },
  { feature: "ksli", bin: "ksliprobe", ipcType: 17, scope: "NONE", params: [devName, numberParam("continuous_sampling", 0, 0, 1)] },
  { feature: "container", bin: "cadvisor_probe.py", ipcType: 18, scope: "PROC", params: [numberParam("cadvisor_port", 8083, 1, 65535)] },
  { feature: "sermant", bin: "sermant_probe.py", ipcType: 19, scope: "PROC", subitems: L7_SUBITEMS },
  {
    feature: "sli",
    bin: "sliprobe",
    ipcType: 20,
    scope: "CON",
    subitems: sub("cpu 0x1, mem 0x2, io 0x4, node 0x8, container 0x10, histogram 0x20"),
  },
  { feature: "flowtracer", bin: "flowtracer", ipcType: 21, scope: "NONE" },
] satisfies FeatureDeclaration[]);

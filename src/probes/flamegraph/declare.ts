// What the flamegraph probe is to the REST API (rest-api.md §10: stackprobe, IPC type 3,
// scope PROC, subitems oncpu/offcpu/mem/mem_glibc/io and the params of §6.3) and its
// tuning limits (map sizes, memory and disk budgets).
import type { FeatureDeclaration, LimitDecl } from "../../probe/define.ts";
import { numberParam, stringParam } from "../../probe/params.ts";

export const FLAMEGRAPH_FEATURE = {
  feature: "flamegraph",
  bin: "stackprobe",
  ipcType: 3,
  scope: "PROC",
  subitems: [
    { name: "oncpu", bit: 0x1 },
    { name: "offcpu", bit: 0x2 },
    { name: "mem", bit: 0x4 },
    { name: "mem_glibc", bit: 0x8 },
    { name: "io", bit: 0x10 },
  ],
  params: [
    stringParam("pyroscope_server", "localhost:4040", { maxLenExclusive: 64 }),
    numberParam("svg_period", 180, 30, 600, { zeroResets: true }),
    numberParam("perf_sample_period", 10, 10, 1000, { zeroResets: true }),
    numberParam("multi_instance", 0, 0, 1),
    numberParam("native_stack", 0, 0, 1),
    stringParam("output_dir", "", { path: true }),
    stringParam("flame_dir", "/var/log/gala-gopher/flamegraph", { path: true }),
  ],
} as const satisfies FeatureDeclaration;

/** The subitems this version samples; the others are accepted by REST and reported as not supported. */
export const IMPLEMENTED_SUBITEMS: readonly string[] = ["oncpu", "offcpu", "mem", "mem_glibc"];

export const FLAMEGRAPH_LIMITS: Readonly<Record<string, LimitDecl>> = {
  max_stacks: {
    default: 8192,
    min: 256,
    max: 1 << 18,
    help: "distinct stacks (and stack counts) kept in the kernel per read; more are counted as stack_lost / counts_full drops",
  },
  max_sleepers: { default: 16384, min: 256, max: 1 << 20, help: "threads switched out at once whose off-CPU time is being measured (offcpu)" },
  max_allocs: { default: 65536, min: 1024, max: 1 << 22, help: "mem_glibc: heap blocks tracked at once (allocated, not yet freed); more are counted as alloc_full drops" },
  max_alloc_stacks: { default: 8192, min: 256, max: 1 << 18, help: "mem_glibc: distinct allocating stacks with live bytes; more are counted as alloc_live_full / alloc_stack_lost drops" },
  max_glibc_processes: { default: 256, min: 1, max: 4096, help: "mem_glibc: processes (whole host in scope: libc files) whose malloc/free are probed at once" },
  max_folded: { default: 20000, min: 100, max: 1 << 20, help: "distinct folded stacks kept per type and svg_period; more are counted as folded_full drops" },
  max_symbols: { default: 400_000, min: 10_000, max: 20_000_000, help: "user-space symbols cached across binaries (least recently used binaries are evicted)" },
  page_periods: { default: 10, min: 1, max: 1000, help: "periods per type kept for the /flamegraph page" },
  page_stacks: { default: 50_000, min: 100, max: 1 << 22, help: "stacks kept for the /flamegraph page in all (oldest periods out first)" },
  disk_budget_mib: { default: 256, min: 1, max: 1 << 20, help: "MiB of flame graph files kept under output_dir and flame_dir; the oldest are removed first" },
};

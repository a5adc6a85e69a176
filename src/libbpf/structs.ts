// The C structs the bindings pass to libbpf (libbpf 1.x headers) and to perf_event_open
// (linux/perf_event.h), declared field by field; struct.test.ts compares them with the
// headers' sizeof/offsetof.
import { StructLayout } from "./struct.ts";

/** struct bpf_object_open_opts (libbpf.h). */
export const BpfObjectOpenOpts = new StructLayout("bpf_object_open_opts", [
  ["sz", "size_t"],
  ["object_name", "ptr"],
  ["relaxed_maps", "bool"],
  ["pin_root_path", "ptr"],
  ["_attach_prog_fd", "u32"],
  ["kconfig", "ptr"],
  ["btf_custom_path", "ptr"],
  ["kernel_log_buf", "ptr"],
  ["kernel_log_size", "size_t"],
  ["kernel_log_level", "u32"],
] as const);

/** struct bpf_uprobe_opts (libbpf.h). */
export const BpfUprobeOpts = new StructLayout("bpf_uprobe_opts", [
  ["sz", "size_t"],
  ["ref_ctr_offset", "size_t"],
  ["bpf_cookie", "u64"],
  ["retprobe", "bool"],
  ["func_name", "ptr"],
] as const);

/** struct bpf_test_run_opts (bpf.h). */
export const BpfTestRunOpts = new StructLayout("bpf_test_run_opts", [
  ["sz", "size_t"],
  ["data_in", "ptr"],
  ["data_out", "ptr"],
  ["data_size_in", "u32"],
  ["data_size_out", "u32"],
  ["ctx_in", "ptr"],
  ["ctx_out", "ptr"],
  ["ctx_size_in", "u32"],
  ["ctx_size_out", "u32"],
  ["retval", "u32"],
  ["repeat", "i32"],
  ["duration", "u32"],
  ["flags", "u32"],
  ["cpu", "u32"],
  ["batch_size", "u32"],
] as const);

/** struct bpf_tc_hook (libbpf.h). */
export const BpfTcHook = new StructLayout("bpf_tc_hook", [
  ["sz", "size_t"],
  ["ifindex", "i32"],
  ["attach_point", "u32"],
  ["parent", "u32"],
] as const);

/** struct bpf_tc_opts (libbpf.h). */
export const BpfTcOpts = new StructLayout("bpf_tc_opts", [
  ["sz", "size_t"],
  ["prog_fd", "i32"],
  ["flags", "u32"],
  ["prog_id", "u32"],
  ["handle", "u32"],
  ["priority", "u32"],
] as const);

/**
 * struct perf_event_attr up to PERF_ATTR_SIZE_VER7 (128 bytes). `flags` is the u64 of
 * bit-fields (disabled = bit 0, ..., freq = bit 10); `sample_period` is the union with
 * sample_freq, `wakeup_events` the union with wakeup_watermark.
 */
export const PerfEventAttr = new StructLayout("perf_event_attr", [
  ["type", "u32"],
  ["size", "u32"],
  ["config", "u64"],
  ["sample_period", "u64"],
  ["sample_type", "u64"],
  ["read_format", "u64"],
  ["flags", "u64"],
  ["wakeup_events", "u32"],
  ["bp_type", "u32"],
  ["config1", "u64"],
  ["config2", "u64"],
  ["branch_sample_type", "u64"],
  ["sample_regs_user", "u64"],
  ["sample_stack_user", "u32"],
  ["clockid", "i32"],
  ["sample_regs_intr", "u64"],
  ["aux_watermark", "u32"],
  ["sample_max_stack", "u16"],
  ["_reserved_2", "u16"],
  ["aux_sample_size", "u32"],
  ["_reserved_3", "u32"],
  ["sig_data", "u64"],
] as const);

/** perf_event_attr.flags bits. */
export const PERF_ATTR_FLAG_FREQ = 1n << 10n;

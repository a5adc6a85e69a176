// What the io probe is to the REST API (rest-api.md §10: ioprobe, scope NONE), which events
// it raises (events-and-metadata.md §1.4: the latency event and io_err) and its limits.
import type { EventDecl, FeatureDeclaration, LimitDecl } from "../../probe/define.ts";
import { numberParam, stringParam } from "../../probe/params.ts";

export const IO_FEATURE = {
  feature: "io",
  bin: "ioprobe",
  ipcType: 7,
  scope: "NONE",
  subitems: [
    { name: "io_trace", bit: 0x1 },
    { name: "io_err", bit: 0x2 },
    { name: "io_count", bit: 0x4 },
    { name: "page_cache", bit: 0x8 },
  ],
  // sample_period is accepted and shown as upstream does; every request is counted (no sampling).
  params: [numberParam("sample_period", 5000, 100, 10000), stringParam("dev_name", "", { maxLenExclusive: 32 })],
} as const satisfies FeatureDeclaration;

export const IO_EVENTS: readonly EventDecl[] = [{ entity: "block", metrics: ["latency_req_max", "err_code"] }];

export const IO_LIMITS: Readonly<Record<string, LimitDecl>> = {
  max_disks: { default: 256, min: 16, max: 65536, help: "disks aggregated at once (the per-CPU stats map); more are counted as device_map_full drops" },
  max_inflight: { default: 16384, min: 256, max: 1 << 20, help: "requests in flight tracked at once; more are counted as inflight_full drops (their stages are not measured)" },
  raw_tp: { default: 0, min: 0, max: 1, help: "1: load the raw_tp programs even where the tp_btf ones load (the fallback for kernels without tp_btf)" },
};

// The single registration list of built-in probes: one line per probe.
import type { ProbeDefinition } from "../probe/define.ts";
import baseinfo from "./baseinfo/index.ts";
import flamegraph from "./flamegraph/index.ts";
import tcp from "./tcp/index.ts";
import virt from "./virt/index.ts";

export const PROBES: readonly ProbeDefinition[] = [baseinfo, tcp, virt, flamegraph];

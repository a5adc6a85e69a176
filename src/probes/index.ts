// The single registration list of built-in probes: one line per probe folder,
// `export { default as <feature> } from "./<feature>/index.ts";` (src/probes/registered.ts
// turns these lines into the PROBES list).
export { default as baseinfo } from "./baseinfo/index.ts";
export { default as flamegraph } from "./flamegraph/index.ts";
export { default as io } from "./io/index.ts";
export { default as l7 } from "./l7/index.ts";
export { default as proc } from "./proc/index.ts";
export { default as socket } from "./socket/index.ts";
export { default as tcp } from "./tcp/index.ts";
export { default as virt } from "./virt/index.ts";

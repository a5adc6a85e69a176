// The snooper service: process/container table, probe scopes, process and container labels.
export { createSnooper, DEFAULT_SNOOPER_INTERVAL_MS, CMDLINE_LABEL_MAX, type Snooper, type SnooperOptions, type SnooperStats, type ProcEvent, type ProcEntry } from "./snooper.ts";
export { MAX_SCOPE_OBJECTS, compileEre } from "./match.ts";

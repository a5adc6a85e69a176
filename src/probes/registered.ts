// The built-in probes, in feature-name order: every export line of ./index.ts, so that
// registering a probe stays one line there.
import type { ProbeDefinition } from "../probe/define.ts";
import * as registered from "./index.ts";

export const PROBES: readonly ProbeDefinition[] = Object.freeze(Object.values(registered) as ProbeDefinition[]);

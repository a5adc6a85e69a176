// Imported first by main.ts: settles how the runtime runs before the rest of the agent loads.
import { applyJitMode } from "./jit-mode.ts";

applyJitMode();

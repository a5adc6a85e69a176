// Overrides of probes' declared limits from the environment: GOPHER_<FEATURE>_<LIMIT>
// (e.g. GOPHER_TCP_MAX_CONNS). Read once by the daemon; probes only see ctx.limit(name).
import type { Logger } from "../log/logger.ts";
import type { ProbeDefinition } from "./define.ts";

export function limitEnvName(feature: string, limit: string): string {
  return `GOPHER_${feature}_${limit}`.toUpperCase();
}

/** The valid overrides; an invalid value is logged and the default kept. */
export function limitOverrides(
  defs: readonly ProbeDefinition[],
  env: Record<string, string | undefined>,
  log: Logger,
): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  for (const d of defs) {
    for (const [name, decl] of Object.entries(d.limits ?? {})) {
      const key = limitEnvName(d.feature, name);
      const raw = env[key]?.trim();
      if (raw === undefined || raw === "") continue;
      const n = Number(raw);
      if (!Number.isInteger(n) || n < decl.min || n > decl.max) {
        log.warn(`${key}=${raw} ignored: must be an integer in [${decl.min}, ${decl.max}] (${decl.help}); using ${decl.default}`);
        continue;
      }
      (out[d.feature] ??= {})[name] = n;
    }
  }
  return out;
}

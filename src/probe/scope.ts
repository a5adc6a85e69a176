// The scope a probe gets when no snooper is wired in: the whole host.
import type { ContainerInfo, ScopeView } from "./define.ts";
import type { ProbeSettings, ScopeKind } from "./settings.ts";

/** Resolves a feature's snoopers/blacklist into a live scope (scopeKind: the feature's, when known). */
export type ScopeFactory = (feature: string, settings: ProbeSettings, scopeKind?: ScopeKind) => ScopeView;

const EMPTY_PIDS: ReadonlySet<number> = new Set();
const EMPTY_CONTAINERS: ReadonlyMap<string, ContainerInfo> = new Map();

export function wholeHostScope(): ScopeView {
  return {
    wholeHost: true,
    pids: () => EMPTY_PIDS,
    excluded: () => EMPTY_PIDS,
    containers: () => EMPTY_CONTAINERS,
    includes: () => true,
    labelFor: () => undefined,
    onChange: () => () => undefined,
    [Symbol.dispose]() {},
  };
}

export const wholeHostScopeFactory: ScopeFactory = () => wholeHostScope();

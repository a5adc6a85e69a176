// The scope a probe gets when no snooper is wired in: the whole host.
import type { ContainerInfo, ScopeView } from "./define.ts";
import type { ProbeSettings } from "./settings.ts";

export type ScopeFactory = (feature: string, settings: ProbeSettings) => ScopeView;

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

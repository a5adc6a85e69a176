// Scope matching rules (rest-api.md §6.2) as pure functions: the compiled form of a
// probe's snoopers/blacklist lists and the resolution of that form against the
// process and container tables.
import type { ContainerInfo } from "../probe/define.ts";
import type { ScopeLists } from "../probe/settings.ts";
import { canonicalPodUid } from "./cgroup.ts";

/** At most this many resolved objects (processes + containers) per probe. */
export const MAX_SCOPE_OBJECTS = 1000;

const POSIX_CLASSES: Record<string, string> = {
  alpha: "a-zA-Z",
  digit: "0-9",
  alnum: "a-zA-Z0-9",
  upper: "A-Z",
  lower: "a-z",
  space: " \\t\\n\\r\\f\\v",
  blank: " \\t",
  punct: "!-\\/:-@\\[-`{-~",
  xdigit: "0-9A-Fa-f",
  cntrl: "\\x00-\\x1f\\x7f",
  print: "\\x20-\\x7e",
  graph: "\\x21-\\x7e",
};

/**
 * A POSIX extended regular expression (upstream: regcomp(REG_EXTENDED|REG_NOSUB), matched
 * unanchored) as a JS RegExp; null when it does not compile (such an entry never matches).
 * Differences that remain: inside brackets a backslash escapes in JS but is literal in
 * POSIX (`[\]]`); `\d`, `\w`, lookarounds and lazy quantifiers are accepted by JS where
 * glibc would reject or read them literally; collating elements `[. .]` and equivalence
 * classes `[= =]` are not supported (they make the pattern invalid). For a yes/no test the
 * POSIX leftmost-longest rule makes no difference. Named classes `[[:alpha:]]` … are
 * translated.
 */
export function compileEre(pattern: string): RegExp | null {
  const src = pattern.replace(/\[:([a-z]+):\]/g, (m, name: string) => POSIX_CLASSES[name] ?? m);
  if (/\[[.=]/.test(src)) return null;
  try {
    return new RegExp(src);
  } catch {
    return null;
  }
}

export interface ProcNameMatcher {
  readonly re: RegExp | null;
  readonly cmdline: string;
  readonly label?: Readonly<Record<string, string>>;
}

export interface CompiledScope {
  readonly procIds: ReadonlySet<number>;
  readonly procNames: readonly ProcNameMatcher[];
  /** Canonical pod uids (8-4-4-4-12, lower case). */
  readonly podIds: ReadonlySet<string>;
  /** First 12 characters, lower case. */
  readonly containerIds: ReadonlySet<string>;
  readonly containerNames: readonly string[];
  readonly empty: boolean;
}

export function compileScope(s: ScopeLists): CompiledScope {
  const podIds = new Set<string>();
  for (const p of s.pod_id) {
    const c = canonicalPodUid(p);
    if (c) podIds.add(c);
  }
  const procNames = s.proc_name
    .filter((e) => e.comm !== "")
    .map((e) => ({ re: compileEre(e.comm), cmdline: e.cmdline ?? "", label: e.label && Object.keys(e.label).length ? { ...e.label } : undefined }));
  const containerIds = new Set(s.container_id.filter((c) => c !== "").map((c) => c.slice(0, 12).toLowerCase()));
  const containerNames = s.container_name.filter((c) => c !== "");
  const procIds = new Set(s.proc_id.map((n) => n >>> 0));
  return {
    procIds,
    procNames,
    podIds,
    containerIds,
    containerNames,
    empty: procIds.size + procNames.length + podIds.size + containerIds.size + containerNames.length === 0,
  };
}

/** What the resolver needs to know about a process. */
export interface ProcView {
  readonly pid: number;
  readonly ppid: number;
  readonly comm: string;
  /** Arguments joined with spaces. */
  readonly cmdline: string;
  /** 12-char id of its container, if any. */
  readonly containerId?: string;
}

/** The proc_name entry a process matches (first one wins), or undefined. */
export function matchProcName(c: CompiledScope, p: ProcView, selfPid: number): ProcNameMatcher | undefined {
  if (p.ppid === selfPid) return undefined;
  for (const m of c.procNames) {
    if (!m.re || !m.re.test(p.comm)) continue;
    if (m.cmdline && !p.cmdline.includes(m.cmdline)) continue;
    return m;
  }
  return undefined;
}

export function matchContainer(c: CompiledScope, info: ContainerInfo): boolean {
  if (c.containerIds.has(info.id)) return true;
  if (info.podId && c.podIds.has(info.podId)) return true;
  if (info.name) for (const n of c.containerNames) if (info.name.includes(n)) return true;
  return false;
}

export interface Resolution {
  /** Matched processes (after the object limit). */
  readonly pids: Set<number>;
  /** Matched containers by 12-char id (after the object limit). */
  readonly containers: Map<string, ContainerInfo>;
  /** proc_name labels of matched processes. */
  readonly labels: Map<number, Readonly<Record<string, string>>>;
  /** Objects beyond MAX_SCOPE_OBJECTS: "c:<id>" / "p:<pid>". */
  readonly dropped: string[];
}

/**
 * Resolves a compiled scope: containers named by id, pod or name; processes by pid,
 * by proc_name, and every process of a matched container. Objects beyond `limit` are
 * dropped — containers are kept first (by id), then explicit proc_id entries, then the
 * other processes by ascending pid.
 */
export function resolveScope(
  c: CompiledScope,
  procs: Iterable<ProcView>,
  containers: Iterable<ContainerInfo>,
  selfPid: number,
  limit = MAX_SCOPE_OBJECTS,
): Resolution {
  const matchedContainers: ContainerInfo[] = [];
  const containerIds = new Set<string>();
  if (c.containerIds.size || c.podIds.size || c.containerNames.length) {
    for (const info of containers) {
      if (matchContainer(c, info)) {
        matchedContainers.push(info);
        containerIds.add(info.id);
      }
    }
  }
  matchedContainers.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const labels = new Map<number, Readonly<Record<string, string>>>();
  const others: number[] = [];
  const wantProcs = c.procNames.length > 0 || containerIds.size > 0;
  if (wantProcs) {
    for (const p of procs) {
      if (c.procIds.has(p.pid)) {
        const m = c.procNames.length ? matchProcName(c, p, selfPid) : undefined;
        if (m?.label) labels.set(p.pid, m.label);
        continue;
      }
      const m = c.procNames.length ? matchProcName(c, p, selfPid) : undefined;
      if (m) {
        others.push(p.pid);
        if (m.label) labels.set(p.pid, m.label);
      } else if (p.containerId && containerIds.has(p.containerId)) {
        others.push(p.pid);
      }
    }
  }
  others.sort((a, b) => a - b);
  const explicit = [...c.procIds].sort((a, b) => a - b);
  const dropped: string[] = [];
  const outContainers = new Map<string, ContainerInfo>();
  for (const info of matchedContainers) {
    if (outContainers.size < limit) outContainers.set(info.id, info);
    else dropped.push(`c:${info.id}`);
  }
  let room = limit - outContainers.size;
  const pids = new Set<number>();
  for (const list of [explicit, others]) {
    for (const pid of list) {
      if (pids.has(pid)) continue;
      if (room > 0) {
        pids.add(pid);
        room--;
      } else {
        dropped.push(`p:${pid}`);
        labels.delete(pid);
      }
    }
  }
  return { pids, containers: outContainers, labels, dropped };
}

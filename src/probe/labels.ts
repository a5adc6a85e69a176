// Validation of the label names an operator adds to a probe's series: `snoopers.custom_labels`
// keys, `proc_name[].label` keys and `pod_labels` names. Each becomes a label name in every
// exported series, so a name must be a Prometheus label name (`[a-zA-Z_][a-zA-Z0-9_]*`, not
// starting with `__`, which Prometheus reserves), and must not repeat a label the agent
// already emits for that probe (outputs.md §2.3): a repeated label or an invalid name makes
// Prometheus reject the whole scrape, and an unchecked name could forge series.
import type { TableDef } from "../store/table.ts";
import { NAME_LIMIT } from "../store/store.ts";

/** Labels every series can carry besides its table's key/label fields (outputs.md §2.3, §2.4). */
export const DERIVED_LABELS: readonly string[] = [
  "comm",
  "cmdline",
  "start_time",
  "container_id",
  "container_name",
  "container_image",
  "pod_id",
  "pod",
  "pod_namespace",
  "machine_id",
  "le",
];

const LABEL_NAME_RE = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** The names a probe with these tables already emits: reserved for its extra labels. */
export function reservedLabelNames(tables: readonly TableDef[]): readonly string[] {
  const names = new Set(DERIVED_LABELS);
  for (const t of tables) {
    for (const f of t.fields) if (f.type === "key" || f.type === "label") names.add(f.name.slice(0, NAME_LIMIT));
  }
  return [...names].sort();
}

export type LabelNameProblem = { kind: "syntax"; detail: string } | { kind: "reserved"; detail: string };

/** Why `name` cannot be an extra label name, or undefined when it can. */
export function checkLabelName(name: string, reserved: readonly string[]): LabelNameProblem | undefined {
  if (!LABEL_NAME_RE.test(name)) {
    return { kind: "syntax", detail: "a label name must match [a-zA-Z_][a-zA-Z0-9_]*" };
  }
  if (name.startsWith("__")) return { kind: "syntax", detail: "names starting with __ are reserved by Prometheus" };
  if (reserved.includes(name)) {
    return { kind: "reserved", detail: `the agent already emits it; reserved for this probe: ${reserved.join(", ")}` };
  }
  return undefined;
}

/** Upstream-style message: `<where> invalid label name <name>: <why>`. */
export function invalidLabelMessage(where: string, name: string, problem: LabelNameProblem): string {
  return `${where} invalid label name ${name === "" ? '""' : name}: ${problem.detail}`;
}

/**
 * The first problem among the extra label names a request leaves configured, as a message:
 * each name must be valid and not reserved, and no name may come twice (a series would get
 * the same label twice) except within a `repeatable` source (proc_name entries label
 * different processes).
 */
export function checkExtraLabels(
  sources: readonly { where: string; names: readonly string[]; repeatable?: boolean }[],
  reserved: readonly string[],
): string | undefined {
  const seen = new Map<string, string>();
  for (const { where, names, repeatable } of sources) {
    for (const name of names) {
      const problem = checkLabelName(name, reserved);
      if (problem) return invalidLabelMessage(where, name, problem);
      const first = seen.get(name);
      if (first !== undefined && !(repeatable && first === where)) {
        return invalidLabelMessage(where, name, { kind: "reserved", detail: `already set by ${first}` });
      }
      seen.set(name, where);
    }
  }
  return undefined;
}

// Label enrichment (outputs.md §2.3): the process and container labels the agent adds to a
// process-level row (comm, cmdline, start_time, the proc_name `label`, container and pod
// labels and the pod_labels the scope asked for), from the snooper's tables.
import type { Row, TableDef } from "../store/table.ts";
import type { ContainerRec, ProcRecord } from "./proc-table.ts";
import type { SnooperScope } from "./scope-view.ts";

interface TableFlags {
  hasTgid: boolean;
  hasComm: boolean;
  isProc: boolean;
  hasContainerId: boolean;
}

const NO_LABELS: readonly (readonly [string, string])[] = Object.freeze([]);

export interface LabelSource {
  /** A process by pid (read now when the table does not know it yet). */
  lookup(pid: number): ProcRecord | undefined;
  containerByFullId(id: string): ContainerRec | undefined;
  containerByShortId(id12: string): ContainerRec | undefined;
  podLabels(podId: string): Record<string, string> | undefined;
  /** The scope of the probe that owns the row, when it has one. */
  scopeOf(owner: string): SnooperScope | undefined;
}

export class LabelEnrichment {
  private readonly flags = new WeakMap<TableDef, TableFlags>();

  constructor(private readonly src: LabelSource) {}

  private tableFlags(t: TableDef): TableFlags {
    let f = this.flags.get(t);
    if (!f) {
      const labelish = t.fields.filter((x) => x.type === "key" || x.type === "label").map((x) => x.name);
      f = {
        hasTgid: labelish.includes("tgid"),
        hasComm: t.fields.some((x) => x.name === "comm"),
        isProc: t.entity === "proc",
        hasContainerId: labelish.includes("container_id"),
      };
      this.flags.set(t, f);
    }
    return f;
  }

  private containerLabels(rec: ContainerRec, withId: boolean, scope: SnooperScope | undefined, out: [string, string][]): void {
    const i = rec.info;
    if (withId) out.push(["container_id", i.id]);
    out.push(["container_name", i.name], ["container_image", i.image]);
    if (!i.podId) return;
    out.push(["pod_id", i.podId], ["pod", i.pod], ["pod_namespace", i.podNamespace]);
    const names = scope?.podLabelNames ?? [];
    if (!names.length) return;
    const labels = this.src.podLabels(i.podId);
    for (const n of names) out.push([n, labels?.[n] ?? "not found"]);
  }

  /** The labels to add to `row` of `table` owned by probe `owner`; null: the row's process is gone. */
  enrich(table: TableDef, row: Row, owner: string): readonly (readonly [string, string])[] | null {
    const f = this.tableFlags(table);
    if (!f.hasTgid && !f.hasContainerId) return NO_LABELS;
    const scope = this.src.scopeOf(owner);
    const out: [string, string][] = [];
    let containerDone = false;
    if (f.hasTgid) {
      const pid = Number(row.tgid);
      const p = this.src.lookup(pid);
      if (!p) {
        if (!f.hasComm) return null;
      } else {
        if (!f.hasComm) out.push(["comm", p.comm]);
        if (f.isProc) out.push(["cmdline", p.cmdlineLabel], ["start_time", String(p.startTime)]);
        const label = scope?.labelFor(pid);
        if (label) for (const k of Object.keys(label)) out.push([k, label[k]!]);
        const rec = p.fullContainerId ? this.src.containerByFullId(p.fullContainerId) : undefined;
        if (rec) {
          this.containerLabels(rec, !f.hasContainerId, scope, out);
          containerDone = true;
        }
      }
    }
    if (f.hasContainerId && !containerDone) {
      const id = row.container_id;
      const rec = typeof id === "string" && id ? this.src.containerByShortId(id.slice(0, 12).toLowerCase()) : undefined;
      if (rec) this.containerLabels(rec, false, scope, out);
    }
    return out;
  }
}

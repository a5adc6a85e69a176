import { describe, expect, test } from "bun:test";
import baseinfo from "../probes/baseinfo/index.ts";
import { findFeature } from "../probes/catalog.ts";
import { DERIVED_LABELS, checkLabelName, reservedLabelNames } from "./labels.ts";
import { applyRequest, defaultSettings } from "./request.ts";

const INJECTION = 'a="b"} 1\nforged_metric{x="1"} 1\n# x';
const reserved = reservedLabelNames(baseinfo.tables);

describe("checkLabelName", () => {
  test("Prometheus label names pass; syntax errors, __ names and reserved names do not", () => {
    for (const ok of ["team", "_x", "Env2", "a_b_c"]) expect(checkLabelName(ok, reserved)).toBeUndefined();
    for (const bad of [INJECTION, "bad-name", "0lead", "", "__name__", "__x", "a b", "é", "a.b", "a/b"]) {
      expect(checkLabelName(bad, reserved)?.kind).toBe("syntax");
    }
    for (const r of ["machine_id", "tgid", "comm", "le", "cpu", "pod", "container_id"]) {
      expect(checkLabelName(r, reserved)?.kind).toBe("reserved");
    }
  });

  test("the reserved list is the derived labels plus the probe's key/label fields", () => {
    for (const d of DERIVED_LABELS) expect(reserved).toContain(d);
    for (const t of baseinfo.tables) {
      for (const f of t.fields) if (f.type === "key" || f.type === "label") expect(reserved).toContain(f.name.slice(0, 31));
    }
    expect(reserved).not.toContain("util_per");
  });
});

describe("custom_labels and proc_name labels in a request", () => {
  const f = findFeature("baseinfo")!;
  const put = (doc: unknown, current = defaultSettings(f, "baseinfo")) => applyRequest(f, current, doc, { running: false, reservedLabels: reserved });

  test("a bad name is refused with upstream-style text and nothing is kept", () => {
    const good = put({ snoopers: { custom_labels: { team: "a" } } });
    expect(good.ok).toBe(true);
    const cur = good.settings;
    const cases: [unknown, string][] = [
      [{ custom_labels: { [INJECTION]: "v" } }, `snoopers.custom_labels invalid label name ${INJECTION}: a label name must match [a-zA-Z_][a-zA-Z0-9_]*`],
      [{ custom_labels: { "bad-name": "v" } }, "snoopers.custom_labels invalid label name bad-name: a label name must match [a-zA-Z_][a-zA-Z0-9_]*"],
      [{ custom_labels: { "": "v" } }, 'snoopers.custom_labels invalid label name "": a label name must match [a-zA-Z_][a-zA-Z0-9_]*'],
      [{ custom_labels: { __name__: "v" } }, "snoopers.custom_labels invalid label name __name__: names starting with __ are reserved by Prometheus"],
      [{ proc_name: [{ comm: "x", label: { "0lead": "v" } }] }, "snoopers.proc_name invalid label name 0lead: a label name must match [a-zA-Z_][a-zA-Z0-9_]*"],
    ];
    for (const [snoopers, message] of cases) {
      const r = put({ snoopers, cmd: { probe: ["cpu"] } }, cur);
      expect(r).toMatchObject({ ok: false, message });
      expect(r.settings.customLabels).toEqual({ team: "a" });
      expect(r.settings.subitems).toEqual([]);
    }
    const dup = put({ snoopers: { custom_labels: { machine_id: "x" } } }, cur);
    expect(dup.ok).toBe(false);
    expect(dup.ok ? "" : dup.message).toStartWith(
      "snoopers.custom_labels invalid label name machine_id: the agent already emits it; reserved for this probe: ",
    );
    expect(dup.ok ? "" : dup.message).toContain("tgid");
    expect(dup.settings.customLabels).toEqual({ team: "a" });
  });

  test("a name may not come both from custom_labels and a proc_name label; proc_name entries may share one", () => {
    const clash = put({ snoopers: { custom_labels: { app: "x" }, proc_name: [{ comm: "a", label: { app: "y" } }] } });
    expect(clash).toMatchObject({ ok: false, message: "snoopers.proc_name invalid label name app: already set by snoopers.custom_labels" });
    const shared = put({ snoopers: { proc_name: [{ comm: "a", label: { app: "a" } }, { comm: "b", label: { app: "b" } }] } });
    expect(shared.ok).toBe(true);
  });

  test("label values are free text (escaped on output)", () => {
    const r = put({ snoopers: { custom_labels: { team: 'q"b\\n\nx\ud800' } } });
    expect(r.ok).toBe(true);
    expect(r.settings.customLabels.team).toBe('q"b\\n\nx\ud800');
  });
});

// A recording ProbeContext for baseinfo tests: rows by table, events, parse errors, logs.
import type { HostFs } from "../../host/fs.ts";
import type { Logger } from "../../log/logger.ts";
import type { ProbeContext } from "../../probe/define.ts";
import { wholeHostScope } from "../../probe/scope.ts";
import type { ParamValues, ProbeSettings } from "../../probe/settings.ts";
import type { ProbeEvent, Row, TableDef } from "../../store/table.ts";
import { testKit } from "../../probe/test-kit.ts";

export interface RecordingContext extends ProbeContext {
  subitems: Set<string>;
  params: ParamValues;
  rows: Map<string, Row[]>;
  events: ProbeEvent[];
  parseErrors: { item: string; detail?: string }[];
  logs: string[];
  /** Clears rows, events, parse errors and logs (one collection cycle). */
  clear(): void;
  /** Rows of one table emitted since the last clear. */
  table(name: string): Row[];
}

export const DEFAULT_PARAMS: ParamValues = {
  report_period: 5,
  drops_thr: 0,
  res_upper_thr: 0,
  report_event: 0,
  dev_name: "",
};

export function recordingContext(host: HostFs, subitems: string[], params: ParamValues = {}): RecordingContext {
  const logs: string[] = [];
  const log: Logger = {
    debug: (m) => logs.push(`DEBUG ${m}`),
    info: (m) => logs.push(`INFO ${m}`),
    warn: (m) => logs.push(`WARN ${m}`),
    error: (m) => logs.push(`ERROR ${m}`),
    child: () => log,
  };
  const allParams: ParamValues = { ...DEFAULT_PARAMS, ...params };
  const settings: ProbeSettings = {
    name: "baseinfo",
    subitems,
    mode: "whitelist",
    scope: { proc_id: [], proc_name: [], pod_id: [], container_id: [], container_name: [] },
    customLabels: {},
    podLabels: [],
    params: allParams,
    wanted: true,
  };
  const ctx: RecordingContext = {
    ...testKit({ feature: "baseinfo", log, scope: () => ctx.scope }),
    feature: "baseinfo",
    settings,
    subitems: new Set(subitems),
    params: allParams,
    host,
    log,
    signal: new AbortController().signal,
    scope: wholeHostScope(),
    rows: new Map(),
    events: [],
    parseErrors: [],
    logs,
    emit(table: TableDef, row: Row) {
      let l = ctx.rows.get(table.name);
      if (!l) ctx.rows.set(table.name, (l = []));
      l.push(row);
    },
    event(e: ProbeEvent) {
      ctx.events.push(e);
    },
    parseError(item: string, detail?: string) {
      ctx.parseErrors.push({ item, detail });
    },
    num(key: string) {
      const v = ctx.params[key];
      return typeof v === "number" ? v : 0;
    },
    clear() {
      ctx.rows.clear();
      ctx.events.length = 0;
      ctx.parseErrors.length = 0;
      logs.length = 0;
    },
    table(name: string) {
      return ctx.rows.get(name) ?? [];
    },
  };
  return ctx;
}

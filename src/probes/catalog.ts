// The agent's REST catalog: the probes registered in ./index.ts, each with its folder's
// own declaration, plus the upstream features declared but not built (src/probe/not-built.ts).
import { FeatureCatalog } from "../probe/catalog.ts";
import { NOT_BUILT } from "../probe/not-built.ts";
import type { ParamDef, ParamTable } from "../probe/params.ts";
import type { FeatureDef, ParamValues } from "../probe/settings.ts";
import { PROBES } from "./registered.ts";

export { L7_PROTOCOLS } from "./l7/declare.ts";

export const CATALOG: FeatureCatalog = FeatureCatalog.of(PROBES, NOT_BUILT);

/** Every feature, in the order of rest-api.md §10 (= IPC type order). */
export const FEATURES: readonly FeatureDef[] = CATALOG.features;

export function findFeature(urlName: string): FeatureDef | undefined {
  return CATALOG.find(urlName);
}

/** Every parameter, in upstream's fixed evaluation order. */
export const PARAMS: readonly ParamDef[] = CATALOG.params.all;
export const PARAM_ORDER: readonly string[] = PARAMS.map((p) => p.key);
export const PARAM_TABLE: ParamTable = CATALOG.params;

export function defaultParams(): ParamValues {
  return CATALOG.params.defaults();
}

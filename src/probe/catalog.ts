// The REST side of every feature the agent answers for: each built probe's own declaration
// (its folder) plus the features upstream has that are declared but not built here
// (./not-built.ts). It resolves URL names, subitems and the one params table.
import type { FeatureDeclaration } from "./define.ts";
import { asciiLower, ParamTable } from "./params.ts";
import type { FeatureDef, Subitem } from "./settings.ts";

/** Where upstream installed its extend probes (GET's cmd.bin). */
export const EXTEND_PROBE_DIR = "/opt/gala-gopher/extend_probes/";

const MAX_NAME = 64;

export class FeatureCatalog {
  /** In upstream's IPC-type order, then new features in declaration order. */
  readonly features: readonly FeatureDef[];
  readonly params: ParamTable;
  private readonly byName: ReadonlyMap<string, FeatureDef>;

  /** `built` declarations replace a not-built declaration of the same name. */
  static of(built: readonly FeatureDeclaration[], notBuilt: readonly FeatureDeclaration[]): FeatureCatalog {
    const names = new Set(built.map((d) => d.feature));
    return new FeatureCatalog([...built, ...notBuilt.filter((d) => !names.has(d.feature))]);
  }

  constructor(decls: readonly FeatureDeclaration[]) {
    const seen = new Set<string>();
    for (const d of decls) {
      if (!/^[a-z][a-z0-9_]*$/.test(d.feature) || d.feature.length > MAX_NAME) {
        throw new Error(`feature name ${JSON.stringify(d.feature)}: lower-case letters, digits and _ (at most ${MAX_NAME})`);
      }
      if (seen.has(d.feature)) throw new Error(`feature ${d.feature} is declared twice`);
      seen.add(d.feature);
    }
    this.params = new ParamTable(decls.map((d) => d.params ?? []));
    const rank = (d: FeatureDeclaration) => d.ipcType ?? Number.MAX_SAFE_INTEGER;
    const ordered = decls.map((d, i) => ({ d, i })).sort((a, b) => rank(a.d) - rank(b.d) || a.i - b.i);
    this.features = Object.freeze(ordered.map(({ d }) => this.featureDef(d)));
    this.byName = new Map(this.features.map((f) => [f.name, f]));
  }

  private featureDef(d: FeatureDeclaration): FeatureDef {
    const kind = d.kind ?? "extend";
    const bin = d.bin ?? d.feature;
    const subitems: Subitem[] = (d.subitems ?? []).map((s) => Object.freeze({ name: s.name, bit: s.bit }));
    const bits = new Set(subitems.map((s) => s.bit));
    if (bits.size !== subitems.length) throw new Error(`feature ${d.feature}: two subitems share a bit`);
    return Object.freeze({
      name: d.feature,
      kind,
      bin: kind === "extend" ? EXTEND_PROBE_DIR + bin : bin,
      ipcType: d.ipcType ?? 0,
      scopeKind: d.scope,
      subitems: Object.freeze(subitems),
      paramTable: this.params,
      ownParams: new Set((d.params ?? []).map((p) => p.key)) as ReadonlySet<string>,
    });
  }

  /** The feature named `urlName`, compared case-insensitively (ASCII), exact otherwise. */
  find(urlName: string): FeatureDef | undefined {
    if (typeof urlName !== "string" || urlName.length === 0 || urlName.length > MAX_NAME) return undefined;
    return this.byName.get(asciiLower(urlName));
  }
}

/** The subitem of `f` whose name equals `name` case-insensitively (ASCII). */
export function findSubitem(f: FeatureDef, name: string): Subitem | undefined {
  const lower = asciiLower(name);
  return f.subitems.find((s) => s.name === lower);
}

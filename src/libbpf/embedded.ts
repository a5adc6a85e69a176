// Assets built into the executable. In a source checkout this module is empty and the
// loader reads dist/bpf/ instead; scripts/build.ts replaces its contents at bundle time
// with static `with { type: "file" }` imports of the compiled objects and of libbpf,
// libelf and libz, so `bun build --compile` embeds them.
export interface EmbeddedAssets {
  /** Object name (e.g. "tcp") → embedded file path of <name>.bpf.o. */
  readonly objects: Readonly<Record<string, string>>;
  /** "libz" | "libelf" | "libbpf" → embedded file path of the shared library. */
  readonly libs: Readonly<Record<string, string>>;
}

export const EMBEDDED: EmbeddedAssets = { objects: {}, libs: {} };

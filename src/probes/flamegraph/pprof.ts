// A period's folded stacks as a pprof profile (profile.proto, gzipped, encoded by the
// pprof-format package) that `go tool pprof` reads: one function and one location per frame
// name (user space has no line table here), samples with their locations innermost first
// and a `pid` label. oncpu: samples and CPU time (period = perf_sample_period); offcpu:
// nanoseconds off the CPU; mem (and mem_glibc): bytes.
import { gzipSync } from "node:zlib";
import { Function as PprofFunction, Label, Location, Line, Profile, Sample, StringTable, ValueType } from "pprof-format";

export interface PprofOptions {
  readonly type: "oncpu" | "offcpu" | "mem" | "mem_glibc";
  /** [folded stack, value, pid] rows; values in samples (oncpu), nanoseconds (offcpu) or bytes (mem, mem_glibc). */
  readonly stacks: readonly (readonly [string, number, number])[];
  /** oncpu: nanoseconds of CPU clock per sample. */
  readonly periodNs: number;
  readonly start: Date;
  readonly end: Date;
}

/** The gzipped profile.proto bytes. */
export function pprofProfile(o: PprofOptions): Uint8Array {
  const strings = new StringTable();
  const functions: PprofFunction[] = [];
  const locations: Location[] = [];
  const locationOf = new Map<string, number>();
  const location = (name: string): number => {
    let id = locationOf.get(name);
    if (id === undefined) {
      id = locations.length + 1;
      const n = strings.dedup(name);
      functions.push(new PprofFunction({ id, name: n, systemName: n }));
      locations.push(new Location({ id, line: [new Line({ functionId: id })] }));
      locationOf.set(name, id);
    }
    return id;
  };
  const oncpu = o.type === "oncpu";
  const mem = o.type === "mem" || o.type === "mem_glibc";
  const sampleType = oncpu
    ? [new ValueType({ type: strings.dedup("samples"), unit: strings.dedup("count") }), new ValueType({ type: strings.dedup("cpu"), unit: strings.dedup("nanoseconds") })]
    : mem
      ? [new ValueType({ type: strings.dedup(o.type === "mem" ? "space" : "inuse_space"), unit: strings.dedup("bytes") })]
      : [new ValueType({ type: strings.dedup("offcpu"), unit: strings.dedup("nanoseconds") })];
  const pidKey = strings.dedup("pid");
  const samples = o.stacks.map(([stack, value, pid]) => {
    const ids = stack.split(";").map(location).reverse(); // innermost first
    return new Sample({ locationId: ids, value: oncpu ? [value, value * o.periodNs] : [value], label: [new Label({ key: pidKey, num: pid })] });
  });
  const profile = new Profile({
    sampleType,
    sample: samples,
    location: locations,
    function: functions,
    stringTable: strings,
    timeNanos: BigInt(o.start.getTime()) * 1_000_000n,
    durationNanos: BigInt(Math.max(0, o.end.getTime() - o.start.getTime())) * 1_000_000n,
    periodType: oncpu ? new ValueType({ type: strings.dedup("cpu"), unit: strings.dedup("nanoseconds") }) : sampleType[0],
    period: oncpu ? o.periodNs : 1,
  });
  return gzipSync(profile.encode());
}

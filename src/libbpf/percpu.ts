// Per-CPU map values (BPF_MAP_TYPE_PERCPU_ARRAY, PERCPU_HASH, LRU_PERCPU_HASH): the kernel
// returns one slot per possible CPU, each value_size rounded up to 8 bytes. These helpers
// give per-CPU views and sums without the caller knowing the layout.
import { BpfError } from "./errors.ts";
import { MapType, possibleCpus, type BpfMap } from "./object.ts";

const PERCPU_TYPES: ReadonlySet<number> = new Set([MapType.PERCPU_ARRAY, MapType.PERCPU_HASH, MapType.LRU_PERCPU_HASH]);

function requirePerCpu(map: BpfMap): number {
  if (!PERCPU_TYPES.has(map.type)) throw new BpfError(`per-CPU read of ${map.name}`, 22, `map type ${map.type} is not a per-CPU map`);
  return (map.valueSize + 7) & ~7;
}

/** Splits one raw per-CPU value buffer (as lookup returns it) into one view per possible CPU. */
export function splitPerCpu(map: BpfMap, raw: Uint8Array): DataView[] {
  const stride = requirePerCpu(map);
  const cpus = possibleCpus();
  if (raw.byteLength < stride * cpus) throw new BpfError(`per-CPU read of ${map.name}`, 22, `buffer of ${raw.byteLength} bytes < ${stride} × ${cpus} CPUs`);
  const out: DataView[] = [];
  for (let c = 0; c < cpus; c++) out.push(new DataView(raw.buffer, raw.byteOffset + c * stride, map.valueSize));
  return out;
}

/** The value of `key` on every possible CPU (index = CPU number), or undefined when the key is absent. */
export function perCpuValues(map: BpfMap, key: ArrayBufferView): DataView[] | undefined {
  requirePerCpu(map);
  const raw = new Uint8Array(map.valueBufferSize);
  if (!map.lookup(key, raw)) return undefined;
  return splitPerCpu(map, raw);
}

/**
 * Sums a value made of u64 fields over every CPU: element i of the result is field i
 * (value bytes i×8 .. i×8+7) summed. Absent key: all zeros.
 */
export function sumPerCpuU64(map: BpfMap, key: ArrayBufferView): BigUint64Array {
  if (map.valueSize % 8 !== 0) throw new BpfError(`per-CPU sum of ${map.name}`, 22, `value size ${map.valueSize} is not a whole number of u64 fields`);
  const sum = new BigUint64Array(map.valueSize / 8);
  for (const v of perCpuValues(map, key) ?? []) {
    for (let i = 0; i < sum.length; i++) sum[i] = sum[i]! + v.getBigUint64(i * 8, true);
  }
  return sum;
}

/** Visits every entry of a per-CPU hash or array with its per-CPU views (batched reads). Returns the count. */
export function forEachPerCpu(map: BpfMap, visit: (key: Uint8Array, values: DataView[]) => void, chunk = 256): number {
  requirePerCpu(map);
  const vb = map.valueBufferSize;
  const ks = map.keySize;
  return map.lookupBatch(({ keys, values, count }) => {
    for (let i = 0; i < count; i++) visit(keys.subarray(i * ks, (i + 1) * ks), splitPerCpu(map, values.subarray(i * vb, (i + 1) * vb)));
  }, chunk);
}

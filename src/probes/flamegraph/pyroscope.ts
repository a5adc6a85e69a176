// Pushes folded stacks to Pyroscope's /ingest API as upstream's stackprobe does: every 30 s
// (checked at each collect), one POST per type (and per process with multi_instance) of
// the stacks since the last push, `name=gala-gopher-<type>[.<pid>]`, `from`/`until` in
// seconds, `units=samples` (`bytes` for mem and mem_glibc), `sampleRate` = 1000 / perf_sample_period. offcpu
// values are microseconds, sent with sampleRate 1000000 so Pyroscope shows seconds. A
// failed push (3 s timeout, HTTP error) is counted and its data dropped: never retried.

export const PUSH_INTERVAL_MS = 30_000;
const TIMEOUT_MS = 3000;

/** Why a pyroscope_server value cannot be used, or undefined. */
export function pyroscopeServerError(server: string): string | undefined {
  const colon = server.lastIndexOf(":");
  if (colon <= 0) return `pyroscope_server ${JSON.stringify(server)}: expected host:port`;
  const port = Number(server.slice(colon + 1));
  if (!Number.isInteger(port) || port < 1 || port > 65535) return `pyroscope_server ${JSON.stringify(server)}: invalid port`;
  if (/[\s/?#@]/.test(server)) return `pyroscope_server ${JSON.stringify(server)}: unexpected characters`;
  return undefined;
}

export interface IngestRequest {
  readonly server: string;
  readonly type: "oncpu" | "offcpu" | "mem" | "mem_glibc";
  readonly pid?: number;
  readonly from: Date;
  readonly until: Date;
  readonly samplePeriodMs: number;
  /** Folded text. */
  readonly body: string;
}

/** The /ingest URL of a push. */
export function ingestUrl(r: IngestRequest): string {
  const name = `gala-gopher-${r.type}${r.pid === undefined ? "" : `.${r.pid}`}`;
  const rate = r.type === "offcpu" ? 1_000_000 : Math.floor(1000 / r.samplePeriodMs);
  const units = r.type === "mem" || r.type === "mem_glibc" ? "bytes" : "samples";
  const q = new URLSearchParams({ name, from: String(Math.floor(r.from.getTime() / 1000)), until: String(Math.floor(r.until.getTime() / 1000)), units, sampleRate: String(rate) });
  return `http://${r.server}/ingest?${q}`;
}

/** One POST; resolves to an error text, or undefined when Pyroscope accepted it. */
export async function pushFolded(r: IngestRequest, signal?: AbortSignal): Promise<string | undefined> {
  try {
    const res = await fetch(ingestUrl(r), {
      method: "POST",
      body: r.body,
      headers: { "content-type": "text/plain" },
      signal: signal ? AbortSignal.any([signal, AbortSignal.timeout(TIMEOUT_MS)]) : AbortSignal.timeout(TIMEOUT_MS),
    });
    await res.arrayBuffer();
    return res.ok ? undefined : `HTTP ${res.status}`;
  } catch (e) {
    return (e as Error).message;
  }
}

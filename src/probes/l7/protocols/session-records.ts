// The completed-records list every l7 parser session keeps between two `drain` calls
// (protocol.ts: ProtocolSession.drain moves the records completed since the last call).
import type { L7Record } from "../protocol.ts";

/** Moves every record of `done` into `out`, oldest first, and empties `done` (its storage is
 *  reused); returns how many moved. */
export function moveRecords(done: L7Record[], out: L7Record[]): number {
  const n = done.length;
  for (let i = 0; i < n; i++) out.push(done[i]!);
  done.length = 0;
  return n;
}

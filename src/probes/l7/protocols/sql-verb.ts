// What the MySQL and PostgreSQL parsers share about SQL itself: the verb a statement is
// counted under in l7_rpc_api, and which side an SQLSTATE blames.
import { ErrorClass } from "../protocol.ts";

/** API of a statement whose verb cannot be read (only a comment, truncated by a capture gap, binary). */
export const UNKNOWN_VERB = "OTHER";
const MAX_VERB = 24;
const MAX_INTERNED = 512;

const isSpace = (c: number) => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d || c === 0x0c;
const isLetter = (c: number) => (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x5f;

/**
 * Interns upper-cased SQL verbs read from bytes, so a steady stream of "SELECT"s costs no
 * string allocation. Bounded: past MAX_INTERNED distinct verbs new ones are built each time.
 */
export class VerbTable {
  private readonly byHash = new Map<number, string>();

  /** The first keyword of the SQL text in `bytes[start, end)`, upper-cased; `complete`
   *  says whether `end` is the text's real end (false when a gap or the prefix cut it). */
  verb(bytes: Uint8Array, start: number, end: number, complete: boolean): string {
    let i = start;
    for (;;) {
      while (i < end && (isSpace(bytes[i]!) || bytes[i] === 0x28 /* ( */ || bytes[i] === 0x3b /* ; */)) i++;
      if (i + 1 < end && bytes[i] === 0x2d && bytes[i + 1] === 0x2d) {
        while (i < end && bytes[i] !== 0x0a) i++;
        continue;
      }
      if (i + 1 < end && bytes[i] === 0x2f && bytes[i + 1] === 0x2a) {
        i += 2;
        while (i + 1 < end && !(bytes[i] === 0x2a && bytes[i + 1] === 0x2f)) i++;
        i += 2;
        continue;
      }
      break;
    }
    const from = i;
    let hash = 0x811c9dc5;
    while (i < end && isLetter(bytes[i]!) && i - from < MAX_VERB) {
      hash = Math.imul(hash ^ (bytes[i]! & 0xdf), 0x01000193);
      i++;
    }
    const len = i - from;
    // A word that runs into the end of what was seen may be cut short: not a verb to count.
    if (len === 0 || (i === end && !complete) || (i < end && isLetter(bytes[i]!))) return UNKNOWN_VERB;
    hash = (hash ^ len) >>> 0;
    const known = this.byHash.get(hash);
    if (known !== undefined && sameUpper(known, bytes, from, len)) return known;
    let s = "";
    for (let k = from; k < i; k++) s += String.fromCharCode(bytes[k]! & 0xdf);
    if (known === undefined && this.byHash.size < MAX_INTERNED) this.byHash.set(hash, s);
    return s;
  }
}

function sameUpper(s: string, bytes: Uint8Array, from: number, len: number): boolean {
  if (s.length !== len) return false;
  for (let k = 0; k < len; k++) if (s.charCodeAt(k) !== (bytes[from + k]! & 0xdf)) return false;
  return true;
}

/**
 * Which side an SQLSTATE blames (the first two characters, its class). The request was
 * wrong: 21 cardinality, 22 data exception, 23 integrity constraint, 25 invalid transaction
 * state (a statement sent inside a transaction that already failed), 26 invalid statement
 * name, 28 invalid authorization, 3D invalid catalog (unknown database), 3F invalid schema,
 * 42 syntax error or access rule violation, 44 WITH CHECK OPTION. Everything else (08
 * connection, 40 rollback/deadlock, 53 resources, 57 operator intervention, 58 system, XX
 * internal, MySQL's generic HY000 …) is the server's.
 */
export function sqlStateClass(c0: number, c1: number): ErrorClass {
  switch (c0) {
    case 0x32: // '2'
      return c1 === 0x31 || c1 === 0x32 || c1 === 0x33 || c1 === 0x35 || c1 === 0x36 || c1 === 0x38 ? ErrorClass.Client : ErrorClass.Server;
    case 0x33: // '3'
      return c1 === 0x44 || c1 === 0x46 ? ErrorClass.Client : ErrorClass.Server;
    case 0x34: // '4'
      return c1 === 0x32 || c1 === 0x34 ? ErrorClass.Client : ErrorClass.Server;
    default:
      return ErrorClass.Server;
  }
}

// PostgreSQL wire details the session needs: message tags, startup codes, C strings, and
// the prepared statement / portal names that lead an Execute back to its SQL verb.
import { u32be } from "./bytes.ts";

/** Tags a frontend (client) sends after the startup packet. */
const FRONTEND = new Uint8Array(128);
for (const c of "QPBEDCHSXFdcfp") FRONTEND[c.charCodeAt(0)] = 1;
/** Tags a backend (server) sends. */
const BACKEND = new Uint8Array(128);
for (const c of "RSKZCDEINATtn123sGHWdcVv") BACKEND[c.charCodeAt(0)] = 1;

export const isFrontendTag = (c: number): boolean => c < 128 && FRONTEND[c] === 1;
export const isBackendTag = (c: number): boolean => c < 128 && BACKEND[c] === 1;

export const enum StartupCode {
  Other,
  Startup,
  SslRequest,
  GssEncRequest,
  Cancel,
}

/** The code of an untyped startup packet at `bytes[at, at + 4)` (big-endian). */
export function startupCode(bytes: Uint8Array, at: number): StartupCode {
  const code = u32be(bytes, at);
  if (code === 196608) return StartupCode.Startup; // protocol 3.0
  if (code === 80877103) return StartupCode.SslRequest;
  if (code === 80877104) return StartupCode.GssEncRequest;
  if (code === 80877102) return StartupCode.Cancel;
  return StartupCode.Other;
}

/** Index of the NUL ending the C string that starts at `from`, or -1 when `bytes[from, end)` holds none. */
export function cstringEnd(bytes: Uint8Array, from: number, end: number): number {
  for (let i = from; i < end; i++) if (bytes[i] === 0) return i;
  return -1;
}

const MAX_NAMES = 1024;

function hashName(bytes: Uint8Array, from: number, end: number): number {
  let h = 0x811c9dc5;
  for (let i = from; i < end; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193);
  return (h ^ (end - from)) >>> 0;
}

/**
 * Verbs of the prepared statements and portals of one connection, keyed by a 32-bit hash of
 * the name (no string per Bind/Execute; a collision between two live names of one connection
 * could only swap their verbs). Bounded: past MAX_NAMES names the table starts over.
 */
export class PgNames {
  private readonly statements = new Map<number, string>();
  private readonly portals = new Map<number, string>();

  prepared(bytes: Uint8Array, from: number, end: number, verb: string): void {
    if (this.statements.size >= MAX_NAMES) this.statements.clear();
    this.statements.set(hashName(bytes, from, end), verb);
  }

  bound(bytes: Uint8Array, portalFrom: number, portalEnd: number, statementFrom: number, statementEnd: number): void {
    const verb = this.statements.get(hashName(bytes, statementFrom, statementEnd)) ?? "EXECUTE";
    if (this.portals.size >= MAX_NAMES) this.portals.clear();
    this.portals.set(hashName(bytes, portalFrom, portalEnd), verb);
  }

  portalVerb(bytes: Uint8Array, from: number, end: number): string {
    return this.portals.get(hashName(bytes, from, end)) ?? "EXECUTE";
  }
}

/** Length fields of the messages whose length is fixed (tag → length), -1 for the others. */
const BACKEND_FIXED = new Int8Array(128).fill(-1);
for (const c of "123nIsc") BACKEND_FIXED[c.charCodeAt(0)] = 4;
BACKEND_FIXED[0x5a] = 5; // 'Z' ReadyForQuery
BACKEND_FIXED[0x4b] = 12; // 'K' BackendKeyData
const FRONTEND_FIXED = new Int8Array(128).fill(-1);
for (const c of "SHXc") FRONTEND_FIXED[c.charCodeAt(0)] = 4;

/** Largest message a resynchronisation accepts: bigger lengths in mid-stream bytes are more likely data. */
const RESYNC_MAX = 0x1000000;

/**
 * Whether typed messages (tag + big-endian length) plausibly start at `bytes[0]`: every
 * header that lies in the seen bytes has a known tag and a sane length (the fixed one for
 * fixed-size messages, under 16 MiB for the others), chained by lengths.
 */
export function typedChainPlausible(bytes: Uint8Array, backend: boolean): boolean {
  const n = bytes.length;
  const isTag = backend ? isBackendTag : isFrontendTag;
  const fixed = backend ? BACKEND_FIXED : FRONTEND_FIXED;
  let pos = 0;
  while (pos < n) {
    const tag = bytes[pos]!;
    if (!isTag(tag)) return false;
    if (pos + 5 > n) return true;
    const len = u32be(bytes, pos + 1);
    if (len < 4 || len >= RESYNC_MAX || (fixed[tag]! >= 0 && len !== fixed[tag])) return false;
    pos += 1 + len;
  }
  return true;
}

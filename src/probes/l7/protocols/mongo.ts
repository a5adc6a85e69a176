// MongoDB wire protocol (https://www.mongodb.com/docs/manual/reference/mongodb-wire-protocol/):
// messages framed by their 16-byte header, requests paired with replies by responseTo ==
// requestID (several may be in flight).
//
// - API: the command name, the first key of the OP_MSG body (kind 0 section; kind 1 document
//   sequences and the CRC-32C checksum are stepped over) or of an OP_QUERY on "<db>.$cmd";
//   legacy opcodes: OP_QUERY on a collection "query", OP_GET_MORE "getMore", OP_INSERT
//   "insert", OP_UPDATE "update", OP_DELETE "delete", OP_KILL_CURSORS "killCursors".
// - No response: OP_MSG with moreToCome (unacknowledged writes) and the legacy OP_INSERT /
//   OP_UPDATE / OP_DELETE / OP_KILL_CURSORS. A reply with moreToCome (an exhaust cursor) keeps
//   the call open: the next reply answers it, and the last one ends it.
// - Errors: a reply whose top-level "ok" is 0 (or an OP_REPLY with QueryFailure), classed by
//   its "code": client for codes the request itself causes (2 BadValue, 9 FailedToParse,
//   11 UserNotFound, 13 Unauthorized, 14 TypeMismatch, 18 AuthenticationFailed, 26
//   NamespaceNotFound, 27 IndexNotFound, 40 ConflictingUpdateOperators, 48 NamespaceExists,
//   59 CommandNotFound, 66 ImmutableField, 72 InvalidOptions, 11000 DuplicateKey), server for
//   any other code or none. "ok": 1 with writeErrors is a success (as the drivers report it).
//   A reply whose "ok" falls into a capture gap counts as a success: error replies (ok, errmsg,
//   code, codeName) are far smaller than any capture limit.
// - OP_COMPRESSED: the noop compressor (id 0) is read as the message it wraps; snappy, zlib and
//   zstd are not decompressed: such a call is paired and counted in `stats.undecodable`.
import type { L7Record, ProtocolParser, ProtocolSession, SessionOptions, SessionStats, Transport } from "../protocol.ts";
import { ErrorClass, Looks } from "../protocol.ts";
import { firstKey, replyStatus, type ReplyStatus } from "./mongo-bson.ts";
import { i32le } from "./bytes.ts";
import { moveRecords } from "./session-records.ts";

const HEADER = 16;
const MAX_MESSAGE = 48_000_000;
const enum Op {
  Reply = 1,
  Update = 2001,
  Insert = 2002,
  Query = 2004,
  GetMore = 2005,
  Delete = 2006,
  KillCursors = 2007,
  Compressed = 2012,
  Msg = 2013,
}
const NO_RESPONSE_OPS: Record<number, string> = { [Op.Update]: "update", [Op.Insert]: "insert", [Op.Delete]: "delete", [Op.KillCursors]: "killCursors" };
const REQUEST_OPS = new Set([Op.Update, Op.Insert, Op.Query, Op.GetMore, Op.Delete, Op.KillCursors, Op.Compressed, Op.Msg]);
const CHECKSUM = 1;
const MORE_TO_COME = 2;
const KNOWN_MSG_FLAGS = CHECKSUM | MORE_TO_COME | (1 << 16);
const QUERY_FAILURE = 2;
const CLIENT_CODES = new Set([2, 9, 11, 13, 14, 18, 26, 27, 40, 48, 59, 66, 72, 11000]);

interface Pending {
  api: string;
  reqStartNs: number;
  reqBytes: number;
  respBytes: number;
  /** A compressed request we do not read: paired, then counted as undecodable. */
  undecodable: boolean;
}


function plausibleHeader(b: Uint8Array, at: number, fromClient: boolean): boolean {
  if (b.length - at < HEADER) return false;
  const length = i32le(b, at);
  const responseTo = i32le(b, at + 8);
  const op = i32le(b, at + 12);
  if (length < HEADER + 4 || length > MAX_MESSAGE) return false;
  if (fromClient) return REQUEST_OPS.has(op) && responseTo === 0 && (op !== Op.Msg || b.length - at < 20 || (i32le(b, at + 16) & ~KNOWN_MSG_FLAGS) === 0);
  return (op === Op.Reply || op === Op.Msg || op === Op.Compressed) && responseTo !== 0;
}

class Side {
  readonly header = new Uint8Array(HEADER);
  headerLen = 0;
  body: Uint8Array;
  /** Contiguous body bytes seen (the rest is past a gap or beyond maxBuffered). */
  seen = 0;
  remaining = -1;
  startNs = 0;
  lost = false;
  constructor(readonly fromClient: boolean, maxBuffered: number) {
    // Starts small: it grows to a message's length (up to maxBuffered) when one needs more.
    this.body = new Uint8Array(Math.min(256, maxBuffered));
  }
}

class MongoSession implements ProtocolSession {
  readonly stats: SessionStats = { resyncs: 0, unansweredDropped: 0, unmatchedResponses: 0, undecodable: 0 };
  private readonly pending = new Map<number, Pending>();
  private readonly done: L7Record[] = [];
  private readonly client: Side;
  private readonly server: Side;
  private readonly status: ReplyStatus = {};

  constructor(private readonly options: SessionOptions) {
    this.client = new Side(true, this.maxBuffered);
    this.server = new Side(false, this.maxBuffered);
  }

  private get maxBuffered(): number {
    return this.options.maxBuffered ?? 64 * 1024;
  }

  request(bytes: Uint8Array, length: number, tsNs: number): void {
    this.feed(this.client, bytes, length, tsNs);
  }

  response(bytes: Uint8Array, length: number, tsNs: number): void {
    this.feed(this.server, bytes, length, tsNs);
  }

  drain(out: L7Record[]): number {
    return moveRecords(this.done, out);
  }

  private feed(s: Side, bytes: Uint8Array, length: number, tsNs: number): void {
    if (s.lost) {
      if (!plausibleHeader(bytes, 0, s.fromClient)) return;
      s.lost = false;
    }
    let i = 0;
    while (i < bytes.length) {
      if (s.remaining < 0) {
        if (s.headerLen === 0) s.startNs = tsNs;
        const n = Math.min(HEADER - s.headerLen, bytes.length - i);
        s.header.set(bytes.subarray(i, i + n), s.headerLen);
        s.headerLen += n;
        i += n;
        if (s.headerLen < HEADER) break;
        const msgLength = i32le(s.header, 0);
        if (msgLength < HEADER || msgLength > MAX_MESSAGE) return this.lose(s);
        s.remaining = msgLength - HEADER;
        s.seen = 0;
        if (s.body.length < Math.min(s.remaining, this.maxBuffered)) s.body = new Uint8Array(Math.min(this.maxBuffered, Math.max(s.remaining, s.body.length * 2)));
      }
      const n = Math.min(s.remaining, bytes.length - i);
      const keep = Math.min(n, s.body.length - s.seen);
      if (keep > 0) {
        s.body.set(bytes.subarray(i, i + keep), s.seen);
        s.seen += keep;
      }
      s.remaining -= n;
      i += n;
      if (s.remaining === 0) this.message(s, tsNs);
    }
    const gap = length - bytes.length;
    if (gap <= 0) return;
    if (s.remaining >= gap && s.headerLen === HEADER) {
      s.remaining -= gap;
      if (s.remaining === 0) this.message(s, tsNs);
    } else this.lose(s);
  }

  private lose(s: Side): void {
    s.lost = true;
    s.headerLen = 0;
    s.remaining = -1;
    this.stats.resyncs++;
  }

  private message(s: Side, tsNs: number): void {
    const h = s.header;
    const length = i32le(h, 0);
    const requestID = i32le(h, 4);
    const responseTo = i32le(h, 8);
    let op = i32le(h, 12);
    s.headerLen = 0;
    s.remaining = -1;
    let at = 0;
    let compressed = false;
    if (op === Op.Compressed) {
      if (s.seen < 9 || s.body[8] !== 0) compressed = true; // snappy 1, zlib 2, zstd 3
      else {
        op = i32le(s.body, 0);
        at = 9;
      }
    }
    if (s.fromClient) this.requestMessage(s, op, at, compressed, length, requestID);
    else this.replyMessage(s, op, at, compressed, length, requestID, responseTo, tsNs);
  }

  private requestMessage(s: Side, op: number, at: number, compressed: boolean, length: number, requestID: number): void {
    const b = s.body;
    const end = s.seen;
    let api: string | undefined;
    let noResponse = false;
    if (compressed) api = "";
    else if (op === Op.Msg) {
      const flags = end >= at + 4 ? i32le(b, at) : 0;
      noResponse = (flags & MORE_TO_COME) !== 0;
      api = this.msgBody(b, at + 4, Math.min(end, length - HEADER - (flags & CHECKSUM ? 4 : 0)), true);
    } else if (op === Op.Query) {
      const z = b.indexOf(0, at + 4);
      if (z >= 0 && z < end) {
        const collection = String.fromCharCode(...b.subarray(at + 4, Math.min(z, at + 4 + 256)));
        api = collection.endsWith(".$cmd") ? firstKey(b, z + 9, end) : "query";
      }
    } else if (op === Op.GetMore) api = "getMore";
    else if (NO_RESPONSE_OPS[op] !== undefined) {
      api = NO_RESPONSE_OPS[op];
      noResponse = true;
    } else return; // another opcode (OP_COMMAND…): nothing to count
    if (api === undefined) {
      this.stats.undecodable!++;
      return;
    }
    if (noResponse) {
      this.done.push({ api, reqStartNs: s.startNs, respEndNs: s.startNs, reqBytes: length, respBytes: 0, error: ErrorClass.None, noResponse: true });
      return;
    }
    if (this.pending.size >= (this.options.maxPending ?? 1024)) {
      this.pending.delete(this.pending.keys().next().value as number);
      this.stats.unansweredDropped++;
    }
    this.pending.set(requestID, { api, reqStartNs: s.startNs, reqBytes: length, respBytes: 0, undecodable: compressed });
  }

  private replyMessage(s: Side, op: number, at: number, compressed: boolean, length: number, requestID: number, responseTo: number, tsNs: number): void {
    const p = this.pending.get(responseTo);
    if (!p) {
      this.stats.unmatchedResponses++;
      return;
    }
    this.pending.delete(responseTo);
    p.respBytes += length;
    const b = s.body;
    const end = s.seen;
    const st = this.status;
    st.ok = st.code = undefined;
    let more = false;
    let failed = false;
    if (compressed) p.undecodable = true;
    else if (op === Op.Msg) {
      const flags = end >= at + 4 ? i32le(b, at) : 0;
      more = (flags & MORE_TO_COME) !== 0;
      this.msgBody(b, at + 4, Math.min(end, length - HEADER - (flags & CHECKSUM ? 4 : 0)), false);
    } else if (op === Op.Reply) {
      failed = end >= at + 4 && (i32le(b, at) & QUERY_FAILURE) !== 0;
      if (end > at + 20) replyStatus(b, at + 20, end, st);
    }
    if (more) {
      this.pending.set(requestID, p); // exhaust: the next reply answers this one
      return;
    }
    if (p.undecodable) {
      this.stats.undecodable!++;
      return;
    }
    let error = ErrorClass.None;
    if (st.ok === 0 || failed) error = st.code !== undefined && CLIENT_CODES.has(st.code) ? ErrorClass.Client : ErrorClass.Server;
    this.done.push({ api: p.api, reqStartNs: p.reqStartNs, respEndNs: tsNs, reqBytes: p.reqBytes, respBytes: p.respBytes, error });
  }

  /** Walks OP_MSG sections in [p, end): for a request returns the body's first key; for a
   *  reply reads its ok/code into `status`. */
  private msgBody(b: Uint8Array, p: number, end: number, request: boolean): string | undefined {
    while (p + 5 <= end) {
      const kind = b[p]!;
      const size = i32le(b, p + 1);
      if (kind === 1) {
        if (size < 4) return undefined;
        p += 1 + size;
        continue;
      }
      if (kind !== 0) return undefined;
      if (request) return firstKey(b, p + 1, end);
      replyStatus(b, p + 1, Math.min(end, p + 1 + size), this.status);
      return undefined;
    }
    return undefined;
  }
}

export const mongoParser: ProtocolParser = {
  name: "mongo",
  detect(first: Uint8Array, transport: Transport): Looks {
    if (transport !== "tcp") return Looks.No;
    if (plausibleHeader(first, 0, true)) return Looks.Request;
    if (plausibleHeader(first, 0, false)) return Looks.Response;
    return Looks.No;
  },
  session(options: SessionOptions): ProtocolSession {
    return new MongoSession(options);
  },
};

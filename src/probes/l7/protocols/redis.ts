// Redis (RESP2 and RESP3) over the l7 parser contract (protocol.ts). Commands and replies
// are framed by redis-command.ts / redis-reply.ts; this file pairs them. Redis answers
// commands in order, so replies pair with the oldest unanswered command, except where the
// protocol says a reply is not one:
// - RESP3 push messages (">"): pub/sub messages, client-side-caching invalidations… are
//   not responses; the (un)subscribe confirmations a push carries answer their command.
// - RESP2 pub/sub: once subscribed, arrays starting "message"/"pmessage"/"smessage" are
//   not responses. SUBSCRIBE a b c is answered by three confirmations: one record, ending
//   at the last; UNSUBSCRIBE without channels by an unknown number: one record at the
//   first, the rest are not responses.
// - CLIENT REPLY OFF / SKIP: the server sends nothing for it, and nothing for the commands
//   that follow until CLIENT REPLY ON (OFF) or for the next one (SKIP): those are counted
//   as requests without a response (noResponse), never paired with someone else's reply.
// - After MONITOR's +OK the server streams monitor lines: not responses (RESET ends it).
//
// API: the command upper-cased ("SET"). For commands that are containers of subcommands
// (CLIENT, CONFIG, CLUSTER, XGROUP…) the subcommand is part of the API ("CLIENT SETNAME",
// "CONFIG GET"): their subcommands are different operations with different costs, and the
// set of names is fixed by the server, so the cardinality stays small. A subcommand that
// is not a plain word (letters, digits, "-", "_", at most 32 bytes) is left out.
//
// Errors: every error reply ("-…", RESP3 "!…") is an error. Redis errors start with a code.
// Those meaning the server could not serve a well-formed command at that moment count as
// server errors, like HTTP 5xx: OOM, LOADING, BUSY, MASTERDOWN, MISCONF, TRYAGAIN,
// CLUSTERDOWN, NOREPLICAS. Every other code (ERR — unknown command, wrong arity, syntax —,
// WRONGTYPE, NOAUTH, NOPERM, WRONGPASS, NOSCRIPT, EXECABORT, READONLY, MOVED/ASK…) answers
// what the client asked for: client errors, like HTTP 4xx. An error inside an EXEC or
// pipeline array is part of a successful reply and is not counted.
import { ErrorClass, Looks, type L7Record, type ProtocolParser, type ProtocolSession, type SessionOptions, type SessionStats, type Transport } from "../protocol.ts";
import { AsciiInterner, BoundedQueue, MessageBuffer, upperAscii } from "./bytes.ts";
import { CommandFramer, KEEP_ARG } from "./redis-command.ts";
import { ReplyFramer, Step } from "./redis-reply.ts";
import { commandKind, Kind, looksLikeCommand, looksLikeReply, replyKind, SERVER_ERROR_CODES, SUBCOMMAND_CONTAINERS } from "./redis-words.ts";
import { moveRecords } from "./session-records.ts";

const AFTER_GAP = 1 << 30;
const KIND_MASK = 0xf;

class RedisSession implements ProtocolSession {
  readonly stats: SessionStats = { resyncs: 0, unansweredDropped: 0, unmatchedResponses: 0 };
  private readonly cmd = new CommandFramer();
  private readonly reply = new ReplyFramer();
  private readonly reqBuf: MessageBuffer;
  private readonly respBuf: MessageBuffer;
  private reqDesync = false;
  private respDesync = false;
  private reqStarted = false;
  private reqStartNs = 0;
  private reqBytes = 0;
  private respStarted = false;
  private respStartNs = 0;
  private respBytes = 0;
  private readonly pending: BoundedQueue<L7Record>;
  private readonly done: L7Record[] = [];
  private readonly apis = new AsciiInterner(64);
  private readonly apiScratch = new Uint8Array(2 * KEEP_ARG + 1);
  private owedToDropped = 0;
  private requestGap = false;
  // reply modes
  private replyOff = false;
  private skipNext = false;
  private subscribed = false;
  private monitoring = false;
  /** A push was seen: RESP3, where pub/sub messages are pushes, never arrays. */
  private resp3 = false;
  /** Confirmations and bytes received so far for the (un)subscribe at the head of the queue. */
  private confirmations = 0;
  private confirmBytes = 0;

  constructor(o: SessionOptions) {
    const maxBuffered = o.maxBuffered ?? 64 * 1024;
    this.reqBuf = new MessageBuffer(maxBuffered);
    this.respBuf = new MessageBuffer(maxBuffered);
    this.pending = new BoundedQueue(o.maxPending ?? 1024);
  }

  drain(out: L7Record[]): number {
    return moveRecords(this.done, out);
  }

  request(bytes: Uint8Array, length: number, ts: number): void {
    if (this.reqDesync) {
      if (looksLikeCommand(bytes) === Looks.No || (this.cmd.sawArray && bytes[0] !== 42)) return;
      this.reqDesync = false;
    }
    const buf = this.reqBuf;
    let data = bytes;
    let end = bytes.length;
    if (buf.length > 0) {
      if (!buf.append(bytes, 0, bytes.length)) return this.lostRequests();
      data = buf.bytes;
      end = buf.length;
    }
    let off = 0;
    while (off < end) {
      if (!this.reqStarted) {
        this.reqStarted = true;
        this.reqStartNs = ts;
        this.reqBytes = 0;
      }
      const n = this.cmd.step(data, off, end);
      if (n === Step.Bad) return this.lostRequests();
      if (n === Step.NeedMore) break;
      off += n;
      this.reqBytes += n;
      if (this.cmd.done) this.commandDone();
      if (!this.cmd.open) this.reqStarted = false;
    }
    if (data === buf.bytes) buf.consume(off);
    else if (off < end && !buf.append(data, off, end)) return this.lostRequests();
    const gap = length - bytes.length;
    if (gap === 0) return;
    // A gap inside an argument is stepped over; one that runs past it loses the framing
    // (the command it ends may still complete inside it).
    const owed = buf.length > 0 ? 0 : this.cmd.bulkOwed;
    const inside = Math.min(gap, owed);
    if (inside > 0) {
      this.cmd.skip(inside);
      this.reqBytes += inside;
      if (this.cmd.done) {
        this.commandDone();
        this.reqStarted = false;
      }
    }
    if (gap > inside) this.lostRequests();
  }

  response(bytes: Uint8Array, length: number, ts: number): void {
    if (this.respDesync) {
      if (!looksLikeReply(bytes)) return;
      this.respDesync = false;
    }
    const buf = this.respBuf;
    let data = bytes;
    let end = bytes.length;
    if (buf.length > 0) {
      if (!buf.append(bytes, 0, bytes.length)) return this.lostReplies(ts);
      data = buf.bytes;
      end = buf.length;
    }
    let off = 0;
    while (off < end) {
      if (!this.respStarted) {
        this.respStarted = true;
        this.respStartNs = ts;
        this.respBytes = 0;
      }
      const n = this.reply.step(data, off, end);
      if (n === Step.Bad) return this.lostReplies(ts);
      if (n === Step.NeedMore) break;
      off += n;
      this.respBytes += n;
      if (this.reply.done) {
        this.replyDone(ts);
        this.respStarted = false;
      }
    }
    if (data === buf.bytes) buf.consume(off);
    else if (off < end && !buf.append(data, off, end)) return this.lostReplies(ts);
    const gap = length - bytes.length;
    if (gap === 0) return;
    const owed = buf.length > 0 ? 0 : this.reply.bulkOwed;
    const inside = Math.min(gap, owed);
    if (inside > 0) {
      this.reply.skip(inside);
      this.respBytes += inside;
      if (this.reply.done) {
        this.replyDone(ts);
        this.respStarted = false;
      }
    }
    if (gap > inside) this.lostReplies(ts);
  }

  private commandDone(): void {
    const c = this.cmd;
    const kind = commandKind(c);
    const rec: L7Record = { api: this.apiOf(), reqStartNs: this.reqStartNs, respEndNs: 0, reqBytes: this.reqBytes, respBytes: 0, error: ErrorClass.None };
    let silent = this.replyOff || this.skipNext;
    this.skipNext = false;
    if (kind === Kind.ClientReplyOff) {
      this.replyOff = true;
      silent = true;
    } else if (kind === Kind.ClientReplySkip) {
      if (!this.replyOff) this.skipNext = true;
      silent = true;
    } else if (kind === Kind.ClientReplyOn || kind === Kind.Reset) {
      this.replyOff = false;
      silent = false;
    }
    if (silent) {
      rec.respEndNs = rec.reqStartNs;
      rec.noResponse = true;
      this.done.push(rec);
      return;
    }
    // (un)subscribe: one confirmation per channel named; none named: unknown (0)
    const expected = kind >= Kind.Subscribe && kind <= Kind.Sunsubscribe ? Math.min(c.argc - 1, 0xffff) : 0;
    let tag = kind | (expected << 4);
    if (this.requestGap) tag |= AFTER_GAP;
    this.requestGap = false;
    if (this.pending.pushEvictingOldest(rec, tag)) {
      this.stats.unansweredDropped++;
      this.owedToDropped++;
      this.confirmations = this.confirmBytes = 0;
    }
  }

  private replyDone(ts: number): void {
    const r = this.reply;
    const type = r.topType;
    const headKind = (this.pending.peekTag() & KIND_MASK) as Kind;
    if (this.monitoring && !(type === 43 && r.keptIs("reset") && headKind === Kind.Reset)) return;
    const kind = type === 42 || type === 62 ? replyKind(r) : Kind.Other;
    const headIsSub = headKind >= Kind.Subscribe && headKind <= Kind.Sunsubscribe;
    if (kind >= Kind.Subscribe && kind <= Kind.Sunsubscribe && (type === 62 || this.subscribed || headIsSub)) return this.confirmation(kind, headKind, ts);
    if (type === 62) {
      this.resp3 = true;
      return; // a push is not a response
    }
    if (this.subscribed && !this.resp3 && kind === Kind.Message) return;
    const rec = this.take();
    if (!rec) return;
    rec.respEndNs = ts;
    rec.respBytes = this.respBytes;
    if (type === 45 || type === 33) rec.error = this.errorClass();
    this.done.push(rec);
    if (headKind === Kind.Monitor && type === 43) this.monitoring = true;
    if (headKind === Kind.Reset) this.monitoring = this.subscribed = false;
  }

  /** An (un)subscribe confirmation of `kind`: answers the command at the head when it is one. */
  private confirmation(kind: Kind, headKind: Kind, ts: number): void {
    const count = this.reply.thirdInt;
    if (this.reply.topType === 62) this.resp3 = true;
    if (kind <= Kind.Ssubscribe) this.subscribed = true;
    else if (count === 0) this.subscribed = false;
    if (headKind !== kind) return; // a further confirmation of an earlier UNSUBSCRIBE-all
    this.confirmations++;
    this.confirmBytes += this.respBytes;
    const expected = (this.pending.peekTag() & ~AFTER_GAP) >> 4;
    if (expected > 0 && this.confirmations < expected) return;
    const bytes = this.confirmBytes;
    this.confirmations = this.confirmBytes = 0;
    const rec = this.take();
    if (!rec) return;
    rec.respEndNs = ts;
    rec.respBytes = bytes;
    this.done.push(rec);
  }

  /** The command the reply that started at respStartNs answers, if any. */
  private take(): L7Record | null {
    if (this.owedToDropped > 0) {
      this.owedToDropped--;
      return null;
    }
    const rec = this.pending.peek();
    if (!rec) {
      this.stats.unmatchedResponses++;
      return null;
    }
    const tag = this.pending.peekTag();
    if ((tag & AFTER_GAP) !== 0) {
      // After a request-side gap, a reply that began before the next command we saw
      // answers a command lost in the gap.
      if (this.respStartNs < rec.reqStartNs) {
        this.stats.unmatchedResponses++;
        return null;
      }
      this.pending.setPeekTag(tag & ~AFTER_GAP);
    }
    return this.pending.shift()!;
  }

  private errorClass(): ErrorClass {
    const r = this.reply;
    for (const code of SERVER_ERROR_CODES) if (r.keptStartsWithWord(code)) return ErrorClass.Server;
    return ErrorClass.Client;
  }

  /** Request framing lost (a gap between commands, garbage, a line past maxBuffered). */
  private lostRequests(): void {
    this.stats.resyncs++;
    this.reqDesync = true;
    this.reqBuf.clear();
    this.cmd.reset();
    this.reqStarted = false;
    this.requestGap = true;
  }

  /** Reply framing lost at `ts`: the replies lost with it answered commands sent before. */
  private lostReplies(ts: number): void {
    this.stats.resyncs++;
    // A reply had begun: it answers the oldest command (replies come in order), which is
    // counted now, its latency ending at this read. Not so for a push or a pub/sub or
    // monitor stream, whose values are not replies.
    const t = this.reply.topType;
    if (this.respStarted && this.reply.open && t !== 62 && t !== 124 && !this.subscribed && !this.monitoring) {
      const rec = this.take();
      if (rec) {
        rec.respEndNs = ts;
        rec.respBytes = this.respBytes;
        this.done.push(rec);
      }
    }
    this.respDesync = true;
    this.respBuf.clear();
    this.reply.reset();
    this.respStarted = false;
    this.confirmations = this.confirmBytes = 0;
    while (this.pending.size > 0 && this.pending.peek()!.reqStartNs < ts) {
      this.pending.shift();
      this.stats.unansweredDropped++;
    }
  }

  private apiOf(): string {
    const c = this.cmd;
    const k = this.apiScratch;
    const nameLen = c.keptLen[0]!;
    for (let i = 0; i < nameLen; i++) k[i] = upperAscii(c.kept[i]!);
    let n = nameLen;
    if (c.argc > 1 && SUBCOMMAND_CONTAINERS.has(this.apis.intern(k, 0, nameLen))) {
      const subLen = c.keptLen[1]!;
      let word = subLen > 0 && subLen === c.argLen[1];
      for (let i = 0; word && i < subLen; i++) {
        const ch = c.kept[KEEP_ARG + i]!;
        word = (ch >= 48 && ch <= 57) || (ch >= 65 && ch <= 90) || (ch >= 97 && ch <= 122) || ch === 45 || ch === 95;
      }
      if (word) {
        k[n++] = 32;
        for (let i = 0; i < subLen; i++) k[n++] = upperAscii(c.kept[KEEP_ARG + i]!);
      }
    }
    return this.apis.intern(k, 0, n);
  }
}

/** Redis is claimed by a RESP array of bulk strings, an inline command starting with a
 *  known command name (never an HTTP request line), or a well-formed reply line. */
function detect(first: Uint8Array, transport: Transport): Looks {
  if (transport !== "tcp") return Looks.No;
  const c = looksLikeCommand(first);
  if (c !== Looks.No) return c;
  return looksLikeReply(first) ? Looks.Response : Looks.No;
}

export const redisParser: ProtocolParser = {
  name: "redis",
  detect,
  session: (o: SessionOptions) => new RedisSession(o),
};

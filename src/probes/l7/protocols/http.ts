// HTTP/1.x over the l7 parser contract (protocol.ts). Each side is framed as RFC 9112
// says: a head (start line + header fields, split over any number of reads, kept in a
// bounded buffer), then a body by Content-Length, chunked transfer coding (chunk sizes and
// trailers split over reads too) or, for a response without either, the rest of the
// connection. Bodies are stepped over, never copied, so a capture gap inside one costs
// nothing and keeps the parser in step. Requests are queued in the order they were sent
// (pipelining) and paired with responses in that order; 1xx interim responses (100
// Continue) are part of the request's response, HEAD / 204 / 304 responses have no body,
// 101 Switching Protocols and a 2xx answer to CONNECT turn the connection opaque.
//
// A response that ends only when the connection closes is counted when its head arrives
// (its latency is then time to the head): the contract has no close event to wait for.
// When a read brings a new start line while a Content-Length body is still owed, the body
// went by a path the capture does not see (sendfile, splice): the parser counts a resync
// and starts over at that line instead of eating the next message as body.
import { ErrorClass, type L7Record, type ProtocolParser, type ProtocolSession, type SessionOptions, type SessionStats } from "../protocol.ts";
import { BoundedQueue, CR, LF, MessageBuffer } from "./bytes.ts";
import { chunkSize, detectHttp, endsWithLastChunk, findHeadEnd, parseHead, plausibleStart, requestLineAt, startsMessage, statusLineAt, RequestApiNames, type HeadInfo, type RequestLine } from "./http-head.ts";
import { moveRecords } from "./session-records.ts";

const enum State {
  Head,
  Body,
  ChunkSize,
  ChunkData,
  Trailers,
  UntilClose,
  /** Inside a response body whose framing a gap hid: ends at the next status line. */
  BodyLost,
  Desync,
  Opaque,
}

/** Tags of a pending request. */
const HEAD_METHOD = 1;
const CONNECT_METHOD = 2;
const AFTER_GAP = 4;

/** Longest chunk-size or trailer line kept while waiting for its end. */
const MAX_LINE = 4096;

class Side {
  state = State.Head;
  /** Body or chunk bytes still owed (a chunk's includes its CRLF). */
  remaining = 0;
  /** Bytes of the head already searched for its end (resumes the search after a split). */
  scanned = 0;
  /** Whether the current message has begun (its first byte was seen). */
  open = false;
  startNs = 0;
  bytes = 0;
  /** Time of the last read of this side (ends a body that went by an unseen path). */
  lastNs = 0;
  readonly buf: MessageBuffer;
  constructor(
    readonly isResponse: boolean,
    maxBuffered: number,
  ) {
    this.buf = new MessageBuffer(maxBuffered);
  }
}

class HttpSession implements ProtocolSession {
  readonly stats: SessionStats = { resyncs: 0, unansweredDropped: 0, unmatchedResponses: 0 };
  private readonly req: Side;
  private readonly resp: Side;
  private readonly pending: BoundedQueue<L7Record>;
  private readonly done: L7Record[] = [];
  private readonly apis = new RequestApiNames();
  private readonly head: HeadInfo = { status: 0, contentLength: -1, chunked: false, otherCoding: false, bad: false };
  private readonly line: RequestLine = { methodEnd: 0, targetEnd: 0 };
  /** The request whose body is still arriving (its reqBytes grow until it is answered). */
  private bodyOf: L7Record | null = null;
  /** The request the response being parsed answers (null: it answers nothing we saw). */
  private answering: L7Record | null = null;
  private answeringTag = 0;
  /** The response being parsed was already matched (by an interim 1xx head before it). */
  private matched = false;
  /** Responses still owed to requests dropped from a full queue (skipped, in order). */
  private owedToDropped = 0;
  /** The next request parsed follows a request-side gap. */
  private requestGap = false;

  constructor(o: SessionOptions) {
    const maxBuffered = o.maxBuffered ?? 64 * 1024;
    this.req = new Side(false, maxBuffered);
    this.resp = new Side(true, maxBuffered);
    this.pending = new BoundedQueue(o.maxPending ?? 1024);
  }

  request(bytes: Uint8Array, length: number, tsNs: number): void {
    this.feed(this.req, bytes, length, tsNs);
  }

  response(bytes: Uint8Array, length: number, tsNs: number): void {
    this.feed(this.resp, bytes, length, tsNs);
  }

  drain(out: L7Record[]): number {
    return moveRecords(this.done, out);
  }

  private feed(s: Side, bytes: Uint8Array, length: number, ts: number): void {
    if (s.state === State.Opaque) return;
    if (s.state === State.BodyLost) {
      if (!startsMessage(s.isResponse, bytes, false)) {
        if (length === bytes.length && endsWithLastChunk(bytes)) s.state = State.Head;
        return;
      }
      s.state = State.Head;
    } else if (s.state === State.Desync) {
      if (!startsMessage(s.isResponse, bytes, false)) return;
      s.state = State.Head;
      s.open = false;
    } else if (s.state === State.Body && s.buf.length === 0 && startsMessage(s.isResponse, bytes, true)) {
      // The owed body never came through the captured syscalls (sendfile, splice).
      this.stats.resyncs++;
      this.countBody(s, s.remaining);
      this.finish(s, s.lastNs);
    }
    s.lastNs = ts;
    let data = bytes;
    let end = bytes.length;
    if (s.buf.length > 0) {
      if (!s.buf.append(bytes, 0, bytes.length)) return this.desync(s, ts);
      data = s.buf.bytes;
      end = s.buf.length;
    }
    let off = 0;
    while (off < end) {
      const n = this.step(s, data, off, end, ts);
      const now = s.state as State; // step may have changed it
      if (now === State.Desync || now === State.Opaque) return;
      if (n < 0) break;
      off += n;
    }
    if (data === s.buf.bytes) s.buf.consume(off);
    else if (off < end && !s.buf.append(data, off, end)) return this.desync(s, ts);
    const gap = length - bytes.length;
    if (gap > 0) this.skipGap(s, gap, ts);
  }

  /** Consumes one piece of data[off, end) and returns its length, or -1 for "need more". */
  private step(s: Side, data: Uint8Array, off: number, end: number, ts: number): number {
    switch (s.state) {
      case State.Head: {
        if (!s.open) {
          // Empty lines between messages are ignored (RFC 9112 §2.2).
          if (data[off] === CR || data[off] === LF) return 1;
          s.open = true;
          s.startNs = ts;
          s.bytes = 0;
          s.scanned = 0;
        }
        if (s.scanned < 32 && !plausibleStart(s.isResponse, data, off, end)) {
          this.desync(s, ts);
          return -1;
        }
        const headEnd = findHeadEnd(data, off + s.scanned, end, off);
        if (headEnd < 0) {
          s.scanned = end - off;
          if (s.scanned > s.buf.max) this.desync(s, ts);
          return -1;
        }
        s.scanned = 0;
        s.bytes += headEnd - off;
        if (s.isResponse) this.onResponseHead(s, data, off, headEnd, ts);
        else this.onRequestHead(s, data, off, headEnd);
        return headEnd - off;
      }
      case State.Body:
      case State.ChunkData:
      case State.UntilClose: {
        const n = s.state === State.UntilClose ? end - off : Math.min(s.remaining, end - off);
        this.countBody(s, n);
        if (s.state !== State.UntilClose) {
          s.remaining -= n;
          if (s.remaining === 0) {
            if (s.state === State.Body) this.finish(s, ts);
            else s.state = State.ChunkSize;
          }
        }
        return n;
      }
      case State.ChunkSize:
      case State.Trailers: {
        let lf = -1;
        for (let i = off; i < end; i++)
          if (data[i] === LF) {
            lf = i;
            break;
          }
        if (lf < 0) {
          if (end - off > MAX_LINE) this.desync(s, ts);
          return -1;
        }
        this.countBody(s, lf + 1 - off);
        const lineEnd = lf > off && data[lf - 1] === CR ? lf - 1 : lf;
        if (s.state === State.Trailers) {
          if (lineEnd === off) this.finish(s, ts);
          return lf + 1 - off;
        }
        const size = chunkSize(data, off, lineEnd);
        if (size < 0) this.desync(s, ts);
        else if (size === 0) s.state = State.Trailers;
        else {
          s.state = State.ChunkData;
          s.remaining = size + 2;
        }
        return lf + 1 - off;
      }
      default:
        return end - off;
    }
  }

  private countBody(s: Side, n: number): void {
    s.bytes += n;
    if (!s.isResponse && this.bodyOf) this.bodyOf.reqBytes += n;
  }

  private skipGap(s: Side, gap: number, ts: number): void {
    if (s.state === State.UntilClose) return this.countBody(s, gap);
    if ((s.state === State.Body || s.state === State.ChunkData) && s.buf.length === 0) {
      const n = Math.min(gap, s.remaining);
      this.countBody(s, n);
      s.remaining -= n;
      if (s.remaining === 0) {
        if (s.state === State.Body) this.finish(s, ts);
        else s.state = State.ChunkSize;
      }
      if (gap === n) return;
    }
    if (s.state !== State.Desync && s.state !== State.Opaque) this.desync(s, ts);
  }

  private onRequestHead(s: Side, data: Uint8Array, off: number, headEnd: number): void {
    const line = this.line;
    const lineEnd = requestLineAt(data, off, headEnd, line);
    const h = this.head;
    if (lineEnd < 0 || !parseHead(data, lineEnd, headEnd, h) || h.otherCoding) return this.desync(s, s.startNs);
    const api = this.apis.of(data, off, line.methodEnd, line.targetEnd);
    const rec: L7Record = { api, reqStartNs: s.startNs, respEndNs: 0, reqBytes: s.bytes, respBytes: 0, error: ErrorClass.None };
    let tag = 0;
    const methodLen = line.methodEnd - off;
    if (methodLen === 4 && data[off] === 72 /* H */ && data[off + 1] === 69 && data[off + 2] === 65 && data[off + 3] === 68) tag |= HEAD_METHOD;
    if (methodLen === 7 && data[off] === 67 /* C */ && data[off + 1] === 79 && data[off + 2] === 78) tag |= CONNECT_METHOD;
    if (this.requestGap) tag |= AFTER_GAP;
    this.requestGap = false;
    if (this.pending.pushEvictingOldest(rec, tag)) {
      this.stats.unansweredDropped++;
      this.owedToDropped++;
    }
    this.bodyOf = rec;
    this.frameBody(s, h.chunked, h.contentLength, s.startNs);
  }

  private onResponseHead(s: Side, data: Uint8Array, off: number, headEnd: number, ts: number): void {
    const h = this.head;
    const lineEnd = statusLineAt(data, off, headEnd, h);
    if (lineEnd < 0 || !parseHead(data, lineEnd, headEnd, h)) return this.desync(s, ts);
    const status = h.status;
    if (!this.matched) this.match(s.startNs);
    if (status >= 100 && status < 200 && status !== 101) {
      // Interim (100 Continue, 103 Early Hints): the final response to the same request
      // follows as part of the same message (s.open stays set), its bytes count too.
      s.state = State.Head;
      return;
    }
    const rec = this.answering;
    const tag = rec ? this.answeringTag : 0;
    if (rec) rec.error = status >= 500 ? ErrorClass.Server : status >= 400 ? ErrorClass.Client : ErrorClass.None;
    const opaque = status === 101 || ((tag & CONNECT_METHOD) !== 0 && status >= 200 && status < 300);
    if (opaque || (tag & HEAD_METHOD) !== 0 || status === 204 || status === 304) {
      this.finish(s, ts);
      if (opaque) this.req.state = this.resp.state = State.Opaque;
      return;
    }
    if (h.chunked || h.contentLength >= 0) return this.frameBody(s, h.chunked, h.contentLength, ts);
    // Delimited by the connection's close, which the contract does not report: count it now.
    this.finish(s, ts);
    s.state = State.UntilClose;
  }

  /** Takes the request the response starting at `startNs` answers. */
  private match(startNs: number): void {
    this.answering = null;
    this.answeringTag = 0;
    this.matched = true;
    if (this.pending.size === 0) {
      if (this.owedToDropped > 0) this.owedToDropped--;
      else this.stats.unmatchedResponses++;
      return;
    }
    if (this.owedToDropped > 0) {
      this.owedToDropped--;
      return;
    }
    let tag = this.pending.peekTag();
    // After a request-side gap, responses that began before the next request we saw
    // answer requests lost in the gap: they match nothing.
    if ((tag & AFTER_GAP) !== 0) {
      if (startNs < this.pending.peek()!.reqStartNs) {
        this.stats.unmatchedResponses++;
        return;
      }
      tag &= ~AFTER_GAP;
    }
    this.answering = this.pending.shift()!;
    this.answeringTag = tag;
  }

  private frameBody(s: Side, chunked: boolean, contentLength: number, ts: number): void {
    if (chunked) s.state = State.ChunkSize;
    else if (contentLength > 0) {
      s.state = State.Body;
      s.remaining = contentLength;
    } else this.finish(s, ts);
  }

  /** The current message of side `s` ended with bytes carried by the syscall at `ts`. */
  private finish(s: Side, ts: number): void {
    s.state = State.Head;
    s.open = false;
    s.remaining = 0;
    if (!s.isResponse) {
      this.bodyOf = null;
      return;
    }
    const rec = this.answering;
    if (rec) {
      rec.respEndNs = ts;
      rec.respBytes = s.bytes;
      this.done.push(rec);
      if (rec === this.bodyOf) this.bodyOf = null;
    }
    this.answering = null;
    this.answeringTag = 0;
    this.matched = false;
  }

  /** Side `s` lost the message boundaries at `ts`: skip to a recognisable start line. */
  private desync(s: Side, ts: number): void {
    this.stats.resyncs++;
    const inBody = s.state === State.ChunkSize || s.state === State.ChunkData || s.state === State.Trailers || s.state === State.Body;
    if (s.isResponse && inBody && this.answering) {
      // The status is known: the response is counted now, its latency ending at this read.
      // Responses come one after another, so what follows is its body up to the next
      // status line (or a final "0" chunk seen whole).
      this.finish(s, ts);
      s.state = State.BodyLost;
      s.buf.clear();
      return;
    }
    s.state = State.Desync;
    s.buf.clear();
    s.open = false;
    s.remaining = 0;
    if (!s.isResponse) {
      this.bodyOf = null;
      this.requestGap = true;
      return;
    }
    // The response in progress and those lost with it answered requests sent before `ts`.
    if (this.answering) this.stats.unansweredDropped++;
    if (this.answering === this.bodyOf) this.bodyOf = null;
    this.answering = null;
    this.answeringTag = 0;
    this.matched = false;
    while (this.pending.size > 0 && this.pending.peek()!.reqStartNs < ts) {
      this.pending.shift();
      this.stats.unansweredDropped++;
    }
  }

}
export const httpParser: ProtocolParser = {
  name: "http",
  detect: detectHttp,
  session: (o: SessionOptions) => new HttpSession(o),
};

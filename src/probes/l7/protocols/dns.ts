// DNS over UDP (one message per chunk: the tracker hands over one chunk per datagram) and
// over TCP (each message after a 2-byte length, split over reads or several in one read,
// RFC 1035 §4.2.2). Responses are paired with requests by message id and question (name,
// type, class), so glibc's parallel A and AAAA queries on one socket (different ids) and
// queries from several clients to one server socket pair correctly; a response whose id
// and question match no request counts in stats.unmatchedResponses.
//
// API: the queried name, lower-cased, without the trailing dot ("." for the root); bytes
// outside printable ASCII (and "." or "\" inside a label) as \DDD.
// Errors: a non-zero response code (EDNS extended codes included when the OPT record was
// captured). SERVFAIL (2) and NOTIMP (4) are the server's failures (server_err_count);
// every other code — FORMERR (1, the query was malformed), NXDOMAIN (3, the name does not
// exist, like HTTP 404), REFUSED (5, policy, like HTTP 403), the UPDATE codes 6-10, BADVERS
// and the TSIG/cookie codes — is the client's (client_err_count). A truncated response (TC)
// with code 0 is an answered request without error (the client repeats the query over TCP,
// counted as a request of its own there).
//
// Memory: over TCP a message's length is known, so the first maxBuffered bytes of a longer
// one are kept and the rest stepped over (no resync); a UDP datagram is read in place.
//
// Detection: a standard query (opcode QUERY, one question, no answers, Z clear, a known
// class) or its response (QR set), the whole question within the first bytes; over TCP after
// a length of at least 17. UPDATE/NOTIFY messages are parsed in a session but never claim one.
import { ErrorClass, Looks, type L7Record, type ProtocolParser, type ProtocolSession, type SessionOptions, type SessionStats, type Transport } from "../protocol.ts";
import { fullRcode, HEADER, NameMatcher, readHeader, readName, skipName, zClear, type DnsHeader } from "./dns-message.ts";
import { LengthPrefixedFramer } from "./length-prefixed-framer.ts";
import { u16be } from "./bytes.ts";
import { moveRecords } from "./session-records.ts";

/** The question (name, type, class) takes at least the root name's byte and 4 more. */
const MIN_QUERY = HEADER + 5;
const QUERY = 0;

export function dnsErrorClass(rcode: number): ErrorClass {
  if (rcode === 0) return ErrorClass.None;
  return rcode === 2 || rcode === 4 ? ErrorClass.Server : ErrorClass.Client;
}

const KNOWN_CLASSES = new Set([1, 3, 4, 254, 255]);

function emptyHeader(): DnsHeader {
  return { id: 0, qr: false, opcode: 0, tc: false, rcode: 0, qdcount: 0, ancount: 0, nscount: 0, arcount: 0 };
}

/** Whether a whole DNS message at `off` looks like a standard query or its response. */
function looksLikeDns(b: Uint8Array, off: number, end: number, h: DnsHeader): Looks {
  if (!readHeader(b, off, end, h) || h.opcode !== QUERY || !zClear(b, off) || h.qdcount !== 1) return Looks.No;
  if (!h.qr && (h.rcode !== 0 || h.ancount !== 0 || h.nscount !== 0 || h.arcount > 2 || h.tc)) return Looks.No;
  const next = { pos: 0 };
  if (readName(b, off, off + HEADER, end, next) === undefined || next.pos + 4 > end) return Looks.No;
  if (!KNOWN_CLASSES.has(u16be(b, next.pos + 2))) return Looks.No;
  return h.qr ? Looks.Response : Looks.Request;
}

/** Removes one element in place (splice would allocate the removed part). */
function removeAt<T>(a: T[], i: number): void {
  for (let j = i + 1; j < a.length; j++) a[j - 1] = a[j]!;
  a.length--;
}

/** Unanswered queries, oldest first (plain arrays growing up to maxPending). */
interface Pending {
  id: number[];
  name: string[];
  typeClass: number[];
  start: number[];
  bytes: number[];
}

class DnsSession implements ProtocolSession {
  readonly stats: SessionStats = { resyncs: 0, unansweredDropped: 0, unmatchedResponses: 0 };
  private readonly done: L7Record[] = [];
  private readonly pending: Pending = { id: [], name: [], typeClass: [], start: [], bytes: [] };
  private readonly header = emptyHeader();
  private readonly next = { pos: 0 };
  private readonly names = new NameMatcher();
  private readonly maxPending: number;
  private readonly requests?: LengthPrefixedFramer;
  private readonly responses?: LengthPrefixedFramer;

  constructor(o: SessionOptions) {
    this.maxPending = Math.max(1, o.maxPending ?? 1024);
    if (o.transport === "tcp") {
      const headCap = Math.max(HEADER + 2, Math.min(o.maxBuffered ?? 64 * 1024, 65537));
      const sizeOk = (size: number) => size >= HEADER;
      this.requests = new LengthPrefixedFramer(2, headCap, {
        sizeOk,
        canStart: (b) => looksLikeDns(b, 2, b.length, this.header) === Looks.Request,
        frame: (head, headLen, total, startNs) => this.query(head, 2, headLen, total, startNs),
      }, this.stats);
      this.responses = new LengthPrefixedFramer(2, headCap, {
        sizeOk,
        canStart: (b) => looksLikeDns(b, 2, b.length, this.header) === Looks.Response,
        frame: (head, headLen, total, _startNs, endNs) => this.answer(head, 2, headLen, total, endNs),
      }, this.stats);
    }
  }

  request(bytes: Uint8Array, length: number, tsNs: number): void {
    if (this.requests) this.requests.push(bytes, length, tsNs);
    else this.query(bytes, 0, bytes.length, length, tsNs);
  }

  response(bytes: Uint8Array, length: number, tsNs: number): void {
    if (this.responses) this.responses.push(bytes, length, tsNs);
    else this.answer(bytes, 0, bytes.length, length, tsNs);
  }

  drain(out: L7Record[]): number {
    return moveRecords(this.done, out);
  }

  /** A query message at `off` (after the TCP length prefix) whose captured bytes end at `end`. */
  private query(b: Uint8Array, off: number, end: number, total: number, startNs: number): void {
    const h = this.header;
    const name = readHeader(b, off, end, h) && !h.qr && h.qdcount > 0 ? readName(b, off, off + HEADER, end, this.next) : undefined;
    if (name === undefined || this.next.pos + 4 > end) {
      this.stats.resyncs++;
      return;
    }
    const p = this.pending;
    if (p.id.length >= this.maxPending) {
      this.removeAt(0);
      this.stats.unansweredDropped++;
    }
    p.id.push(h.id);
    p.name.push(name);
    p.typeClass.push(u16be(b, this.next.pos) * 65536 + u16be(b, this.next.pos + 2));
    p.start.push(startNs);
    p.bytes.push(total);
  }

  private answer(b: Uint8Array, off: number, end: number, total: number, endNs: number): void {
    const h = this.header;
    if (!readHeader(b, off, end, h) || !h.qr) {
      this.stats.unmatchedResponses++;
      return;
    }
    // The question's end without following pointers; its name is compared, not built.
    const questionEnd = h.qdcount > 0 ? skipName(b, off + HEADER, end) : -1;
    const withQuestion = questionEnd >= 0 && questionEnd + 4 <= end;
    const typeClass = withQuestion ? u16be(b, questionEnd) * 65536 + u16be(b, questionEnd + 2) : -1;
    const at = this.find(b, off, end, h.id, typeClass);
    if (at < 0) {
      this.stats.unmatchedResponses++;
      return;
    }
    const afterQuestion = withQuestion ? questionEnd + 4 : -1;
    const p = this.pending;
    const rcode = afterQuestion >= 0 && h.qdcount === 1 ? fullRcode(b, h, afterQuestion, end) : h.rcode;
    this.done.push({
      api: p.name[at]!,
      reqStartNs: p.start[at]!,
      respEndNs: endNs,
      reqBytes: p.bytes[at]!,
      respBytes: total,
      error: dnsErrorClass(rcode),
    });
    this.removeAt(at);
  }

  /** The oldest pending query with this id (and question, when the response carries one). */
  private find(b: Uint8Array, msg: number, end: number, id: number, typeClass: number): number {
    const p = this.pending;
    for (let i = 0; i < p.id.length; i++) {
      if (p.id[i] !== id) continue;
      if (typeClass >= 0 && (p.typeClass[i] !== typeClass || !this.names.matches(b, msg, msg + HEADER, end, p.name[i]!))) continue;
      return i;
    }
    return -1;
  }

  private removeAt(i: number): void {
    const p = this.pending;
    removeAt(p.id, i);
    removeAt(p.name, i);
    removeAt(p.typeClass, i);
    removeAt(p.start, i);
    removeAt(p.bytes, i);
  }
}

export const dnsParser: ProtocolParser = {
  name: "dns",
  detect(first: Uint8Array, transport: Transport): Looks {
    if (transport === "udp") return looksLikeDns(first, 0, first.length, emptyHeader());
    if (first.length < 2 || u16be(first, 0) < MIN_QUERY) return Looks.No;
    return looksLikeDns(first, 2, Math.min(first.length, 2 + u16be(first, 0)), emptyHeader());
  },
  session(options: SessionOptions): ProtocolSession {
    return new DnsSession(options);
  },
};

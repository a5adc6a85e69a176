// PostgreSQL frontend/backend protocol v3 (https://www.postgresql.org/docs/current/protocol.html).
//
// What counts as a request (one L7Record each):
// - a simple query ('Q'), answered when its ReadyForQuery ('Z') arrives: several statements in
//   one 'Q' are one request, under the first statement's verb; COPY … FROM STDIN data the client
//   streams inside it belongs to it;
// - an Execute ('E') of the extended protocol, answered by its CommandComplete, EmptyQueryResponse
//   or PortalSuspended, and counted under the verb of the statement its portal was bound to
//   (tracked from Parse and Bind; "EXECUTE" when the Parse was not seen). Its request bytes and
//   start are those of the Parse/Bind/Describe messages that led to it. So psql 16's `\bind`,
//   pgbench -M extended|prepared, pgx and libpq pipeline mode count one request per statement
//   run;
// - a Sync segment that holds no Execute (PQprepare: Parse [Describe] Sync; a lone Describe or
//   Close), answered by the segment's ReadyForQuery, under "PREPARE" (it held a Parse),
//   "DESCRIBE", "CLOSE" or "BIND".
// Upstream gala-gopher records Parse, Bind, Describe and Execute separately (four "requests"
// per statement); this parser counts statements, as a user counting queries does.
// Not requests: the startup packet, SSLRequest/GSSENCRequest (and the one-byte answer),
// CancelRequest, authentication (AuthenticationXXX, PasswordMessage, SASL exchanges),
// ParameterStatus, BackendKeyData, the ReadyForQuery that ends the startup, Flush, Sync,
// Terminate, NoticeResponse and NotificationResponse.
// Errors: an ErrorResponse fails the request it answers, classed by its SQLSTATE (sqlStateClass:
// 42 syntax/access, 22 data, 23 constraint, 28 authorization … are the client's, the rest the
// server's). After an error the server skips the segment's remaining messages up to Sync: the
// Executes it skipped (pipeline mode) fail with the same class when the segment's ReadyForQuery
// arrives, as libpq reports them aborted to the application.
// Pipeline mode: any number of Executes and Syncs in flight, answered in order.
// COPY: CopyData/CopyDone/CopyFail from the client count as bytes of the COPY's Query; the
// server's CopyInResponse/CopyOutResponse/CopyData as bytes of its answer.
// Capture gaps: message lengths step over gaps inside messages; a gap that hides headers loses
// the framing until a read starts with plausible messages (sql-frames.ts); a request whose
// answer went by in a gap ends when the client sends its next request (answeredInGap).
import { ErrorClass, Looks } from "../protocol.ts";
import type { ProtocolParser, ProtocolSession, SessionOptions, Transport } from "../protocol.ts";
import { PgBackendReader, PgFrontendReader, type PgMessageSink } from "./pgsql-readers.ts";
import { SqlSession } from "./sql-session.ts";
import { VerbTable, sqlStateClass } from "./sql-verb.ts";
import { PgNames, cstringEnd, startupCode, StartupCode } from "./pgsql-wire.ts";
import { u24be, u32be } from "./bytes.ts";

const enum Kind {
  Query,
  Execute,
  Sync,
}

class PgEntry {
  kind = Kind.Query;
  api = "";
  startNs = 0;
  reqBytes = 0;
  respBytes = 0;
  error = ErrorClass.None;
  /** A Sync that closes a segment without an Execute: it is itself a request. */
  counted = false;
  /** An Execute the server will skip (an error came first): it ends with the segment's ReadyForQuery. */
  aborted = false;
}

/** The extended-protocol messages sent since the last Execute or Sync. */
class OpenGroup {
  messages = 0;
  startNs = 0;
  reqBytes = 0;
  respBytes = 0;
  error = ErrorClass.None;
  parse = false;
  describe = false;
  close = false;
  reset(): void {
    this.messages = this.reqBytes = this.respBytes = 0;
    this.error = ErrorClass.None;
    this.parse = this.describe = this.close = false;
  }
}

class PgsqlSession extends SqlSession<PgEntry> implements PgMessageSink {
  private readonly group = new OpenGroup();
  private readonly verbs = new VerbTable();
  private readonly names = new PgNames();
  private segmentHasExecute = false;
  /** The class of the error that aborted the current segment (pipeline), None when not aborted. */
  private abortedBy = ErrorClass.None;
  private startupDone = false;
  /** A capture gap hid part of what the server sent since the last ReadyForQuery seen. */
  private serverLost = false;
  protected readonly client: PgFrontendReader;
  protected readonly server: PgBackendReader;

  constructor(options: SessionOptions) {
    super(options, () => new PgEntry());
    this.client = new PgFrontendReader(this, this.prefixLimit);
    this.server = new PgBackendReader(this, this.prefixLimit);
  }

  expectEncryptionAnswer(): void {
    this.server.oneByteAnswer = true;
  }

  frontendMessage(tag: number, total: number, prefix: Uint8Array, seen: number, startNs: number): void {
    const g = this.group;
    if (this.serverLost && (tag === 0x51 || tag === 0x46 || (g.messages === 0 && (tag === 0x50 || tag === 0x42 || tag === 0x45 || tag === 0x53)))) this.answeredInGap();
    switch (tag) {
      case 0x51: {
        // 'Q' Query: its text up to the NUL.
        const end = cstringEnd(prefix, 0, seen);
        this.push(Kind.Query, this.verbs.verb(prefix, 0, end < 0 ? seen : end, end >= 0), startNs, total);
        return;
      }
      case 0x50: {
        // 'P' Parse: statement name, query text.
        const nameEnd = cstringEnd(prefix, 0, seen);
        if (nameEnd >= 0) {
          const end = cstringEnd(prefix, nameEnd + 1, seen);
          this.names.prepared(prefix, 0, nameEnd, this.verbs.verb(prefix, nameEnd + 1, end < 0 ? seen : end, end >= 0));
        }
        this.addToGroup(startNs, total);
        g.parse = true;
        return;
      }
      case 0x42: {
        // 'B' Bind: portal name, statement name.
        const portalEnd = cstringEnd(prefix, 0, seen);
        const statementEnd = portalEnd < 0 ? -1 : cstringEnd(prefix, portalEnd + 1, seen);
        if (statementEnd >= 0) this.names.bound(prefix, 0, portalEnd, portalEnd + 1, statementEnd);
        this.addToGroup(startNs, total);
        return;
      }
      case 0x45: {
        // 'E' Execute: portal name.
        const portalEnd = cstringEnd(prefix, 0, seen);
        const api = portalEnd < 0 ? "EXECUTE" : this.names.portalVerb(prefix, 0, portalEnd);
        this.addToGroup(startNs, total);
        const e = this.push(Kind.Execute, api, g.startNs, g.reqBytes);
        e.respBytes = g.respBytes;
        if (g.error !== ErrorClass.None) {
          e.error = g.error;
          e.aborted = true;
        }
        g.reset();
        this.segmentHasExecute = true;
        return;
      }
      case 0x53: {
        // 'S' Sync: closes the segment; a segment without an Execute is a request of its own.
        this.addToGroup(startNs, total);
        const counted = !this.segmentHasExecute && g.messages > 1;
        const api = g.parse ? "PREPARE" : g.describe ? "DESCRIBE" : g.close ? "CLOSE" : "BIND";
        const e = this.push(Kind.Sync, counted ? api : "", g.startNs, g.reqBytes);
        e.counted = counted;
        e.respBytes = g.respBytes;
        e.error = g.error;
        g.reset();
        this.segmentHasExecute = false;
        return;
      }
      case 0x44: // 'D' Describe
        this.addToGroup(startNs, total);
        g.describe = true;
        return;
      case 0x43: // 'C' Close
        this.addToGroup(startNs, total);
        g.close = true;
        return;
      case 0x48: // 'H' Flush
        this.addToGroup(startNs, total);
        return;
      case 0x46: // 'F' FunctionCall: answered like a simple query, up to ReadyForQuery.
        this.push(Kind.Query, "FUNCTION_CALL", startNs, total);
        return;
      case 0x64: // 'd' CopyData, 'c' CopyDone, 'f' CopyFail: part of the COPY request in progress.
      case 0x63:
      case 0x66: {
        const last = this.pending.last();
        if (last) last.reqBytes += total;
        return;
      }
      default:
        // 'p' password / SASL, 'X' Terminate: not requests.
        return;
    }
  }

  backendMessage(tag: number, total: number, prefix: Uint8Array, seen: number, endNs: number): void {
    const head = this.pending.at(0);
    if (!head) {
      if (this.group.messages > 0) {
        // Answers to a Flush before the Execute or Sync that will carry them.
        this.group.respBytes += total;
        if (tag === 0x45 && this.group.error === ErrorClass.None) this.group.error = this.errorClass(prefix, seen);
      } else if (tag === 0x5a) {
        if (this.startupDone) this.counters.unmatchedResponses++;
        this.startupDone = true;
      } else if (this.startupDone && (tag === 0x43 || tag === 0x49)) this.counters.unmatchedResponses++;
      return;
    }
    head.respBytes += total;
    switch (tag) {
      case 0x43: // 'C' CommandComplete, 'I' EmptyQueryResponse, 's' PortalSuspended: an Execute's end.
      case 0x49:
      case 0x73:
        if (head.kind === Kind.Execute && !head.aborted) this.complete(head, endNs);
        return;
      case 0x45: {
        // 'E' ErrorResponse.
        const cls = this.errorClass(prefix, seen);
        if (head.kind === Kind.Execute && !head.aborted) {
          head.error = cls;
          this.abortedBy = cls;
          this.complete(head, endNs);
        } else if (head.error === ErrorClass.None) {
          head.error = cls;
          if (head.kind === Kind.Sync) this.abortedBy = cls;
        }
        return;
      }
      case 0x5a: // 'Z' ReadyForQuery: ends a simple query or a Sync segment.
        this.startupDone = true;
        this.serverLost = false;
        this.readyForQuery(endNs);
        return;
      default:
        return;
    }
  }

  private readyForQuery(endNs: number): void {
    for (let head = this.pending.at(0); head; head = this.pending.at(0)) {
      if (head.kind === Kind.Execute) {
        // Skipped after an error in its segment (or its answer went by in a capture gap).
        if (head.error === ErrorClass.None) head.error = this.abortedBy;
        this.complete(head, endNs);
        continue;
      }
      if (head.kind === Kind.Query || head.counted) this.complete(head, endNs);
      else this.pending.shift();
      break;
    }
    this.abortedBy = ErrorClass.None;
  }

  framingLost(client: boolean): void {
    if (client) {
      this.group.reset();
      this.segmentHasExecute = false;
    } else this.serverLost = true;
  }

  /**
   * The client starts a new request while a capture gap hid the end of the server's answers:
   * a client that waits for its answers (all but pipelining ones) got them in the gap, so
   * the pending requests the server sent bytes after end at the last server bytes seen,
   * without an error seen (the gap hid what the answer said). A
   * pipelining client may not have had them all: then later answers pair one request late
   * (latency, not counts, is off; nothing is invented).
   */
  private answeredInGap(): void {
    // Only requests the server sent bytes after (their answer went by in the gap) end here.
    for (let head = this.pending.at(0); head && head.startNs <= this.lastServerNs; head = this.pending.at(0)) {
      if (head.kind === Kind.Sync && !head.counted) this.pending.shift();
      else this.complete(head, this.lastServerNs);
    }
    // Until the server's framing is back the next answers may go unseen too.
    this.serverLost = !this.server.inStep;
    this.abortedBy = ErrorClass.None;
  }

  private errorClass(prefix: Uint8Array, seen: number): ErrorClass {
    // Fields: a type byte and a NUL-terminated value each; 'C' is the SQLSTATE.
    let i = 0;
    while (i < seen && prefix[i] !== 0) {
      const type = prefix[i]!;
      const end = cstringEnd(prefix, i + 1, seen);
      if (type === 0x43 && (end < 0 ? seen : end) - (i + 1) >= 2) return sqlStateClass(prefix[i + 1]!, prefix[i + 2]!);
      if (end < 0) break;
      i = end + 1;
    }
    return ErrorClass.Server;
  }

  private addToGroup(startNs: number, total: number): void {
    const g = this.group;
    if (g.messages++ === 0) g.startNs = startNs;
    g.reqBytes += total;
  }

  private push(kind: Kind, api: string, startNs: number, reqBytes: number): PgEntry {
    const e = this.pending.push();
    e.kind = kind;
    e.api = api;
    e.startNs = startNs;
    e.reqBytes = reqBytes;
    e.respBytes = 0;
    e.error = ErrorClass.None;
    e.counted = false;
    e.aborted = false;
    return e;
  }

  /** Emits the oldest entry (which `e` is) as a record. */
  private complete(e: PgEntry, endNs: number): void {
    this.done.push({ api: e.api, reqStartNs: e.startNs, respEndNs: endNs, reqBytes: e.reqBytes, respBytes: e.respBytes, error: e.error });
    this.pending.shift();
  }
}

export const pgsqlParser: ProtocolParser = {
  name: "pgsql",
  detect(first: Uint8Array, transport: Transport): Looks {
    if (transport !== "tcp" || first.length < 8) return Looks.No;
    const tag = first[0]!;
    if (tag === 0) {
      const len = u24be(first, 1);
      const code = startupCode(first, 4);
      // A StartupMessage's parameters start with a lower-case name ("user", "database", "_pq_.…").
      if (code === StartupCode.Startup) return len > 8 && len <= 10000 && (first.length < 9 || (first[8]! >= 0x61 && first[8]! <= 0x7a) || first[8] === 0x5f) ? Looks.Request : Looks.No;
      if (code === StartupCode.SslRequest || code === StartupCode.GssEncRequest) return len === 8 ? Looks.Request : Looks.No;
      return code === StartupCode.Cancel && len === 16 ? Looks.Request : Looks.No;
    }
    const len = u32be(first, 1);
    if (first[1] !== 0 || len < 4) return Looks.No;
    if (tag === 0x51) return len > 5 && isSqlText(first[5]!) ? Looks.Request : Looks.No; // 'Q'
    if (tag === 0x50) return len > 7 && (first[5] === 0 || isSqlText(first[5]!)) ? Looks.Request : Looks.No; // 'P'
    if (tag === 0x52) return len >= 8 && first[2] === 0 && first[5] === 0 && first[6] === 0 && first[7] === 0 ? Looks.Response : Looks.No; // 'R' auth
    if (tag === 0x45) return first[2] === 0 && first[5] === 0x53 ? Looks.Response : Looks.No; // 'E' with its Severity field first
    return Looks.No;
  },
  session(options: SessionOptions): ProtocolSession {
    return new PgsqlSession(options);
  },
};

/** Printable ASCII or whitespace: the first byte of SQL text. */
function isSqlText(c: number): boolean {
  return (c >= 0x20 && c < 0x7f) || c === 0x09 || c === 0x0a || c === 0x0d;
}

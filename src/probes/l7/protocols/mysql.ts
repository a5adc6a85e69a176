// MySQL / MariaDB client/server protocol (packets: 3-byte little-endian length, sequence id).
//
// What counts as a request (one L7Record each): every command the client sends in the
// command phase, i.e. every client packet with sequence id 0 — COM_QUERY (under its SQL verb),
// COM_STMT_PREPARE ("COM_STMT_PREPARE"), COM_STMT_EXECUTE (under the verb of the statement it
// runs, learnt from the prepare's query and the statement id the server gave it;
// "COM_STMT_EXECUTE" when the prepare was not seen), COM_PING, COM_INIT_DB, COM_STMT_RESET …
// under their COM_ names. COM_QUIT, COM_STMT_CLOSE and COM_STMT_SEND_LONG_DATA get no answer:
// they are counted at once with `noResponse` and latency 0.
// Not requests: the handshake. The server greets first (sequence 0, never answered), and the
// client's HandshakeResponse, SSLRequest, auth-switch and auth-more-data packets all carry
// sequence ids ≥ 1, as do the server's answers to them; so packets with sequence ids ≥ 1
// never start a request (the client's are LOCAL INFILE data or COM_CHANGE_USER's auth
// exchange, or the rest of a 16 MiB packet, and count as that command's bytes). The client's
// HandshakeResponse gives the capability flags (CLIENT_DEPRECATE_EOF).
// Answers: OK, ERR, EOF, result sets (column count, column definitions — which MariaDB skips
// when the client caches them, MARIADB_CLIENT_CACHE_METADATA — an EOF unless
// CLIENT_DEPRECATE_EOF, rows, an EOF or OK terminator; more result sets while the status says
// SERVER_MORE_RESULTS_EXISTS), LOCAL INFILE requests, prepare answers (statement id, parameter
// and column definitions), split over reads and over 16 MiB continuation packets.
// Errors: an ERR packet fails the command it answers, classed by its SQLSTATE (sqlStateClass:
// 42 syntax/access, 23 duplicate/constraint, 22 data, 28 access denied, 3D no database … are
// the client's; HY000 and the rest the server's). An ERR during the handshake is not counted.
// The compressed protocol is not parsed: a connection whose HandshakeResponse asks for
// CLIENT_COMPRESS yields no records (its frames would read as nonsense commands).
import { ErrorClass, Looks } from "../protocol.ts";
import type { ProtocolParser, ProtocolSession, SessionOptions, Transport } from "../protocol.ts";
import { Answer, answerOf, Cmd, CLIENT_COMPRESS, CLIENT_DEPRECATE_EOF, COMMAND_NAMES, CURSOR_EXISTS, lenencSize, lenencValue, MAX_PACKET, MORE_RESULTS, statusFlags } from "./mysql-wire.ts";
import { MysqlPacketReader, type MysqlPacketSink } from "./mysql-reader.ts";
import { SqlSession } from "./sql-session.ts";
import { VerbTable, sqlStateClass } from "./sql-verb.ts";
import { i32le, u24le, u32le } from "./bytes.ts";

const enum State {
  Start,
  ColumnDefs,
  AfterColumnDefs,
  Rows,
  PrepareParams,
  AfterPrepareParams,
  PrepareColumns,
  AfterPrepareColumns,
}

class MyEntry {
  cmd = 0;
  answer = Answer.Status;
  api = "";
  /** COM_STMT_PREPARE: the verb of the statement, given to the id the server answers with. */
  verb = "";
  startNs = 0;
  reqBytes = 0;
  respBytes = 0;
  error = ErrorClass.None;
  state = State.Start;
  left = 0;
  columnsAfter = 0;
}

const MAX_STATEMENTS = 1024;

class MysqlSession extends SqlSession<MyEntry> implements MysqlPacketSink {
  private readonly verbs = new VerbTable();
  private readonly statements = new Map<number, string>();
  protected readonly client: MysqlPacketReader;
  protected readonly server: MysqlPacketReader;
  /** CLIENT_DEPRECATE_EOF from the HandshakeResponse; undefined when the handshake was not seen. */
  private deprecateEof: boolean | undefined;
  private commandPhase = false;
  private clientContinues = false;
  private serverContinues = false;
  /** An EOF that may close a prepare answer completed before it (capabilities unknown). */
  private strayEofAllowed = false;
  private serverLost = false;
  private replicationStream = false;
  /** CLIENT_COMPRESS was agreed: the commands are inside compressed frames, not parsed. */
  private compressed = false;

  constructor(options: SessionOptions) {
    super(options, () => new MyEntry());
    this.client = new MysqlPacketReader(this, true, this.prefixLimit);
    this.server = new MysqlPacketReader(this, false, this.prefixLimit);
  }

  clientPacket(seq: number, payload: number, total: number, p: Uint8Array, seen: number, startNs: number): void {
    if (this.compressed) return;
    const continued = this.clientContinues;
    this.clientContinues = payload === MAX_PACKET;
    if (continued || seq !== 0 || seen === 0) {
      const last = this.pending.last();
      if (last && this.commandPhase) last.reqBytes += total;
      else if (!this.commandPhase && (seq === 1 || seq === 2) && seen >= 4) {
        // HandshakeResponse41 (or the SSLRequest before it): capability flags first.
        const caps = i32le(p, 0);
        this.deprecateEof = (caps & CLIENT_DEPRECATE_EOF) !== 0;
        this.compressed = (caps & CLIENT_COMPRESS) !== 0;
      }
      return;
    }
    this.commandPhase = true;
    if (this.serverLost) this.answeredInGap();
    const cmd = p[0]!;
    const answer = answerOf(cmd);
    let api: string;
    let verb = "";
    if (cmd === Cmd.Query) api = this.verbs.verb(p, 1, seen, seen === payload);
    else if (cmd === Cmd.StmtPrepare) {
      api = "COM_STMT_PREPARE";
      verb = this.verbs.verb(p, 1, seen, seen === payload);
    } else if ((cmd === Cmd.StmtExecute || cmd === Cmd.StmtBulkExecute) && seen >= 5) api = this.statements.get(statementId(p)) ?? COMMAND_NAMES.get(cmd)!;
    else {
      api = COMMAND_NAMES.get(cmd) ?? "COM_UNKNOWN";
      if (cmd === Cmd.StmtClose && seen >= 5) this.statements.delete(statementId(p));
    }
    if (cmd === Cmd.BinlogDump || cmd === Cmd.BinlogDumpGtid) this.replicationStream = true;
    if (answer === Answer.None) {
      this.done.push({ api, reqStartNs: startNs, respEndNs: startNs, reqBytes: total, respBytes: 0, error: ErrorClass.None, noResponse: true });
      return;
    }
    const e = this.pending.push();
    e.cmd = cmd;
    e.answer = answer;
    e.api = api;
    e.verb = verb;
    e.startNs = startNs;
    e.reqBytes = total;
    e.respBytes = 0;
    e.error = ErrorClass.None;
    e.state = answer === Answer.Rows ? State.Rows : State.Start;
    e.left = e.columnsAfter = 0;
  }

  serverPacket(seq: number, payload: number, total: number, p: Uint8Array, seen: number, endNs: number): void {
    if (this.compressed) return;
    const head = this.pending.at(0);
    if (this.serverContinues) {
      this.serverContinues = payload === MAX_PACKET;
      if (head) head.respBytes += total;
      return;
    }
    this.serverContinues = payload === MAX_PACKET;
    const b = seen > 0 ? p[0]! : -1;
    const isEof = b === 0xfe && payload === 5;
    if (this.strayEofAllowed) {
      this.strayEofAllowed = false;
      if (isEof && seq !== 1) return;
    }
    if (!head) {
      // A replica's binlog stream is events, not answers.
      if (this.commandPhase && !this.replicationStream) this.counters.unmatchedResponses++;
      return;
    }
    head.respBytes += total;
    if (b === 0xff && (head.state === State.Start || head.state === State.Rows || head.state === State.AfterColumnDefs)) {
      head.error = seen >= 6 && p[3] === 0x23 /* # */ ? sqlStateClass(p[4]!, p[5]!) : ErrorClass.Server;
      this.complete(endNs);
      return;
    }
    switch (head.state) {
      case State.Start:
        this.start(head, b, p, seen, payload, endNs);
        return;
      case State.ColumnDefs:
        if (--head.left === 0) head.state = this.deprecateEof ? State.Rows : State.AfterColumnDefs;
        return;
      case State.AfterColumnDefs:
        if (isEof) {
          const flags = statusFlags(p, seen, payload);
          // A cursor was opened: the rows come with COM_STMT_FETCH.
          if (head.cmd === Cmd.StmtExecute && flags >= 0 && (flags & CURSOR_EXISTS) !== 0) this.complete(endNs);
          else head.state = State.Rows;
          return;
        }
        head.state = State.Rows; // CLIENT_DEPRECATE_EOF: this is already a row or the terminator
        this.rows(head, b, p, seen, payload, endNs);
        return;
      case State.Rows:
        this.rows(head, b, p, seen, payload, endNs);
        return;
      case State.PrepareParams:
      case State.PrepareColumns:
        if (--head.left === 0) this.definitionsDone(head, endNs);
        return;
      case State.AfterPrepareParams:
        if (isEof) {
          this.startPrepareColumns(head, endNs);
          return;
        }
        // No EOF (CLIENT_DEPRECATE_EOF): this is the first column definition.
        head.state = State.PrepareColumns;
        head.left = head.columnsAfter - 1;
        if (head.left <= 0) this.definitionsDone(head, endNs);
        return;
      case State.AfterPrepareColumns:
        this.complete(endNs); // the EOF after the column definitions
        return;
    }
  }

  private start(head: MyEntry, b: number, p: Uint8Array, seen: number, payload: number, endNs: number): void {
    switch (head.answer) {
      case Answer.Auth:
        if (b === 0x00) this.complete(endNs); // 0xFE auth switch, 0x01 more data: the exchange goes on
        return;
      case Answer.Fields:
        if (b === 0xfe && payload < 9) this.complete(endNs);
        return;
      case Answer.Prepare: {
        if (b !== 0x00 || seen < 9) {
          this.complete(endNs);
          return;
        }
        const params = p[7]! | (p[8]! << 8);
        const columns = p[5]! | (p[6]! << 8);
        if (head.verb !== "") {
          if (this.statements.size >= MAX_STATEMENTS) this.statements.clear();
          this.statements.set(statementId(p), head.verb);
        }
        head.columnsAfter = columns;
        if (params > 0) {
          head.state = State.PrepareParams;
          head.left = params;
        } else if (columns > 0) {
          head.state = State.PrepareColumns;
          head.left = columns;
          head.columnsAfter = 0;
        } else this.complete(endNs);
        return;
      }
      case Answer.ResultSet:
        if (b === 0x00 || b === 0xfe) {
          const flags = statusFlags(p, seen, payload);
          if (flags < 0 || (flags & MORE_RESULTS) === 0) this.complete(endNs);
        } else if (b !== 0xfb && seen > 0) {
          // 0xFB is a LOCAL INFILE request: the client sends the file, then OK or ERR ends it.
          head.state = State.ColumnDefs;
          head.left = lenencValue(p, 0);
          // MariaDB's MARIADB_CLIENT_CACHE_METADATA adds a "metadata follows" byte: 0 = the
          // client has the column definitions already (a re-executed prepared statement).
          const size = lenencSize(p[0]!);
          if (head.left === 0 || (payload === size + 1 && seen > size && p[size] === 0)) head.state = State.AfterColumnDefs;
        }
        return;
      default:
        this.complete(endNs);
    }
  }

  private rows(head: MyEntry, b: number, p: Uint8Array, seen: number, payload: number, endNs: number): void {
    if (b !== 0xfe || payload >= MAX_PACKET) return; // a row
    const flags = statusFlags(p, seen, payload);
    if (flags >= 0 && (flags & MORE_RESULTS) !== 0 && head.answer === Answer.ResultSet) head.state = State.Start;
    else this.complete(endNs);
  }

  /** The last parameter or column definition of a prepare answer went by. */
  private definitionsDone(head: MyEntry, endNs: number): void {
    const params = head.state === State.PrepareParams;
    if (this.deprecateEof === false) {
      head.state = params ? State.AfterPrepareParams : State.AfterPrepareColumns;
      return;
    }
    if (params && head.columnsAfter > 0) {
      head.state = State.AfterPrepareParams;
      return;
    }
    this.complete(endNs);
    // Capabilities unknown: an EOF may still follow; it is not the next command's answer.
    if (this.deprecateEof === undefined) this.strayEofAllowed = true;
  }

  private startPrepareColumns(head: MyEntry, endNs: number): void {
    if (head.columnsAfter === 0) {
      this.complete(endNs);
      return;
    }
    head.state = State.PrepareColumns;
    head.left = head.columnsAfter;
    head.columnsAfter = 0;
  }

  private complete(endNs: number): void {
    const e = this.pending.at(0)!;
    this.done.push({ api: e.api, reqStartNs: e.startNs, respEndNs: endNs, reqBytes: e.reqBytes, respBytes: e.respBytes, error: e.error });
    this.pending.shift();
  }

  /** A new command while a capture gap hid the end of the server's answers (see pgsql.ts). */
  private answeredInGap(): void {
    // Only commands the server sent bytes after (their answer went by in the gap) end here.
    for (let head = this.pending.at(0); head && head.startNs <= this.lastServerNs; head = this.pending.at(0)) this.complete(this.lastServerNs);
    // Until the server's framing is back the next answers may go unseen too.
    this.serverLost = !this.server.inStep;
    this.serverContinues = false;
  }

  framingLost(client: boolean): void {
    if (client) this.clientContinues = false;
    else this.serverLost = true;
  }
}

const statementId = (p: Uint8Array) => u32le(p, 1);

export const mysqlParser: ProtocolParser = {
  name: "mysql",
  detect(first: Uint8Array, transport: Transport): Looks {
    if (transport !== "tcp" || first.length < 5) return Looks.No;
    const len = u24le(first, 0);
    const seq = first[3]!;
    const b = first[4]!;
    if (seq === 0 && b === 0x0a && len >= 30 && (first.length < 6 || (first[5]! >= 0x30 && first[5]! <= 0x39))) return Looks.Response; // greeting: protocol 10, "5.5.5-10…" / "8.0…"
    if (seq !== 0 || len === 0 || !COMMAND_NAMES.has(b)) return Looks.No;
    switch (b) {
      case Cmd.Query:
      case Cmd.StmtPrepare:
        return len >= 2 && (first.length < 6 || isSqlStart(first[5]!)) ? Looks.Request : Looks.No;
      case Cmd.Quit:
      case 0x0e: // COM_PING
      case Cmd.Statistics:
        return len === 1 ? Looks.Request : Looks.No;
      case Cmd.StmtExecute:
        return len >= 10 ? Looks.Request : Looks.No;
      case Cmd.StmtClose:
        return len === 5 ? Looks.Request : Looks.No;
      case Cmd.InitDb:
        return len >= 2 && (first.length < 6 || isSqlStart(first[5]!)) ? Looks.Request : Looks.No;
      default:
        return Looks.No;
    }
  },
  session(options: SessionOptions): ProtocolSession {
    return new MysqlSession(options);
  },
};

/** Printable ASCII or whitespace: how SQL text (or a database name) starts. */
function isSqlStart(c: number): boolean {
  return (c >= 0x20 && c < 0x7f) || c === 0x09 || c === 0x0a || c === 0x0d;
}

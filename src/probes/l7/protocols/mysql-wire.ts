// MySQL/MariaDB client/server protocol details the session needs: command bytes and names,
// how each command is answered, and the few fields read from OK/EOF/ERR packets.
import { u24le } from "./bytes.ts";

/** COM_* command bytes with their API names (used when the command carries no SQL). */
export const COMMAND_NAMES: ReadonlyMap<number, string> = new Map([
  [0x01, "COM_QUIT"],
  [0x02, "COM_INIT_DB"],
  [0x03, "COM_QUERY"],
  [0x04, "COM_FIELD_LIST"],
  [0x05, "COM_CREATE_DB"],
  [0x06, "COM_DROP_DB"],
  [0x07, "COM_REFRESH"],
  [0x08, "COM_SHUTDOWN"],
  [0x09, "COM_STATISTICS"],
  [0x0a, "COM_PROCESS_INFO"],
  [0x0c, "COM_PROCESS_KILL"],
  [0x0d, "COM_DEBUG"],
  [0x0e, "COM_PING"],
  [0x11, "COM_CHANGE_USER"],
  [0x12, "COM_BINLOG_DUMP"],
  [0x14, "COM_TABLE_DUMP"],
  [0x15, "COM_REGISTER_SLAVE"],
  [0x16, "COM_STMT_PREPARE"],
  [0x17, "COM_STMT_EXECUTE"],
  [0x18, "COM_STMT_SEND_LONG_DATA"],
  [0x19, "COM_STMT_CLOSE"],
  [0x1a, "COM_STMT_RESET"],
  [0x1b, "COM_SET_OPTION"],
  [0x1c, "COM_STMT_FETCH"],
  [0x1e, "COM_BINLOG_DUMP_GTID"],
  [0x1f, "COM_RESET_CONNECTION"],
  [0xfa, "COM_STMT_BULK_EXECUTE"],
]);

export const enum Cmd {
  Quit = 0x01,
  InitDb = 0x02,
  Query = 0x03,
  FieldList = 0x04,
  Statistics = 0x09,
  ProcessInfo = 0x0a,
  ChangeUser = 0x11,
  BinlogDump = 0x12,
  BinlogDumpGtid = 0x1e,
  StmtPrepare = 0x16,
  StmtExecute = 0x17,
  StmtSendLongData = 0x18,
  StmtClose = 0x19,
  StmtFetch = 0x1c,
  StmtBulkExecute = 0xfa,
}

/** How a command is answered. */
export const enum Answer {
  /** Nothing (COM_QUIT, COM_STMT_CLOSE, COM_STMT_SEND_LONG_DATA): counted at once, latency 0. */
  None,
  /** One OK, ERR or EOF packet. */
  Status,
  /** OK, ERR, LOCAL INFILE, or result sets (COM_QUERY, COM_STMT_EXECUTE, COM_PROCESS_INFO). */
  ResultSet,
  /** Rows and a terminator (COM_STMT_FETCH). */
  Rows,
  /** ERR, or OK with statement id, then parameter and column definitions. */
  Prepare,
  /** Column definitions up to EOF, or ERR (COM_FIELD_LIST). */
  Fields,
  /** Any one packet (COM_STATISTICS answers with a bare string). */
  AnyPacket,
  /** An authentication exchange that ends with OK or ERR (COM_CHANGE_USER). */
  Auth,
}

export function answerOf(cmd: number): Answer {
  switch (cmd) {
    case Cmd.Quit:
    case Cmd.StmtClose:
    case Cmd.StmtSendLongData:
    case Cmd.BinlogDump: // a replication stream follows, not answers
    case Cmd.BinlogDumpGtid:
      return Answer.None;
    case Cmd.Query:
    case Cmd.StmtExecute:
    case Cmd.StmtBulkExecute:
    case Cmd.ProcessInfo:
      return Answer.ResultSet;
    case Cmd.StmtFetch:
      return Answer.Rows;
    case Cmd.StmtPrepare:
      return Answer.Prepare;
    case Cmd.FieldList:
      return Answer.Fields;
    case Cmd.Statistics:
      return Answer.AnyPacket;
    case Cmd.ChangeUser:
      return Answer.Auth;
    default:
      return Answer.Status;
  }
}

/** CLIENT_DEPRECATE_EOF: result sets end with an OK packet (0xFE header) and have no EOF after the column definitions. */
export const CLIENT_DEPRECATE_EOF = 1 << 24;
export const CLIENT_SSL = 0x800;
export const CLIENT_COMPRESS = 0x20;
/** SERVER_MORE_RESULTS_EXISTS in OK/EOF status flags: another result set follows. */
export const MORE_RESULTS = 0x0008;
/** SERVER_STATUS_CURSOR_EXISTS: a COM_STMT_EXECUTE opened a cursor; rows come with COM_STMT_FETCH. */
export const CURSOR_EXISTS = 0x0040;
/** A packet of this payload length is continued by the next packet (payloads of 16 MiB and more). */
export const MAX_PACKET = 0xffffff;

/** Bytes of a length-encoded integer that starts with `first`. */
export function lenencSize(first: number): number {
  return first < 0xfb ? 1 : first === 0xfc ? 3 : first === 0xfd ? 4 : first === 0xfe ? 9 : 1;
}

/** Value of the length-encoded integer at `bytes[at]` (exact below 2^53). */
export function lenencValue(bytes: Uint8Array, at: number): number {
  const first = bytes[at]!;
  if (first < 0xfb) return first;
  if (first === 0xfc) return bytes[at + 1]! | (bytes[at + 2]! << 8);
  if (first === 0xfd) return u24le(bytes, at + 1);
  let v = 0;
  for (let k = 8; k >= 1; k--) v = v * 256 + bytes[at + k]!;
  return v;
}

/** Status flags of an OK (0x00/0xFE header, OK layout) or EOF (0xFE, 5 bytes) packet in `p[0, seen)`, -1 when cut. */
export function statusFlags(p: Uint8Array, seen: number, payload: number): number {
  if (p[0] === 0xfe && payload === 5) return seen >= 5 ? p[3]! | (p[4]! << 8) : -1;
  let at = 1;
  if (at >= seen) return -1;
  at += lenencSize(p[at]!);
  if (at >= seen) return -1;
  at += lenencSize(p[at]!);
  return at + 2 <= seen ? p[at]! | (p[at + 1]! << 8) : -1;
}

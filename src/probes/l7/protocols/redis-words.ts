// The Redis words the session acts on: command kinds that change how replies pair, the
// first element of pub/sub replies, server-side error codes, subcommand containers, and
// what the first bytes of a connection must look like to be claimed as Redis.
import { Looks } from "../protocol.ts";
import { CR, LF, lowerAscii, parseSignedDecimal } from "./bytes.ts";
import { KEEP_ARG, type CommandFramer } from "./redis-command.ts";
import type { ReplyFramer } from "./redis-reply.ts";

export const enum Kind {
  Other = 0,
  Subscribe = 1,
  Psubscribe = 2,
  Ssubscribe = 3,
  Unsubscribe = 4,
  Punsubscribe = 5,
  Sunsubscribe = 6,
  Message = 7,
  ClientReplyOff = 8,
  ClientReplySkip = 9,
  ClientReplyOn = 10,
  Monitor = 11,
  Reset = 12,
}

const SUBSCRIBE_WORDS = ["subscribe", "psubscribe", "ssubscribe", "unsubscribe", "punsubscribe", "sunsubscribe"];

function argIs(c: CommandFramer, i: number, lower: string): boolean {
  if (c.argLen[i] !== lower.length || c.keptLen[i] !== lower.length) return false;
  for (let k = 0; k < lower.length; k++) if (lowerAscii(c.kept[i * KEEP_ARG + k]!) !== lower.charCodeAt(k)) return false;
  return true;
}

/** What the command just framed does to the pairing of replies. */
export function commandKind(c: CommandFramer): Kind {
  const len = c.argLen[0]!;
  if (len < 5 || len > 12) return Kind.Other;
  for (let i = 0; i < SUBSCRIBE_WORDS.length; i++) if (argIs(c, 0, SUBSCRIBE_WORDS[i]!)) return (i + 1) as Kind;
  if (argIs(c, 0, "monitor")) return Kind.Monitor;
  if (argIs(c, 0, "reset")) return Kind.Reset;
  if (c.argc === 3 && argIs(c, 0, "client") && argIs(c, 1, "reply")) {
    if (argIs(c, 2, "off")) return Kind.ClientReplyOff;
    if (argIs(c, 2, "skip")) return Kind.ClientReplySkip;
    if (argIs(c, 2, "on")) return Kind.ClientReplyOn;
  }
  return Kind.Other;
}

/** What a top-level array / push reply is, by its first element. */
export function replyKind(r: ReplyFramer): Kind {
  for (let i = 0; i < SUBSCRIBE_WORDS.length; i++) if (r.keptIs(SUBSCRIBE_WORDS[i]!)) return (i + 1) as Kind;
  if (r.keptIs("message") || r.keptIs("pmessage") || r.keptIs("smessage")) return Kind.Message;
  return Kind.Other;
}

/** Error codes (lower-cased) of a server that cannot serve a well-formed command right now. */
export const SERVER_ERROR_CODES = ["oom", "loading", "busy", "masterdown", "misconf", "tryagain", "clusterdown", "noreplicas"];

/** Commands whose first argument is a subcommand naming a different operation. */
export const SUBCOMMAND_CONTAINERS = new Set([
  "ACL", "CLIENT", "CLUSTER", "COMMAND", "CONFIG", "DEBUG", "FUNCTION", "LATENCY", "MEMORY",
  "MODULE", "OBJECT", "PUBSUB", "SCRIPT", "SLOWLOG", "XGROUP", "XINFO",
]);

/** Commands accepted as the start of an inline command by detection (upper case). */
const INLINE_COMMANDS = new Set([
  "PING", "ECHO", "AUTH", "HELLO", "SELECT", "QUIT", "INFO", "DBSIZE", "FLUSHDB", "FLUSHALL", "KEYS", "SCAN",
  "GET", "SET", "SETEX", "SETNX", "MGET", "MSET", "DEL", "UNLINK", "EXISTS", "EXPIRE", "TTL", "PTTL", "TYPE",
  "INCR", "DECR", "INCRBY", "DECRBY", "APPEND", "STRLEN", "GETSET", "LPUSH", "RPUSH", "LPOP", "RPOP", "LRANGE",
  "LLEN", "LINDEX", "SADD", "SREM", "SMEMBERS", "SISMEMBER", "SCARD", "SPOP", "HSET", "HGET", "HMSET", "HMGET",
  "HGETALL", "HDEL", "HINCRBY", "ZADD", "ZRANGE", "ZREM", "ZSCORE", "ZCARD", "ZINCRBY", "PUBLISH", "SUBSCRIBE",
  "PSUBSCRIBE", "UNSUBSCRIBE", "MULTI", "EXEC", "DISCARD", "WATCH", "CONFIG", "CLIENT", "COMMAND", "MONITOR",
  "SAVE", "BGSAVE", "LASTSAVE", "TIME", "XADD", "XRANGE", "XREAD", "XLEN", "EVAL", "EVALSHA", "SCRIPT", "RESET",
]);

function lineEnd(b: Uint8Array, from: number): number {
  const lf = b.indexOf(LF, from);
  if (lf < 0) return -1;
  return lf > from && b[lf - 1] === CR ? lf - 1 : lf;
}

/** A RESP array of bulk strings ("*<n>\r\n$") or an inline command line whose first word is
 *  a Redis command and that is not an HTTP request line ("GET / HTTP/1.1"). */
export function looksLikeCommand(b: Uint8Array): Looks {
  if (b.length === 0) return Looks.No;
  if (b[0] === 42) {
    const le = lineEnd(b, 0);
    if (le < 0 || parseSignedDecimal(b, 1, le) < 1) return Looks.No;
    const next = b[le] === CR ? le + 2 : le + 1;
    return b[next] === 36 ? Looks.Request : Looks.No;
  }
  const le = lineEnd(b, 0);
  if (le < 0) return Looks.No;
  let w = 0;
  let word = "";
  while (w < le && w < 12 && ((b[w]! >= 65 && b[w]! <= 90) || (b[w]! >= 97 && b[w]! <= 122))) word += String.fromCharCode(b[w++]! & 0xdf);
  if (w === 0 || (w < le && b[w] !== 32) || !INLINE_COMMANDS.has(word)) return Looks.No;
  // an HTTP request line ends with " HTTP/1.x"
  if (le >= 9 && b[le - 9] === 32 && b[le - 8] === 72 && b[le - 7] === 84 && b[le - 6] === 84 && b[le - 5] === 80 && b[le - 4] === 47) return Looks.No;
  return Looks.Request;
}

/** A complete, well-formed first reply line. */
export function looksLikeReply(b: Uint8Array): boolean {
  const le = lineEnd(b, 0);
  if (le < 1) return false;
  const t = b[0];
  switch (t) {
    case 43: // +
    case 45: {
      // - (an error starts with a code: a letter)
      if (t === 45 && !(le > 1 && b[1]! >= 65 && b[1]! <= 90)) return false;
      for (let i = 1; i < le; i++) if (b[i]! < 32 || b[i] === 127) return false;
      return true;
    }
    case 58: // :
    case 40: // (
      return !Number.isNaN(parseSignedDecimal(b, 1, le));
    case 36: // $
    case 33: // !
    case 61: // =
    case 42: // *
    case 126: // ~
    case 62: // >
    case 37: // %
    case 124: // |
      return parseSignedDecimal(b, 1, le) >= -1;
    case 95: // _
      return le === 1;
    case 35: // #
      return le === 2 && (b[1] === 116 || b[1] === 102);
    case 44: // ,
      return le > 1;
    default:
      return false;
  }
}

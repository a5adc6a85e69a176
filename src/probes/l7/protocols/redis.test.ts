import { describe, expect, test } from "bun:test";
import { ErrorClass, Looks } from "../protocol.ts";
import { redisParser } from "./redis.ts";
import { drained, send } from "./test-session.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const session = (o: { maxPending?: number; maxBuffered?: number } = {}) => redisParser.session({ transport: "tcp", ...o });
const resp = (...args: string[]) => `*${args.length}\r\n` + args.map((a) => `$${enc(a).length}\r\n${a}\r\n`).join("");

describe("redis detect", () => {
  test("RESP commands and inline commands, replies; not HTTP, not udp", () => {
    expect(redisParser.detect(enc(resp("SET", "k", "v")), "tcp")).toBe(Looks.Request);
    expect(redisParser.detect(enc("PING\r\n"), "tcp")).toBe(Looks.Request);
    expect(redisParser.detect(enc("get key\r\n"), "tcp")).toBe(Looks.Request);
    expect(redisParser.detect(enc("+OK\r\n"), "tcp")).toBe(Looks.Response);
    expect(redisParser.detect(enc("-ERR unknown command\r\n"), "tcp")).toBe(Looks.Response);
    expect(redisParser.detect(enc(":1000\r\n"), "tcp")).toBe(Looks.Response);
    expect(redisParser.detect(enc("$-1\r\n"), "tcp")).toBe(Looks.Response);
    expect(redisParser.detect(enc("%1\r\n+a\r\n:1\r\n"), "tcp")).toBe(Looks.Response);
    expect(redisParser.detect(enc("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), "tcp")).toBe(Looks.No);
    expect(redisParser.detect(enc("HTTP/1.1 200 OK\r\n"), "tcp")).toBe(Looks.No);
    expect(redisParser.detect(enc("HELO mail.example.org\r\n"), "tcp")).toBe(Looks.No);
    expect(redisParser.detect(enc("PING\r\n"), "udp")).toBe(Looks.No);
    expect(redisParser.detect(enc("*"), "tcp")).toBe(Looks.No);
    expect(redisParser.detect(new Uint8Array([0x4a, 0, 0, 0, 10, 0x38]), "tcp")).toBe(Looks.No);
  });
});

describe("redis session", () => {
  test("a SET and its +OK: API, latency, bytes", () => {
    const s = session();
    const cmd = resp("set", "key", "value");
    send(s, "req", cmd, 100);
    send(s, "resp", "+OK\r\n", 250);
    expect(drained(s)).toEqual([{ api: "SET", reqStartNs: 100, respEndNs: 250, reqBytes: cmd.length, respBytes: 5, error: ErrorClass.None }]);
  });

  test("1000 pipelined commands split at every byte and at odd sizes are all paired in order", () => {
    let cmds = "";
    let replies = "";
    for (let i = 0; i < 1000; i++) {
      cmds += i % 3 === 0 ? `INCR counter:${i}\r\n` : resp("SET", `key:${i}`, "x".repeat(i % 50));
      replies += i % 3 === 0 ? `:${i}\r\n` : "+OK\r\n";
    }
    for (const split of [0, 1, 7, 4096]) {
      const s = session();
      send(s, "req", cmds, 1, split);
      send(s, "resp", replies, 2, split);
      const r = drained(s);
      expect(r.length).toBe(1000);
      expect(r.filter((x) => x.api === "INCR").length).toBe(334);
      expect(r.reduce((a, x) => a + x.reqBytes, 0)).toBe(cmds.length);
      expect(r.reduce((a, x) => a + x.respBytes, 0)).toBe(replies.length);
      expect(s.stats).toEqual({ resyncs: 0, unansweredDropped: 0, unmatchedResponses: 0 });
    }
  });

  test("replies of every type, nested, RESP3 maps, sets and attributes", () => {
    const replies = [
      "+OK\r\n",
      "-ERR unknown command 'FOO'\r\n",
      ":-42\r\n",
      "$5\r\nhello\r\n",
      "$-1\r\n",
      "*-1\r\n",
      "*0\r\n",
      "*3\r\n:1\r\n*2\r\n$1\r\na\r\n*1\r\n+b\r\n$0\r\n\r\n",
      "%2\r\n+first\r\n:1\r\n+second\r\n*2\r\n_\r\n#t\r\n",
      "~2\r\n,3.14\r\n(3492890328409238509324850943850943825024385\r\n",
      "|1\r\n+key-popularity\r\n*2\r\n$1\r\na\r\n,0.19\r\n*2\r\n:2039123\r\n:9543892\r\n",
      "=15\r\ntxt:Some string\r\n",
      "!21\r\nSYNTAX invalid syntax\r\n",
      "_\r\n",
    ];
    for (const split of [0, 1, 3]) {
      const s = session();
      for (let i = 0; i < replies.length; i++) send(s, "req", resp("CMD" + i), i);
      send(s, "resp", replies.join(""), 100, split);
      const r = drained(s);
      expect(r.map((x) => x.respBytes)).toEqual(replies.map((x) => x.length));
      expect(r.map((x) => x.error)).toEqual(replies.map((x) => (x.startsWith("-") || x.startsWith("!") ? ErrorClass.Client : ErrorClass.None)));
    }
  });

  test("error classes: server conditions are server errors, the rest client errors", () => {
    const s = session();
    const errors = ["-ERR wrong number of arguments\r\n", "-WRONGTYPE Operation\r\n", "-NOAUTH Authentication required.\r\n", "-OOM command not allowed\r\n", "-LOADING Redis is loading\r\n", "-BUSYKEY Target key name already exists.\r\n", "-MOVED 3999 127.0.0.1:6381\r\n", "-BUSY Redis is busy running a script\r\n"];
    send(s, "req", "GET k\r\n".repeat(errors.length), 1);
    send(s, "resp", errors.join(""), 2);
    expect(drained(s).map((x) => x.error)).toEqual([ErrorClass.Client, ErrorClass.Client, ErrorClass.Client, ErrorClass.Server, ErrorClass.Server, ErrorClass.Client, ErrorClass.Client, ErrorClass.Server]);
  });

  test("two-word APIs for subcommand containers; inline commands; empty lines are no command", () => {
    const s = session();
    send(s, "req", resp("client", "setname", "app") + resp("CONFIG", "get", "save") + resp("GET", "client") + "\r\n\r\nclient  list\r\n" + resp("CLIENT", "x y") + resp("*0") + "*0\r\n", 1);
    send(s, "resp", "+OK\r\n*0\r\n$-1\r\n$0\r\n\r\n-ERR unknown subcommand\r\n-ERR unknown command\r\n", 2);
    expect(drained(s).map((x) => x.api)).toEqual(["CLIENT SETNAME", "CONFIG GET", "GET", "CLIENT LIST", "CLIENT", "*0"]);
  });

  test("a big value only partly captured is stepped over exactly, on both sides", () => {
    const s = session();
    const head = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100000\r\n";
    send(s, "req", head + "xxxx", 1, 0, head.length + 100002);
    send(s, "req", resp("GET", "k"), 2);
    send(s, "resp", "+OK\r\n", 3);
    send(s, "resp", "$100000\r\nxx", 4, 0, 9 + 100002);
    expect(drained(s).map((x) => [x.api, x.reqBytes, x.respBytes])).toEqual([
      ["SET", head.length + 100002, 5],
      ["GET", resp("GET", "k").length, 9 + 100002],
    ]);
    expect(s.stats.resyncs).toBe(0);
  });

  test("CLIENT REPLY OFF / SKIP / ON: silent commands are counted without a response, never paired", () => {
    const s = session();
    send(s, "req", resp("CLIENT", "REPLY", "SKIP") + resp("SET", "a", "1") + resp("GET", "a") + resp("CLIENT", "REPLY", "OFF") + resp("SET", "b", "2") + resp("CLIENT", "REPLY", "ON") + resp("PING"), 1);
    send(s, "resp", "$1\r\n1\r\n+OK\r\n+PONG\r\n", 2);
    const r = drained(s);
    expect(r.map((x) => [x.api, x.noResponse ?? false])).toEqual([
      ["CLIENT REPLY", true],
      ["SET", true],
      ["CLIENT REPLY", true],
      ["SET", true],
      ["GET", false],
      ["CLIENT REPLY", false],
      ["PING", false],
    ]);
    expect(r.find((x) => x.noResponse)!.respEndNs).toBe(1);
    expect(s.stats.unmatchedResponses).toBe(0);
  });

  test("RESP2 pub/sub: one record per SUBSCRIBE at its last confirmation, messages are not responses", () => {
    const s = session();
    send(s, "req", resp("SUBSCRIBE", "a", "b"), 1);
    send(s, "resp", resp("subscribe", "a").replace("*2", "*3") + ":1\r\n", 2);
    send(s, "resp", "*3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n", 3);
    send(s, "resp", resp("message", "a", "hello"), 4);
    send(s, "req", resp("PING"), 5);
    send(s, "resp", resp("message", "b", "world") + resp("pong", ""), 6);
    send(s, "req", resp("UNSUBSCRIBE"), 7);
    send(s, "resp", "*3\r\n$11\r\nunsubscribe\r\n$1\r\na\r\n:1\r\n", 8);
    send(s, "resp", "*3\r\n$11\r\nunsubscribe\r\n$1\r\nb\r\n:0\r\n", 9);
    // out of pub/sub mode, an array starting with "message" is an ordinary reply
    send(s, "req", resp("LRANGE", "l", "0", "-1"), 10);
    send(s, "resp", resp("message", "x"), 11);
    expect(drained(s).map((x) => [x.api, x.respEndNs])).toEqual([
      ["SUBSCRIBE", 3],
      ["PING", 6],
      ["UNSUBSCRIBE", 8],
      ["LRANGE", 11],
    ]);
    expect(s.stats.unmatchedResponses).toBe(0);
  });

  test("RESP3: push messages are not responses, confirmations in pushes answer SUBSCRIBE", () => {
    const s = session();
    send(s, "req", resp("HELLO", "3"), 1);
    send(s, "resp", "%1\r\n+server\r\n+redis\r\n", 2);
    send(s, "req", resp("SUBSCRIBE", "ch"), 3);
    send(s, "resp", ">3\r\n+subscribe\r\n+ch\r\n:1\r\n", 4);
    send(s, "req", resp("GET", "k"), 5);
    send(s, "resp", ">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n>2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n" + resp("message", "not a push"), 6);
    expect(drained(s).map((x) => [x.api, x.respEndNs])).toEqual([
      ["HELLO", 2],
      ["SUBSCRIBE", 4],
      ["GET", 6],
    ]);
  });

  test("MONITOR: after its +OK the stream is not responses, RESET ends it", () => {
    const s = session();
    send(s, "req", resp("MONITOR"), 1);
    send(s, "resp", "+OK\r\n", 2);
    send(s, "resp", '+1700000000.000000 [0 127.0.0.1:5000] "GET" "k"\r\n', 3);
    send(s, "req", resp("RESET"), 4);
    send(s, "resp", '+1700000000.1 [0 127.0.0.1:5000] "SET" "k" "v"\r\n+RESET\r\n', 5);
    send(s, "req", resp("PING"), 6);
    send(s, "resp", "+PONG\r\n", 7);
    expect(drained(s).map((x) => [x.api, x.respEndNs])).toEqual([
      ["MONITOR", 2],
      ["RESET", 5],
      ["PING", 7],
    ]);
  });

  test("gaps between commands lose only what they hide; replies that began before the next seen command match nothing", () => {
    const s = session();
    const first = resp("SET", "a", "1");
    send(s, "req", first, 1, 0, first.length + resp("SET", "b", "2").length);
    send(s, "resp", "+OK\r\n+OK\r\n", 2);
    send(s, "req", resp("GET", "a"), 3);
    send(s, "resp", "$1\r\n1\r\n", 4);
    expect(drained(s).map((x) => x.api)).toEqual(["SET", "GET"]);
    expect(s.stats).toEqual({ resyncs: 1, unansweredDropped: 0, unmatchedResponses: 1 });
  });

  test("garbage replies resynchronise, dropping the commands they answered", () => {
    const s = session();
    send(s, "req", resp("GET", "a"), 1);
    send(s, "resp", "\x00\x01garbage\r\n", 2);
    send(s, "resp", "more garbage", 3);
    send(s, "req", resp("GET", "b"), 4);
    send(s, "resp", "$1\r\nb\r\n", 5);
    expect(drained(s).map((x) => [x.api, x.reqStartNs])).toEqual([["GET", 4]]);
    expect(s.stats).toEqual({ resyncs: 1, unansweredDropped: 1, unmatchedResponses: 0 });
  });

  test("a reply whose framing a gap hides answers the oldest command, counted at that read", () => {
    const s = session();
    send(s, "req", resp("COMMAND", "DOCS") + resp("PING"), 1);
    const start = "*2\r\n$3\r\nget\r\n*4\r\n$7\r\nsummary\r\n";
    send(s, "resp", start, 2, 0, start.length + 9000); // nested elements hidden in the gap
    send(s, "resp", "$5\r\nhello\r\n", 3); // looks like a reply, is the rest of the same one
    send(s, "req", resp("GET", "k"), 4);
    send(s, "resp", "$-1\r\n", 5);
    expect(drained(s).map((x) => [x.api, x.respEndNs])).toEqual([
      ["COMMAND DOCS", 2],
      ["GET", 5],
    ]);
    expect(s.stats.unansweredDropped).toBe(1); // the PING, whose reply was lost in the gap
  });

  test("a full pending queue drops the oldest command and skips its reply", () => {
    const s = session({ maxPending: 2 });
    send(s, "req", "PING\r\nECHO a\r\nECHO b\r\n", 1);
    send(s, "resp", "+PONG\r\n$1\r\na\r\n$1\r\nb\r\n", 2);
    expect(drained(s).map((x) => [x.api, x.respBytes])).toEqual([
      ["ECHO", 7],
      ["ECHO", 7],
    ]);
    expect(s.stats.unansweredDropped).toBe(1);
  });
});

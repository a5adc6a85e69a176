import { describe, expect, test } from "bun:test";
import { ErrorClass, Looks } from "../protocol.ts";
import { httpParser } from "./http.ts";
import { drained, send } from "./test-session.ts";

const enc = (s: string) => new TextEncoder().encode(s);

const session = (o: { maxPending?: number; maxBuffered?: number } = {}) => httpParser.session({ transport: "tcp", ...o });
const ok = (body: string, extra = "") => `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n${extra}\r\n${body}`;

describe("http detect", () => {
  test("request lines of every method, responses, and not Redis inline commands", () => {
    for (const m of ["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "TRACE", "PROPFIND", "PURGE"])
      expect(httpParser.detect(enc(`${m} /x?y=1 HTTP/1.1\r\nHost: a\r\n\r\n`), "tcp")).toBe(Looks.Request);
    expect(httpParser.detect(enc("CONNECT example.org:443 HTTP/1.1\r\n"), "tcp")).toBe(Looks.Request);
    expect(httpParser.detect(enc("GET /index.html HTTP/1."), "tcp")).toBe(Looks.Request);
    expect(httpParser.detect(enc("HTTP/1.1 404 Not Found\r\n"), "tcp")).toBe(Looks.Response);
    expect(httpParser.detect(enc("HTTP/1.0 200 OK\r\n\r\n"), "tcp")).toBe(Looks.Response);
    // Redis inline commands and RESP, HTTP/2 preface, udp, prefixes too short to tell
    expect(httpParser.detect(enc("GET /key\r\n"), "tcp")).toBe(Looks.No);
    expect(httpParser.detect(enc("GET key\r\n"), "tcp")).toBe(Looks.No);
    expect(httpParser.detect(enc("SET a b\r\n"), "tcp")).toBe(Looks.No);
    expect(httpParser.detect(enc("*1\r\n$4\r\nPING\r\n"), "tcp")).toBe(Looks.No);
    expect(httpParser.detect(enc("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), "tcp")).toBe(Looks.No);
    expect(httpParser.detect(enc("GET / HTTP/1.1\r\n\r\n"), "udp")).toBe(Looks.No);
    expect(httpParser.detect(enc("G"), "tcp")).toBe(Looks.No);
    expect(httpParser.detect(enc("GET /a"), "tcp")).toBe(Looks.No);
    expect(httpParser.detect(enc("HTTP/"), "tcp")).toBe(Looks.No);
  });
});

describe("http session", () => {
  test("a GET and its 200: API without the query string, latency, bytes", () => {
    const s = session();
    const req = "GET /a/b?q=1#f HTTP/1.1\r\nHost: x\r\n\r\n";
    send(s, "req", req, 1000);
    expect(drained(s)).toEqual([]);
    const resp = ok("hello");
    send(s, "resp", resp, 5000);
    expect(drained(s)).toEqual([{ api: "GET /a/b", reqStartNs: 1000, respEndNs: 5000, reqBytes: req.length, respBytes: resp.length, error: ErrorClass.None }]);
    expect(s.stats).toEqual({ resyncs: 0, unansweredDropped: 0, unmatchedResponses: 0 });
  });

  test("heads and bodies split at every byte: start and end times come from the first and last reads", () => {
    const s = session();
    const req = "POST /upload HTTP/1.1\r\nContent-Length: 11\r\nHost: x\r\n\r\nhello world";
    const b = enc(req);
    for (let i = 0; i < b.length; i++) s.request(b.subarray(i, i + 1), 1, 100 + i);
    const resp = enc(ok("done", "Server: t\r\n"));
    for (let i = 0; i < resp.length; i++) s.response(resp.subarray(i, i + 1), 1, 1000 + i);
    expect(drained(s)).toEqual([{ api: "POST /upload", reqStartNs: 100, respEndNs: 1000 + resp.length - 1, reqBytes: b.length, respBytes: resp.length, error: ErrorClass.None }]);
  });

  test("a Content-Length body only partly captured is stepped over exactly", () => {
    const s = session();
    send(s, "req", "GET /big HTTP/1.1\r\n\r\n", 1);
    const head = "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n";
    // one read: the head plus 10 body bytes captured, 99990 more not captured
    send(s, "resp", head + "0123456789", 2, 0, head.length + 100000);
    send(s, "req", "GET /next HTTP/1.1\r\n\r\n", 3);
    send(s, "resp", ok("x"), 4);
    const r = drained(s);
    expect(r.map((x) => [x.api, x.respBytes, x.respEndNs])).toEqual([
      ["GET /big", head.length + 100000, 2],
      ["GET /next", ok("x").length, 4],
    ]);
    expect(s.stats.resyncs).toBe(0);
  });

  test("a gap that spans the end of a body and the next head: the first response ends there, the next is lost, parsing resumes at the next status line", () => {
    const s = session();
    send(s, "req", "GET /1 HTTP/1.1\r\n\r\n", 1);
    send(s, "req", "GET /2 HTTP/1.1\r\n\r\n", 2);
    const head = "HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n";
    send(s, "resp", head, 3, 0, head.length + 50 + 60); // body + 60 bytes of the next response unseen
    send(s, "resp", "tail of the second response", 4);
    send(s, "req", "GET /3 HTTP/1.1\r\n\r\n", 5);
    send(s, "resp", ok("3"), 6);
    expect(drained(s).map((x) => x.api)).toEqual(["GET /1", "GET /3"]);
    expect(s.stats.resyncs).toBe(1);
    expect(s.stats.unansweredDropped).toBe(1);
  });

  test("chunked bodies: sizes split over reads, extensions, trailers", () => {
    const body = "4;ext=1\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nExpires: never\r\n\r\n";
    const resp = `HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n${body}`;
    for (const split of [0, 1, 2, 3, 7]) {
      const s = session();
      send(s, "req", "GET /c HTTP/1.1\r\n\r\n", 1);
      send(s, "resp", resp, 2, split);
      send(s, "req", "GET /d HTTP/1.1\r\n\r\n", 3);
      const second = "HTTP/1.1 200 OK\r\ntransfer-encoding: CHUNKED\r\n\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n\r\n";
      send(s, "resp", second, 4, split);
      const r = drained(s);
      expect(r.map((x) => [x.api, x.respBytes])).toEqual([
        ["GET /c", resp.length],
        ["GET /d", second.length],
      ]);
      expect(s.stats.resyncs).toBe(0);
    }
  });

  test("a chunked request body, a chunk partly captured", () => {
    const s = session();
    const req = "PUT /f HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3e8\r\n";
    send(s, "req", req + "abc", 1, 0, req.length + 1000 + 2);
    send(s, "req", "0\r\n\r\n", 2);
    send(s, "resp", "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n", 3);
    expect(drained(s).map((x) => [x.api, x.reqBytes])).toEqual([["PUT /f", req.length + 1002 + 5]]);
  });

  test("HEAD, 204 and 304 have no body whatever Content-Length says", () => {
    const s = session();
    send(s, "req", "HEAD /h HTTP/1.1\r\n\r\n", 1);
    send(s, "resp", "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n", 2);
    send(s, "req", "DELETE /d HTTP/1.1\r\n\r\n", 3);
    send(s, "resp", "HTTP/1.1 204 No Content\r\n\r\n", 4);
    send(s, "req", "GET /c HTTP/1.1\r\nIf-None-Match: x\r\n\r\n", 5);
    send(s, "resp", "HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n", 6);
    send(s, "req", "GET /after HTTP/1.1\r\n\r\n", 7);
    send(s, "resp", ok("a"), 8);
    expect(drained(s).map((x) => x.api)).toEqual(["HEAD /h", "DELETE /d", "GET /c", "GET /after"]);
    expect(s.stats.resyncs).toBe(0);
  });

  test("pipelining: requests sent before any response are paired in order", () => {
    const s = session();
    send(s, "req", "GET /1 HTTP/1.1\r\n\r\nHEAD /2 HTTP/1.1\r\n\r\nGET /3 HTTP/1.1\r\n\r\n", 10);
    send(s, "resp", ok("one") + "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n" + "HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nno!", 20, 5);
    const r = drained(s);
    expect(r.map((x) => [x.api, x.error, x.reqStartNs])).toEqual([
      ["GET /1", ErrorClass.None, 10],
      ["HEAD /2", ErrorClass.None, 10],
      ["GET /3", ErrorClass.Client, 10],
    ]);
  });

  test("4xx are client errors, 5xx server errors", () => {
    const s = session();
    for (const [code, cls] of [[200, ErrorClass.None], [301, ErrorClass.None], [404, ErrorClass.Client], [499, ErrorClass.Client], [500, ErrorClass.Server], [503, ErrorClass.Server]] as const) {
      send(s, "req", "GET /e HTTP/1.1\r\n\r\n", 1);
      send(s, "resp", `HTTP/1.1 ${code} X\r\nContent-Length: 0\r\n\r\n`, 2);
      expect(drained(s)[0]!.error).toBe(cls);
    }
  });

  test("100-continue: the interim response belongs to the request, the body follows it", () => {
    const s = session();
    const head = "POST /p HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n";
    send(s, "req", head, 1);
    send(s, "resp", "HTTP/1.1 100 Continue\r\n\r\n", 2);
    send(s, "req", "data", 3);
    send(s, "resp", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 4);
    expect(drained(s)).toEqual([{ api: "POST /p", reqStartNs: 1, respEndNs: 4, reqBytes: head.length + 4, respBytes: 25 + 40, error: ErrorClass.None }]);
  });

  test("a response without length ends with the connection: counted at its head", () => {
    const s = session();
    send(s, "req", "GET /stream HTTP/1.0\r\n\r\n", 1);
    send(s, "resp", "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nsome", 2);
    send(s, "resp", "HTTP/1.1 200 OK\r\n\r\nmore body that looks like anything", 3);
    expect(drained(s).map((x) => [x.api, x.respEndNs])).toEqual([["GET /stream", 2]]);
    expect(s.stats.unmatchedResponses).toBe(0);
  });

  test("101 Switching Protocols and CONNECT 200 turn the connection opaque", () => {
    const s = session();
    send(s, "req", "GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", 1);
    send(s, "resp", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x05hello", 2);
    send(s, "req", "GET / HTTP/1.1\r\n\r\n", 3);
    send(s, "resp", ok("x"), 4);
    expect(drained(s).map((x) => x.api)).toEqual(["GET /ws"]);
    const c = session();
    send(c, "req", "CONNECT example.org:443 HTTP/1.1\r\nHost: example.org:443\r\n\r\n", 1);
    send(c, "resp", "HTTP/1.1 200 Connection established\r\n\r\n", 2);
    send(c, "req", "\x16\x03\x01\x02\x00", 3);
    expect(drained(c).map((x) => x.api)).toEqual(["CONNECT example.org:443"]);
  });

  test("absolute-form targets count under their path", () => {
    const s = session();
    send(s, "req", "GET http://example.org:8080/p/q?x=1 HTTP/1.1\r\n\r\nGET http://example.org HTTP/1.1\r\n\r\nOPTIONS * HTTP/1.1\r\n\r\n", 1);
    send(s, "resp", ok("1") + ok("2") + ok("3"), 2);
    expect(drained(s).map((x) => x.api)).toEqual(["GET /p/q", "GET /", "OPTIONS *"]);
  });

  test("a full pending queue drops the oldest request and skips its response", () => {
    const s = session({ maxPending: 2 });
    send(s, "req", "GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\nGET /3 HTTP/1.1\r\n\r\n", 1);
    send(s, "resp", ok("1") + ok("2") + ok("3"), 2);
    expect(drained(s).map((x) => x.api)).toEqual(["GET /2", "GET /3"]);
    expect(s.stats.unansweredDropped).toBe(1);
  });

  test("after a request-side gap, a response that began before the next seen request matches nothing", () => {
    const s = session();
    const head = "GET /1 HTTP/1.1\r\n\r\n";
    send(s, "req", head, 1, 0, head.length + 40); // GET /1 and an unseen second request
    send(s, "resp", ok("1"), 2);
    send(s, "resp", ok("lost"), 3);
    send(s, "req", "GET /3 HTTP/1.1\r\n\r\n", 4);
    send(s, "resp", ok("3"), 5);
    expect(drained(s).map((x) => x.api)).toEqual(["GET /1", "GET /3"]);
    expect(s.stats).toEqual({ resyncs: 1, unansweredDropped: 0, unmatchedResponses: 1 });
  });

  test("a body sent by an unseen path (sendfile) does not swallow the next response", () => {
    const s = session();
    send(s, "req", "GET /file HTTP/1.1\r\n\r\n", 1);
    send(s, "resp", "HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n", 2);
    send(s, "req", "GET /404 HTTP/1.1\r\n\r\n", 3);
    send(s, "resp", "HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nno!", 4);
    expect(drained(s).map((x) => [x.api, x.respEndNs, x.error])).toEqual([
      ["GET /file", 2, ErrorClass.None],
      ["GET /404", 4, ErrorClass.Client],
    ]);
    expect(s.stats.resyncs).toBe(1);
  });

  test("a gap that hides a chunk size: the response counts at that read, the next status line resumes", () => {
    const s = session();
    send(s, "req", "GET /gz HTTP/1.1\r\n\r\n", 1);
    const head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n0123456789abcdef\r\n";
    send(s, "resp", head, 2, 0, head.length + 5000); // further chunk sizes are in the gap
    send(s, "resp", "binary body bytes", 3);
    send(s, "resp", "more\r\n0\r\n\r\n", 4); // seen whole: the body ends here
    send(s, "req", "GET /next HTTP/1.1\r\n\r\n", 5);
    send(s, "resp", ok("n"), 6);
    expect(drained(s).map((x) => [x.api, x.respEndNs])).toEqual([
      ["GET /gz", 2],
      ["GET /next", 6],
    ]);
    expect(s.stats).toEqual({ resyncs: 1, unansweredDropped: 0, unmatchedResponses: 0 });
  });

  test("garbage and oversized heads resynchronise at the next start line, never invent a request", () => {
    const s = session({ maxBuffered: 64 });
    send(s, "req", "GET /big HTTP/1.1\r\n" + "X-Long: " + "a".repeat(100) + "\r\n\r\n", 1, 50); // kept over reads: > 64 bytes
    send(s, "resp", "\x00\x01binary", 2);
    send(s, "req", "GET /ok HTTP/1.1\r\n\r\n", 3);
    send(s, "resp", ok("fine"), 4);
    expect(drained(s).map((x) => x.api)).toEqual(["GET /ok"]);
    expect(s.stats.resyncs).toBe(2);
    expect(s.stats.unmatchedResponses).toBe(0);
  });

  test("conflicting Content-Length headers lose the framing instead of guessing", () => {
    const s = session();
    send(s, "req", "POST /x HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 1);
    send(s, "resp", ok("r"), 2);
    expect(drained(s)).toEqual([]);
    expect(s.stats.resyncs).toBe(1);
    expect(s.stats.unmatchedResponses).toBe(1);
  });
});

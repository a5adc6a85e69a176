// A test-only protocol for the tracker and the probe's own tests while the real parsers
// live in other modules: requests are lines "REQ <api>\n", responses "OK\n", "CERR\n"
// (client error) or "SERR\n" (server error), answered in order. It is registered under the
// name "redis" only inside tests (the tracker needs an L7ProtocolName).
import { ErrorClass, Looks, type L7ProtocolName, type L7Record, type ProtocolParser, type ProtocolSession, type SessionStats } from "./protocol.ts";

const dec = new TextDecoder();

class LineSession implements ProtocolSession {
  readonly stats: SessionStats = { resyncs: 0, unansweredDropped: 0, unmatchedResponses: 0 };
  private reqBuf = "";
  private respBuf = "";
  private readonly pending: { api: string; start: number; bytes: number }[] = [];
  private reqStart = -1;
  private readonly done: L7Record[] = [];

  request(bytes: Uint8Array, length: number, tsNs: number): void {
    if (this.reqBuf === "") this.reqStart = tsNs;
    this.reqBuf += dec.decode(bytes);
    if (length > bytes.length) this.stats.resyncs++;
    for (let nl = this.reqBuf.indexOf("\n"); nl >= 0; nl = this.reqBuf.indexOf("\n")) {
      const line = this.reqBuf.slice(0, nl);
      this.reqBuf = this.reqBuf.slice(nl + 1);
      this.pending.push({ api: line.slice(4), start: this.reqStart, bytes: nl + 1 });
      this.reqStart = tsNs;
    }
  }

  response(bytes: Uint8Array, _length: number, tsNs: number): void {
    this.respBuf += dec.decode(bytes);
    for (let nl = this.respBuf.indexOf("\n"); nl >= 0; nl = this.respBuf.indexOf("\n")) {
      const line = this.respBuf.slice(0, nl);
      this.respBuf = this.respBuf.slice(nl + 1);
      const req = this.pending.shift();
      if (!req) {
        this.stats.unmatchedResponses++;
        continue;
      }
      const error = line === "CERR" ? ErrorClass.Client : line === "SERR" ? ErrorClass.Server : ErrorClass.None;
      this.done.push({ api: req.api, reqStartNs: req.start, respEndNs: tsNs, reqBytes: req.bytes, respBytes: nl + 1, error });
    }
  }

  drain(out: L7Record[]): number {
    const n = this.done.length;
    for (const r of this.done) out.push(r);
    this.done.length = 0;
    return n;
  }
}

export function lineParser(name: L7ProtocolName = "redis"): ProtocolParser {
  return {
    name,
    detect(first: Uint8Array): Looks {
      const s = dec.decode(first.subarray(0, 4));
      if (s === "REQ ") return Looks.Request;
      if (s === "OK\n" || s.startsWith("OK\n") || s === "CERR" || s === "SERR") return Looks.Response;
      return Looks.No;
    },
    session: () => new LineSession(),
  };
}

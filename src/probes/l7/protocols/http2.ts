// HTTP/2 and gRPC (RFC 9113, RFC 7541, gRPC over HTTP/2): frames followed across reads, header
// blocks (HEADERS + CONTINUATION) decoded with one HPACK table per direction, streams paired
// by id (client-initiated, odd). One record per stream, completed by the response's
// END_STREAM (or an RST_STREAM): for gRPC that is one record per call, streaming or not.
//
// - API: HTTP "METHOD /path" (query cut); gRPC (request content-type application/grpc*) ":path".
// - Errors: HTTP :status 4xx client, 5xx server. gRPC: a :status other than 200 as HTTP;
//   otherwise grpc-status (trailers, or the single HEADERS of a Trailers-Only response) classed
//   by the HTTP status gRPC's own mapping gives the code (google.rpc.Code): client 1 CANCELLED,
//   3, 5, 6, 7, 8 RESOURCE_EXHAUSTED, 9, 10 ABORTED, 11, 16; server 2 UNKNOWN, 4
//   DEADLINE_EXCEEDED, 12, 13, 14, 15 and any other code, and a response ending without grpc-status.
// - RST_STREAM before the response ended: the stream is a request with an error, client class
//   when the client reset it, server class when the server did; latency up to the reset.
// - GOAWAY from the server: streams above its last-stream-id were not processed and are
//   dropped without a record (the client retries them elsewhere).
// - Latency: start of the request's first HEADERS frame to the last byte of the response's
//   END_STREAM frame (last DATA or trailers).
// - A connection seen mid-way (no preface): HPACK references to dynamic entries inserted
//   before we looked are unknown (hpack-table.ts). A stream whose request API or response
//   outcome hides behind such a reference, or whose header block fell into a capture gap, is
//   counted in `stats.undecodable` and gives no record.
// - Gaps: a gap inside a frame's payload is stepped over (a header block in it is lost and the
//   direction's table with it); a gap past the frame's end loses the framing until a chunk
//   starts with plausible frames (http2-frame.ts), counted in `stats.resyncs`.
// - detect(): the client preface "PRI * HTTP/2.0" (≥ 4 bytes of it); the server preface (a
//   complete SETTINGS frame on stream 0 with known setting ids, first of plausible frames);
//   mid-stream, plausible chained frames with a HEADERS frame whose first field is a static
//   request pseudo-header (request) or :status (response).
import type { L7Record, ProtocolParser, ProtocolSession, SessionOptions, SessionStats, Transport } from "../protocol.ts";
import { ErrorClass, Looks } from "../protocol.ts";
import { MALFORMED } from "./hpack.ts";
import { DEFAULT_MAX_FRAME_SIZE, FrameType, FRAME_HEADER_SIZE, frameLength, headersPseudo, PREFACE, plausibleFrames, plausibleHeader } from "./http2-frame.ts";
import { Direction, type HeaderBlock } from "./http2-direction.ts";
import { moveRecords } from "./session-records.ts";

const GRPC_CLIENT_CODES = new Set([1, 3, 5, 6, 7, 8, 9, 10, 11, 16]);

/** Stream state from the client's HEADERS to the response's END_STREAM. */
interface Stream {
  reqStartNs: number;
  reqBytes: number;
  respBytes: number;
  api: string;
  grpc: boolean;
  /** Final :status, 0 before the response headers. */
  status: number;
  /** grpc-status, -1 until seen. */
  grpcStatus: number;
  undecodable: boolean;
}

export interface Http2Stats extends SessionStats {
  undecodable: number;
}

class Http2Session implements ProtocolSession {
  readonly stats: Http2Stats = { resyncs: 0, unansweredDropped: 0, unmatchedResponses: 0, undecodable: 0 };
  private readonly streams = new Map<number, Stream>();
  private readonly done: L7Record[] = [];
  private highestStream = 0;
  private readonly maxPending: number;
  private readonly client: Direction;
  private readonly server: Direction;

  constructor(options: SessionOptions) {
    this.maxPending = options.maxPending ?? 1024;
    const maxBuffered = options.maxBuffered ?? 64 * 1024;
    this.client = new Direction(true, maxBuffered, this.stats, this);
    this.server = new Direction(false, maxBuffered, this.stats, this);
    this.client.peer = this.server;
    this.server.peer = this.client;
  }

  request(bytes: Uint8Array, length: number, tsNs: number): void {
    this.client.feed(bytes, length, tsNs);
  }

  response(bytes: Uint8Array, length: number, tsNs: number): void {
    this.server.feed(bytes, length, tsNs);
  }

  drain(out: L7Record[]): number {
    return moveRecords(this.done, out);
  }

  /** A frame of `length` bytes (header included) on `stream` started. */
  frameBytes(fromClient: boolean, stream: number, length: number): void {
    const s = this.streams.get(stream);
    if (!s) return;
    if (fromClient) s.reqBytes += length;
    else s.respBytes += length;
  }

  headerBlock(fromClient: boolean, b: HeaderBlock, tsNs: number): void {
    if (b.promise) return; // PUSH_PROMISE: decoded for the table only
    if (fromClient) this.requestHeaders(b);
    else this.responseHeaders(b, tsNs);
  }

  private requestHeaders(b: HeaderBlock): void {
    if (this.streams.has(b.stream) || b.stream <= this.highestStream) return; // trailers, or a stream we gave up
    this.highestStream = b.stream;
    const known = b.result !== MALFORMED && !b.lost;
    const f = b.fields;
    if (known && b.result === 0 && f.method === undefined) return; // fully decoded and not a request: trailers of a stream begun before we looked
    // With fields hidden behind unknown references, a missing :method/:path, or a POST whose
    // content-type (gRPC or not: the API's spelling) is missing, may be among them.
    const hidden = !known || (b.result > 0 && (f.method === undefined || f.path === undefined || (f.method === "POST" && f.contentType === undefined)));
    if (this.streams.size >= this.maxPending) {
      const oldest = this.streams.keys().next().value as number;
      this.streams.delete(oldest);
      this.stats.unansweredDropped++;
    }
    const grpc = f.contentType?.startsWith("application/grpc") ?? false;
    const path = f.path ?? "";
    const q = path.indexOf("?");
    this.streams.set(b.stream, {
      reqStartNs: b.startNs,
      reqBytes: b.bytes,
      respBytes: 0,
      api: grpc ? path : `${f.method ?? ""} ${q < 0 ? path : path.slice(0, q)}`,
      grpc,
      status: 0,
      grpcStatus: -1,
      undecodable: hidden,
    });
  }

  private responseHeaders(b: HeaderBlock, tsNs: number): void {
    const s = this.streams.get(b.stream);
    if (!s) {
      if (b.endStream && b.stream % 2 === 1) this.stats.unmatchedResponses++;
      return;
    }
    s.respBytes += b.bytes;
    const f = b.fields;
    if (b.lost || b.result === MALFORMED) s.undecodable = true;
    else if (s.status === 0) {
      if (f.status === undefined) {
        if (b.result > 0) s.undecodable = true;
      } else if (f.status >= 200 || b.endStream) s.status = f.status;
      if (f.grpcStatus !== undefined) s.grpcStatus = f.grpcStatus;
    } else if (f.grpcStatus !== undefined) s.grpcStatus = f.grpcStatus;
    else if (s.grpc && b.result > 0) s.undecodable = true;
    if (b.endStream) {
      if (s.grpc && s.grpcStatus < 0 && b.result > 0) s.undecodable = true;
      this.complete(b.stream, s, tsNs, this.classify(s));
    }
  }

  dataEnd(fromClient: boolean, stream: number, tsNs: number): void {
    if (fromClient) return;
    const s = this.streams.get(stream);
    if (s) this.complete(stream, s, tsNs, this.classify(s));
    else if (stream % 2 === 1) this.stats.unmatchedResponses++;
  }

  reset(fromClient: boolean, stream: number, tsNs: number): void {
    const s = this.streams.get(stream);
    if (s) this.complete(stream, s, tsNs, fromClient ? ErrorClass.Client : ErrorClass.Server);
  }

  goAway(fromClient: boolean, lastStream: number): void {
    if (fromClient) return;
    for (const id of [...this.streams.keys()]) if (id > lastStream) this.streams.delete(id);
  }

  private classify(s: Stream): ErrorClass {
    if (!s.grpc || (s.status !== 200 && s.status !== 0)) return s.status >= 500 ? ErrorClass.Server : s.status >= 400 ? ErrorClass.Client : ErrorClass.None;
    if (s.grpcStatus === 0) return ErrorClass.None;
    return GRPC_CLIENT_CODES.has(s.grpcStatus) ? ErrorClass.Client : ErrorClass.Server;
  }

  private complete(id: number, s: Stream, tsNs: number, error: ErrorClass): void {
    this.streams.delete(id);
    if (s.undecodable) {
      this.stats.undecodable++;
      return;
    }
    this.done.push({ api: s.api, reqStartNs: s.reqStartNs, respEndNs: tsNs, reqBytes: s.reqBytes, respBytes: s.respBytes, error });
  }
}

function looksLikePreface(b: Uint8Array): boolean {
  if (b.length < 4) return false;
  for (let i = 0; i < Math.min(b.length, PREFACE.length); i++) if (b[i] !== PREFACE[i]) return false;
  return true;
}

function looksLikeServerPreface(b: Uint8Array): boolean {
  if (b.length < FRAME_HEADER_SIZE || b[3] !== FrameType.Settings || b[4] !== 0 || !plausibleFrames(b, DEFAULT_MAX_FRAME_SIZE)) return false;
  const length = frameLength(b, 0);
  if (b.length < FRAME_HEADER_SIZE + length) return false;
  for (let p = FRAME_HEADER_SIZE; p < FRAME_HEADER_SIZE + length; p += 6) {
    const id = (b[p]! << 8) | b[p + 1]!;
    if (b[p]! !== 0 || id === 0 || id === 7 || id > 9) return false;
  }
  return true;
}

function looksMidStream(b: Uint8Array): Looks {
  if (!plausibleFrames(b, DEFAULT_MAX_FRAME_SIZE)) return Looks.No;
  for (let at = 0; at + FRAME_HEADER_SIZE < b.length; at += FRAME_HEADER_SIZE + frameLength(b, at)) {
    if (!plausibleHeader(b, at, DEFAULT_MAX_FRAME_SIZE) || b[at + 3] !== FrameType.Headers) continue;
    const first = headersPseudo(b, at);
    if (first === 1) return Looks.Request;
    if (first === 2) return Looks.Response;
  }
  return Looks.No;
}

export const http2Parser: ProtocolParser = {
  name: "http2",
  detect(first: Uint8Array, transport: Transport): Looks {
    if (transport !== "tcp" || first.length === 0) return Looks.No;
    if (looksLikePreface(first)) return Looks.Request;
    if (looksLikeServerPreface(first)) return Looks.Response;
    return looksMidStream(first);
  },
  session(options: SessionOptions): ProtocolSession {
    return new Http2Session(options);
  },
};

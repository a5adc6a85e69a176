// The contract between the l7 probe's connection tracker and its protocol parsers.
//
// The kernel hands user space, per connection, the bytes each side sent, in the order the
// syscalls finished, as chunks: a bounded prefix of what one syscall moved (`bytes`) plus
// how much it really moved (`length`, ≥ bytes.length) and the kernel time the syscall
// started (`tsNs`, CLOCK_MONOTONIC nanoseconds). The tracker decides which side is the
// client (`detect`), then feeds one `ProtocolSession` per connection: what the client
// sent goes to `request`, what the server sent goes to `response`, in time order across
// both sides. The session pairs requests with responses its own way (in order, by id or
// by stream) and appends one `L7Record` per answered request to the array `drain` gets.
//
// Rules every parser keeps:
// - Pure: no I/O, no timers, no globals; everything lives in the session object.
// - A chunk whose `length` exceeds `bytes.length` ends in a gap of that many unseen bytes.
//   A parser that knows a message's size (Content-Length, a length prefix) steps over the
//   gap and stays in step; one that cannot resynchronises at the next message start it
//   can recognise and counts `stats.resyncs`. It never invents a request or a response.
// - Bounded memory: a session holds at most `maxPending` unanswered requests (older ones
//   are dropped and counted in `stats.unansweredDropped`) and at most `maxBuffered` bytes
//   of an incomplete message (past that it skips the message and counts `stats.resyncs`).
// - Latency of a record is `respEndNs - reqStartNs`: the start of the syscall that carried
//   the request's first byte to the start of the syscall that carried the response's last
//   byte. (`tsNs` is the syscall's start for writes and its end for reads: the tracker
//   passes the time the bytes were at the socket.)
// - No per-chunk allocation beyond what a record needs (reuse buffers; slice only to keep
//   an incomplete message).

/** Values of `l7_protocol` (rest-api.md) this contract serves, plus http2 (issue 16). */
export type L7ProtocolName = "http" | "http2" | "dns" | "redis" | "mysql" | "pgsql" | "kafka" | "mongo";

export type Transport = "tcp" | "udp";

/** How an error is counted in l7_rpc_api: client_err_count / server_err_count; both count in err_count. */
export const enum ErrorClass {
  None = 0,
  Client = 1,
  Server = 2,
}

/** One request paired with its response (or a request that never gets one: see `noResponse`). */
export interface L7Record {
  /** The API the request is counted under in l7_rpc_api: HTTP "GET /path" (query string
   *  cut), Redis command upper-cased ("SET"), SQL verb upper-cased ("SELECT"), Kafka API
   *  name ("Produce"), DNS queried name ("example.org"), gRPC "/pkg.Svc/Method", Mongo command. */
  api: string;
  reqStartNs: number;
  respEndNs: number;
  /** True bytes of the request / response, gaps included. */
  reqBytes: number;
  respBytes: number;
  error: ErrorClass;
  /** A request the protocol answers with nothing (Redis CLIENT REPLY OFF, Kafka acks=0
   *  produce, MySQL COM_STMT_CLOSE…): counted as a request, not as a response; latency 0. */
  noResponse?: boolean;
}

export interface SessionStats {
  /** Bytes that could not be parsed and were skipped to the next recognisable message. */
  resyncs: number;
  /** Requests dropped from a full pending queue (maxPending). */
  unansweredDropped: number;
  /** Responses that matched no request (connection seen mid-way, lost request). */
  unmatchedResponses: number;
  /** Requests seen whose API or outcome could not be decoded without guessing (HTTP/2: a
   *  header block referencing an HPACK dynamic entry inserted before the capture began, or
   *  lost in a gap): counted here, no record. Optional: only parsers with such state set it. */
  undecodable?: number;
}

export interface SessionOptions {
  transport: Transport;
  /** Unanswered requests kept per session (default 1024). */
  maxPending?: number;
  /** Bytes of one incomplete message kept (default 64 KiB). */
  maxBuffered?: number;
}

export interface ProtocolSession {
  /** Bytes the client sent. */
  request(bytes: Uint8Array, length: number, tsNs: number): void;
  /** Bytes the server sent. */
  response(bytes: Uint8Array, length: number, tsNs: number): void;
  /** Moves the records completed since the last call into `out`; returns how many. */
  drain(out: L7Record[]): number;
  readonly stats: Readonly<SessionStats>;
}

/** What the first bytes one side sent look like to a protocol. */
export const enum Looks {
  No = 0,
  Request = 1,
  Response = 2,
}

export interface ProtocolParser {
  readonly name: L7ProtocolName;
  /** Whether `first` (the first bytes one side of a connection sent, possibly a prefix of a
   *  message, at least 1 byte) is this protocol's request, response, or neither. Cheap: it
   *  runs on every new connection until one parser answers. Must not claim bytes that are
   *  plausibly another protocol's (e.g. a Redis inline command vs an HTTP method). */
  detect(first: Uint8Array, transport: Transport): Looks;
  session(options: SessionOptions): ProtocolSession;
}

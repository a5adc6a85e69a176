// Kafka over TCP: every request is `int32 size` + header (api_key int16, api_version int16,
// correlation_id int32, client_id nullable string; tagged fields in flexible versions) + body;
// every response is `int32 size` + correlation_id (+ tagged fields when flexible, except
// ApiVersions) + body. Responses are paired with requests by correlation id. A broker
// answers the requests of one connection in order, so when a response answers a later
// request, the earlier unanswered ones never will be: they are dropped and counted in
// stats.unansweredDropped (a response lost to the capture does not shift the pairing). A
// Produce with acks=0 gets no response: it is recorded at once with `noResponse`.
//
// API: Kafka's API name (kafka-apis.ts). Errors: the first non-zero error code readable in
// the response (kafka-errors.ts says which), classed by errorClass (kafka-apis.ts).
//
// Memory: a message's size is known from its prefix, so a message longer than maxBuffered
// (a big Fetch response) is not skipped as the contract allows: its first maxBuffered bytes
// are kept for the error code and the rest is stepped over, gaps included, in step.
// Not handled: the raw (unframed) SASL tokens of SaslHandshake v0 clients (Kafka < 1.0).
//
// Detection: a request only (size, a known api key, a plausible version and client id); a
// response starts with nothing but a size and a correlation id, which any binary protocol
// could, so the server's first bytes never claim a connection.
import { ErrorClass, Looks, type L7Record, type ProtocolParser, type ProtocolSession, type SessionOptions, type SessionStats, type Transport } from "../protocol.ts";
import { ApiKey, apiName, errorClass, isFlexible, isKnownApi, plausibleVersion } from "./kafka-apis.ts";
import { KafkaCursor, responseErrorCode } from "./kafka-errors.ts";
import { LengthPrefixedFramer } from "./length-prefixed-framer.ts";
import { PendingRing } from "./pending-ring.ts";
import { i16be, i32be } from "./bytes.ts";
import { moveRecords } from "./session-records.ts";

/** Kafka's default socket.request.max.bytes (100 MiB): no request is larger. */
const MAX_MESSAGE = 100 * 1024 * 1024;
/** Request bytes kept: the header, client id and Produce's transactional id and acks. */
const REQUEST_HEAD = 1024;
/** Smallest request: size 4 + api_key 2 + api_version 2 + correlation_id 4 + client_id length 2. */
const MIN_REQUEST = 14;


/** Whether `b` (from offset 0) starts like a Kafka request; bytes beyond `b` are not judged. */
function looksLikeRequest(b: Uint8Array): boolean {
  if (b.length < 8) return false;
  const size = i32be(b, 0);
  if (size < MIN_REQUEST - 4 || size > MAX_MESSAGE) return false;
  const key = i16be(b, 4);
  if (!isKnownApi(key) || !plausibleVersion(key, i16be(b, 6))) return false;
  if (b.length < 14) return true;
  const clientIdLen = i16be(b, 12);
  if (clientIdLen < -1 || clientIdLen > size - 10) return false;
  const seen = Math.min(b.length, 14 + Math.max(0, clientIdLen));
  for (let i = 14; i < seen; i++) if (b[i]! < 0x20 || b[i]! > 0x7e) return false;
  return true;
}

/** An unanswered request (a reused slot of the session's pending ring). */
class PendingRequest {
  corr = 0;
  key = 0;
  version = 0;
  startNs = 0;
  bytes = 0;
}

/** Position (0 = oldest) of the request with this correlation id, or -1. */
function findCorrelation(pending: PendingRing<PendingRequest>, corr: number): number {
  for (let i = 0; i < pending.size; i++) if (pending.at(i)!.corr === corr) return i;
  return -1;
}

class KafkaSession implements ProtocolSession {
  readonly stats: SessionStats = { resyncs: 0, unansweredDropped: 0, unmatchedResponses: 0 };
  private readonly pending: PendingRing<PendingRequest>;
  private readonly done: L7Record[] = [];
  private readonly cursor = new KafkaCursor();
  private readonly requests: LengthPrefixedFramer;
  private readonly responses: LengthPrefixedFramer;

  constructor(o: SessionOptions) {
    const maxBuffered = Math.max(64, o.maxBuffered ?? 64 * 1024);
    this.pending = new PendingRing(Math.max(1, o.maxPending ?? 1024), () => new PendingRequest());
    const sizeOk = (size: number) => size >= MIN_REQUEST - 4 && size <= MAX_MESSAGE;
    this.requests = new LengthPrefixedFramer(4, Math.min(REQUEST_HEAD, maxBuffered), {
      sizeOk,
      canStart: looksLikeRequest,
      frame: (head, headLen, total, startNs) => this.request1(head, headLen, total, startNs),
    }, this.stats);
    this.responses = new LengthPrefixedFramer(4, maxBuffered, {
      sizeOk: (size) => size >= 4 && size <= MAX_MESSAGE,
      canStart: (b) => b.length >= 8 && findCorrelation(this.pending, i32be(b, 4)) >= 0,
      frame: (head, headLen, total, _startNs, endNs) => this.response1(head, headLen, total, endNs),
    }, this.stats);
  }

  request(bytes: Uint8Array, length: number, tsNs: number): void {
    this.requests.push(bytes, length, tsNs);
  }

  response(bytes: Uint8Array, length: number, tsNs: number): void {
    this.responses.push(bytes, length, tsNs);
  }

  drain(out: L7Record[]): number {
    return moveRecords(this.done, out);
  }

  private request1(head: Uint8Array, headLen: number, total: number, startNs: number): void {
    if (headLen < 12) {
      // The header fell into a capture gap: the request cannot be paired.
      this.stats.resyncs++;
      return;
    }
    const key = i16be(head, 4);
    const version = i16be(head, 6);
    const corr = i32be(head, 8);
    if (key < 0 || version < 0) {
      this.stats.resyncs++;
      return;
    }
    if (key === ApiKey.Produce && this.produceAcks(head, headLen, version) === 0) {
      this.done.push({ api: apiName(key), reqStartNs: startNs, respEndNs: startNs, reqBytes: total, respBytes: 0, error: ErrorClass.None, noResponse: true });
      return;
    }
    if (this.pending.full) this.stats.unansweredDropped++;
    const p = this.pending.push();
    p.corr = corr;
    p.key = key;
    p.version = version;
    p.startNs = startNs;
    p.bytes = total;
  }

  /** Produce's acks field, or -1 when it is not in the captured head. */
  private produceAcks(head: Uint8Array, headLen: number, version: number): number {
    const c = this.cursor;
    c.reset(head, 12, headLen, false);
    const clientIdLen = c.i16();
    if (clientIdLen > 0) c.skip(clientIdLen);
    c.flexible = isFlexible(ApiKey.Produce, version);
    c.tags();
    if (version >= 3) c.str();
    const acks = c.i16();
    return c.ok ? acks : -1;
  }

  private response1(head: Uint8Array, headLen: number, total: number, endNs: number): void {
    if (headLen < 8) {
      this.stats.unmatchedResponses++;
      return;
    }
    const at = findCorrelation(this.pending, i32be(head, 4));
    if (at < 0) {
      this.stats.unmatchedResponses++;
      return;
    }
    if (at > 0) {
      this.stats.unansweredDropped += at;
      this.pending.shift(at);
    }
    const { key, version, startNs, bytes: reqBytes } = this.pending.at(0)!;
    this.pending.shift();
    const c = this.cursor;
    const flexible = isFlexible(key, version);
    c.reset(head, 8, headLen, flexible);
    if (key !== ApiKey.ApiVersions) c.tags();
    const code = c.ok ? responseErrorCode(c, key, version) : 0;
    this.done.push({ api: apiName(key), reqStartNs: startNs, respEndNs: endNs, reqBytes, respBytes: total, error: errorClass(code) });
  }
}

export const kafkaParser: ProtocolParser = {
  name: "kafka",
  detect(first: Uint8Array, transport: Transport): Looks {
    return transport === "tcp" && looksLikeRequest(first) ? Looks.Request : Looks.No;
  },
  session(options: SessionOptions): ProtocolSession {
    return new KafkaSession(options);
  },
};

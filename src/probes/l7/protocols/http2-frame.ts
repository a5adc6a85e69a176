// HTTP/2 frame layout (RFC 9113 §4, §6) and the checks the http2 parser uses to recognise a
// frame boundary it did not follow from the connection's start (detect, and resynchronising
// after a capture gap). A chunk is taken as starting on a frame boundary only when every
// complete frame header in it passes these checks and the headers chain exactly: one 9-byte
// header by chance is not enough evidence.
import { u24be, u31be } from "./bytes.ts";

export const FRAME_HEADER_SIZE = 9;
export const DEFAULT_MAX_FRAME_SIZE = 16384;
export const PREFACE = new TextEncoder().encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

export const enum FrameType {
  Data = 0,
  Headers = 1,
  Priority = 2,
  RstStream = 3,
  Settings = 4,
  PushPromise = 5,
  Ping = 6,
  GoAway = 7,
  WindowUpdate = 8,
  Continuation = 9,
}

export const enum Flag {
  EndStream = 0x1,
  Ack = 0x1,
  EndHeaders = 0x4,
  Padded = 0x8,
  Priority = 0x20,
}

export const enum Setting {
  HeaderTableSize = 1,
  MaxFrameSize = 5,
}

/** Flags each known frame type defines (RFC 9113 §6). */
const ALLOWED_FLAGS = [0x09, 0x2d, 0x00, 0x00, 0x01, 0x0c, 0x01, 0x00, 0x00, 0x04];

export function frameLength(b: Uint8Array, at: number): number {
  return u24be(b, at);
}

export function frameStream(b: Uint8Array, at: number): number {
  return u31be(b, at + 5);
}

/** Whether a header follows the rules a frame of a known type must (stream 0 or not, fixed
 *  lengths, settings multiple of 6). Unknown types (extensions) pass: receivers skip them. */
export function frameRulesHold(length: number, type: number, flags: number, stream: number): boolean {
  switch (type) {
    case FrameType.Data:
    case FrameType.Headers:
    case FrameType.Continuation:
    case FrameType.PushPromise:
      return stream !== 0;
    case FrameType.Priority:
      return stream !== 0 && length === 5;
    case FrameType.RstStream:
      return stream !== 0 && length === 4;
    case FrameType.Settings:
      return stream === 0 && length % 6 === 0 && (!(flags & Flag.Ack) || length === 0);
    case FrameType.Ping:
      return stream === 0 && length === 8;
    case FrameType.GoAway:
      return stream === 0 && length >= 8;
    case FrameType.WindowUpdate:
      return length === 4;
    default:
      return true;
  }
}

/** The stricter test for a header we did not reach by following frames: a known type, only
 *  its defined flags, the reserved bit clear, a length within the frame size limit. */
export function plausibleHeader(b: Uint8Array, at: number, maxFrameSize: number): boolean {
  const length = frameLength(b, at);
  const type = b[at + 3]!;
  const flags = b[at + 4]!;
  if (type > FrameType.Continuation || (flags & ~ALLOWED_FLAGS[type]!) !== 0 || (b[at + 5]! & 0x80) !== 0) return false;
  return length <= maxFrameSize && frameRulesHold(length, type, flags, frameStream(b, at));
}

/** Whether `b` starts on a frame boundary: ≥ 1 complete header, every complete header in it
 *  plausible, each where the previous frame ends. */
export function plausibleFrames(b: Uint8Array, maxFrameSize: number): boolean {
  let at = 0;
  let headers = 0;
  while (at + FRAME_HEADER_SIZE <= b.length) {
    if (!plausibleHeader(b, at, maxFrameSize)) return false;
    headers++;
    at += FRAME_HEADER_SIZE + frameLength(b, at);
  }
  return headers > 0;
}

/** What the first fields of the header block in the HEADERS frame at `at` name, looking
 *  only at static-table names (no dynamic table needed, so it works mid-stream): 1 when one of
 *  the first 4 fields is a request pseudo-header (:authority, :method, :path, :scheme —
 *  static indices 1..7), 2 for :status (8..14), 0 otherwise or when the block is not in `b`. */
export function headersPseudo(b: Uint8Array, at: number): 0 | 1 | 2 {
  const flags = b[at + 4]!;
  const end = Math.min(b.length, at + FRAME_HEADER_SIZE + frameLength(b, at));
  let p = at + FRAME_HEADER_SIZE + (flags & Flag.Padded ? 1 : 0) + (flags & Flag.Priority ? 5 : 0);
  const integer = (prefix: number): number => {
    const mask = (1 << prefix) - 1;
    let v = b[p++]! & mask;
    if (v < mask) return v;
    for (let shift = 1; p < end && shift < 2 ** 28; shift *= 128) {
      const c = b[p++]!;
      v += (c & 0x7f) * shift;
      if (!(c & 0x80)) return v;
    }
    return -1;
  };
  const skipString = (): boolean => {
    if (p >= end) return false;
    const n = integer(7);
    if (n < 0) return false;
    p += n;
    return p <= end;
  };
  for (let fields = 0; p < end && fields < 4; ) {
    const v = b[p]!;
    if ((v & 0xe0) === 0x20) {
      if (integer(5) < 0) return 0;
      continue;
    }
    fields++;
    const index = v & 0x80 ? integer(7) : integer((v & 0xc0) === 0x40 ? 6 : 4);
    if (index >= 1 && index <= 7) return 1;
    if (index >= 8 && index <= 14) return 2;
    if (index < 0 || (v & 0x80) !== 0) continue;
    if (index === 0 && !skipString()) return 0;
    if (!skipString()) return 0;
  }
  return 0;
}

// One direction of an HTTP/2 connection: frames followed across reads and gaps, header blocks
// gathered (HEADERS/PUSH_PROMISE + CONTINUATION, padding and priority removed) and decoded
// with this direction's HPACK table; what the streams need goes to the session (FrameSink).
import type { SessionStats } from "../protocol.ts";
import { HpackDecoder, MALFORMED } from "./hpack.ts";
import { DEFAULT_TABLE_SIZE } from "./hpack-table.ts";
import { DEFAULT_MAX_FRAME_SIZE, Flag, FRAME_HEADER_SIZE, FrameType, frameLength, frameRulesHold, frameStream, PREFACE, plausibleFrames, plausibleHeader, Setting } from "./http2-frame.ts";
import { u16be, u31be, u32be } from "./bytes.ts";

export interface HeaderFields {
  method?: string;
  path?: string;
  status?: number;
  contentType?: string;
  grpcStatus?: number;
}

/** A complete header block, reused from block to block. */
export interface HeaderBlock {
  stream: number;
  promise: boolean;
  endStream: boolean;
  /** Start of the syscall that carried the block's first frame header. */
  startNs: number;
  /** Frame bytes of the block (headers included). */
  bytes: number;
  /** Part of it fell into a gap, exceeded maxBuffered or broke the CONTINUATION rules. */
  lost: boolean;
  /** HpackDecoder.decode's result: unknown references, or MALFORMED. */
  result: number;
  fields: HeaderFields;
}

export interface FrameSink {
  frameBytes(fromClient: boolean, stream: number, length: number): void;
  headerBlock(fromClient: boolean, block: HeaderBlock, tsNs: number): void;
  dataEnd(fromClient: boolean, stream: number, tsNs: number): void;
  reset(fromClient: boolean, stream: number, tsNs: number): void;
  goAway(fromClient: boolean, lastStream: number): void;
}

const enum State {
  Preface,
  Header,
  Payload,
  Lost,
}

/** Payload kept for SETTINGS/RST_STREAM/GOAWAY (GOAWAY debug data beyond this is not needed). */
const SMALL_PAYLOAD = 96;

export class Direction {
  peer!: Direction;
  /** The client preface was seen (set on both directions): HPACK tables start empty and known. */
  fresh = false;
  private state: State;
  private readonly header = new Uint8Array(FRAME_HEADER_SIZE);
  private headerLen = 0;
  private frameStartNs = 0;
  private type = 0;
  private flags = 0;
  private stream = 0;
  private length = 0;
  private remaining = 0;
  private small = new Uint8Array(SMALL_PAYLOAD);
  private smallLen = 0;
  /** Starts small and doubles up to maxBuffered (keep()): most header blocks are a few hundred bytes. */
  private blockBuf = new Uint8Array(256);
  private blockLen = 0;
  /** Where the current HEADERS/PUSH_PROMISE/CONTINUATION frame's payload starts in blockBuf. */
  private frameInBlock = 0;
  private inBlock = false;
  private readonly block: HeaderBlock = { stream: 0, promise: false, endStream: false, startNs: 0, bytes: 0, lost: false, result: 0, fields: {} };
  private decoder: HpackDecoder | undefined;
  /** What the peer's SETTINGS allow this direction: frame size (for resync) and table size. */
  maxFrameSize = DEFAULT_MAX_FRAME_SIZE;
  tableLimit = DEFAULT_TABLE_SIZE;
  /** The next frame header was not reached by following frames from a preface: check it strictly. */
  private strict: boolean;
  private readonly sink = (name: string, value: string) => this.field(name, value);

  constructor(
    readonly isClient: boolean,
    private readonly maxBuffered: number,
    private readonly stats: SessionStats,
    private readonly session: FrameSink,
  ) {
    this.state = isClient ? State.Preface : State.Header;
    this.strict = !isClient;
  }

  feed(bytes: Uint8Array, length: number, tsNs: number): void {
    let i = 0;
    if (this.state === State.Lost) {
      if (!plausibleFrames(bytes, this.maxFrameSize)) return;
      this.state = State.Header;
    }
    while (i < bytes.length) {
      if (this.state === State.Preface) i = this.preface(bytes, i, tsNs);
      else if (this.state === State.Header) {
        if (this.headerLen === 0) this.frameStartNs = tsNs;
        const n = Math.min(FRAME_HEADER_SIZE - this.headerLen, bytes.length - i);
        this.header.set(bytes.subarray(i, i + n), this.headerLen);
        this.headerLen += n;
        i += n;
        if (this.headerLen === FRAME_HEADER_SIZE) this.frameStart(tsNs);
      } else if (this.state === State.Payload) {
        const n = Math.min(this.remaining, bytes.length - i);
        this.keep(bytes, i, n);
        this.remaining -= n;
        i += n;
        if (this.remaining === 0) this.frameEnd(tsNs);
      } else return; // lost inside this chunk
    }
    const gap = length - bytes.length;
    if (gap <= 0) return;
    if (this.state === State.Payload && gap <= this.remaining) {
      this.remaining -= gap;
      if (this.isBlockFrame()) this.block.lost = true;
      this.smallLen = -1;
      if (this.remaining === 0) this.frameEnd(tsNs);
    } else if ((this.state as State) !== State.Lost) this.lose(tsNs);
  }

  private preface(bytes: Uint8Array, i: number, tsNs: number): number {
    const matched = this.headerLen;
    if (matched === 0 && bytes[i] !== PREFACE[0]) {
      // No preface: a connection seen mid-way. Frames must start here.
      this.state = State.Header;
      this.strict = true;
      return i;
    }
    let m = matched;
    while (i < bytes.length && m < PREFACE.length) {
      if (bytes[i] !== PREFACE[m]) {
        this.headerLen = 0;
        this.lose(tsNs);
        return bytes.length;
      }
      i++;
      m++;
    }
    this.headerLen = m;
    if (m === PREFACE.length) {
      this.headerLen = 0;
      this.state = State.Header;
      this.fresh = this.peer.fresh = true;
    }
    return i;
  }

  private frameStart(tsNs: number): void {
    const h = this.header;
    this.headerLen = 0;
    this.length = frameLength(h, 0);
    this.type = h[3]!;
    this.flags = h[4]!;
    this.stream = frameStream(h, 0);
    this.remaining = this.length;
    if (this.strict ? !plausibleHeader(h, 0, this.maxFrameSize) : !frameRulesHold(this.length, this.type, this.flags, this.stream)) return this.lose(tsNs);
    this.strict = false;
    if (this.inBlock && (this.type !== FrameType.Continuation || this.stream !== this.block.stream)) {
      this.block.lost = true; // RFC 9113 §6.10: nothing may come between a block's frames
      this.finishBlock(tsNs);
    }
    this.state = State.Payload;
    this.smallLen = 0;
    if (this.type === FrameType.Headers || this.type === FrameType.PushPromise) {
      const b = this.block;
      b.stream = this.stream;
      b.promise = this.type === FrameType.PushPromise;
      b.endStream = this.type === FrameType.Headers && (this.flags & Flag.EndStream) !== 0;
      b.startNs = this.frameStartNs;
      b.bytes = 0;
      b.lost = false;
      this.blockLen = 0;
      this.inBlock = true;
    } else if (this.type !== FrameType.Continuation || !this.inBlock) {
      if (this.type === FrameType.Continuation) this.stats.resyncs++; // a CONTINUATION we cannot place
      this.session.frameBytes(this.isClient, this.stream, FRAME_HEADER_SIZE + this.length);
    }
    if (this.isBlockFrame()) {
      this.block.bytes += FRAME_HEADER_SIZE + this.length;
      this.frameInBlock = this.blockLen;
    }
    if (this.remaining === 0) this.frameEnd(tsNs);
  }

  private isBlockFrame(): boolean {
    return this.inBlock && (this.type === FrameType.Headers || this.type === FrameType.PushPromise || this.type === FrameType.Continuation);
  }

  private keep(bytes: Uint8Array, i: number, n: number): void {
    if (this.isBlockFrame()) {
      if (this.block.lost) return;
      if (this.blockLen + n > this.maxBuffered) {
        this.block.lost = true;
        return;
      }
      if (this.blockLen + n > this.blockBuf.length) {
        const grown = new Uint8Array(Math.min(this.maxBuffered, Math.max(this.blockLen + n, this.blockBuf.length * 2)));
        grown.set(this.blockBuf.subarray(0, this.blockLen));
        this.blockBuf = grown;
      }
      this.blockBuf.set(bytes.subarray(i, i + n), this.blockLen);
      this.blockLen += n;
    } else if (this.type === FrameType.Settings || this.type === FrameType.RstStream || this.type === FrameType.GoAway) {
      if (this.smallLen < 0) return;
      const k = Math.min(n, SMALL_PAYLOAD - this.smallLen);
      this.small.set(bytes.subarray(i, i + k), this.smallLen);
      this.smallLen += k;
    }
  }

  private frameEnd(tsNs: number): void {
    this.state = State.Header;
    switch (this.type) {
      case FrameType.Data:
        if (this.flags & Flag.EndStream) this.session.dataEnd(this.isClient, this.stream, tsNs);
        return;
      case FrameType.Headers:
      case FrameType.PushPromise:
      case FrameType.Continuation:
        if (!this.inBlock) return;
        if (this.type !== FrameType.Continuation) this.stripFrameExtras();
        if (this.flags & Flag.EndHeaders) this.finishBlock(tsNs);
        return;
      case FrameType.Settings:
        if (!(this.flags & Flag.Ack)) this.settings();
        return;
      case FrameType.RstStream:
        this.session.reset(this.isClient, this.stream, tsNs);
        return;
      case FrameType.GoAway:
        if (this.smallLen >= 4) this.session.goAway(this.isClient, u31be(this.small, 0));
        return;
    }
  }

  /** Removes the pad length, priority fields, promised stream id and padding of the frame
   *  whose payload starts at frameInBlock. */
  private stripFrameExtras(): void {
    if (this.block.lost) return;
    const start = this.frameInBlock;
    let head = 0;
    let pad = 0;
    if (this.flags & Flag.Padded) {
      pad = this.blockBuf[start]!;
      head = 1;
    }
    if (this.type === FrameType.Headers && this.flags & Flag.Priority) head += 5;
    if (this.type === FrameType.PushPromise) head += 4;
    const end = this.blockLen - pad;
    if (start + head > end) {
      this.block.lost = true;
      return;
    }
    this.blockBuf.copyWithin(start, start + head, end);
    this.blockLen = end - head;
  }

  private finishBlock(tsNs: number): void {
    this.inBlock = false;
    const b = this.block;
    const f = b.fields;
    f.method = f.path = f.contentType = undefined;
    f.status = f.grpcStatus = undefined;
    if (!this.decoder) {
      this.decoder = new HpackDecoder(this.fresh);
      this.decoder.table.allow(this.tableLimit);
    }
    if (b.lost) {
      this.decoder.table.lose();
      b.result = MALFORMED;
    } else b.result = this.decoder.decode(this.blockBuf, 0, this.blockLen, this.sink);
    this.session.headerBlock(this.isClient, b, tsNs);
  }

  private field(name: string, value: string): void {
    const f = this.block.fields;
    if (name.charCodeAt(0) === 58 /* ':' */) {
      if (name === ":method") f.method = value;
      else if (name === ":path") f.path = value;
      else if (name === ":status") f.status = Number.parseInt(value, 10) || 0;
    } else if (name === "content-type") f.contentType = value;
    else if (name === "grpc-status") {
      const n = Number.parseInt(value, 10);
      f.grpcStatus = Number.isNaN(n) ? 2 : n; // unparseable: UNKNOWN
    }
  }

  /** SETTINGS this side sent bind what the peer may send. */
  private settings(): void {
    for (let p = 0; p + 6 <= this.smallLen; p += 6) {
      const id = u16be(this.small, p);
      const value = u32be(this.small, p + 2);
      if (id === Setting.HeaderTableSize) {
        this.peer.tableLimit = Math.max(this.peer.tableLimit, value);
        this.peer.decoder?.table.allow(value);
      } else if (id === Setting.MaxFrameSize) this.peer.maxFrameSize = Math.max(this.peer.maxFrameSize, value);
    }
  }

  /** The framing is lost (a gap past a frame's end, bytes that are not frames): the header
   *  block in progress and the table go with it; frames resume at a plausible chunk start. */
  private lose(tsNs: number): void {
    this.state = State.Lost;
    this.stats.resyncs++;
    this.headerLen = 0;
    if (this.inBlock) {
      this.block.lost = true;
      this.finishBlock(tsNs); // the stream learns its headers are lost
    }
    this.decoder?.table.lose();
  }
}

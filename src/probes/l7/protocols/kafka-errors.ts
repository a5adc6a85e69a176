// Reads the error code of a Kafka response body, as far as the captured head of the
// message reaches. Which codes are read (field layouts from kafka-clients 4.1.1's message
// schemas, every version from 0):
// - the top-level error_code of the APIs in TOP_LEVEL_ERROR (kafka-apis.ts): ApiVersions,
//   JoinGroup, SyncGroup, Heartbeat, LeaveGroup, ListGroups, InitProducerId, FindCoordinator
//   v0-3, the SASL, transaction, delegation-token, quorum and controller APIs …;
// - Produce: every partition's error_code;
// - Fetch: the top-level error_code (v7+) and each partition's, up to the first partition
//   whose records run past the captured bytes;
// - Metadata: every topic's and partition's error_code and the top-level one (v13+);
// - ListOffsets, OffsetCommit, OffsetFetch (partitions and groups), FindCoordinator v4+ (per
//   coordinator), CreateTopics, DeleteTopics, DescribeGroups, DescribeTopicPartitions (what
//   Kafka 4's admin client describes topics with): each entry's error_code.
// The first non-zero code found decides; a response cut before any code (or of another API)
// counts as no error.
import { ApiKey, TOP_LEVEL_ERROR } from "./kafka-apis.ts";
import { i16be, i32be } from "./bytes.ts";

/** A bounds-checked reader over the captured head of one message; `ok` turns false at the end. */
export class KafkaCursor {
  buf: Uint8Array = new Uint8Array(0);
  pos = 0;
  end = 0;
  flexible = false;
  ok = true;

  reset(buf: Uint8Array, pos: number, end: number, flexible: boolean): void {
    this.buf = buf;
    this.pos = pos;
    this.end = end;
    this.flexible = flexible;
    this.ok = true;
  }

  private has(n: number): boolean {
    if (this.ok && this.end - this.pos >= n) return true;
    this.ok = false;
    return false;
  }

  skip(n: number): void {
    if (this.has(n)) this.pos += n;
  }

  i16(): number {
    if (!this.has(2)) return 0;
    const v = i16be(this.buf, this.pos);
    this.pos += 2;
    return v;
  }

  i32(): number {
    if (!this.has(4)) return 0;
    const p = this.pos;
    this.pos += 4;
    return i32be(this.buf, p);
  }

  uvarint(): number {
    let v = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      if (!this.has(1)) return 0;
      const b = this.buf[this.pos++]!;
      v += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return v;
    }
    this.ok = false;
    return 0;
  }

  /** Array length (-1 for null); compact arrays when flexible. */
  arr(): number {
    return this.flexible ? this.uvarint() - 1 : this.i32();
  }

  /** Skips a (nullable) string. */
  str(): void {
    const n = this.flexible ? this.uvarint() - 1 : this.i16();
    if (n > 0) this.skip(n);
  }

  /** Skips (nullable) bytes or records. */
  bytes(): void {
    const n = this.flexible ? this.uvarint() - 1 : this.i32();
    if (n > 0) this.skip(n);
  }

  /** Skips a tagged-field section (flexible versions only). */
  tags(): void {
    if (!this.flexible) return;
    const count = this.uvarint();
    for (let i = 0; i < count && this.ok; i++) {
      this.uvarint();
      this.skip(this.uvarint());
    }
  }

  /** A loop bound: an array length, or 0 when it is null, negative or unreadable. */
  count(): number {
    const n = this.arr();
    return this.ok && n > 0 ? n : 0;
  }
}

/** The first non-zero error code in a response body of `apiKey`/`version` (0 when none is readable). */
export function responseErrorCode(c: KafkaCursor, apiKey: number, version: number): number {
  switch (apiKey) {
    case ApiKey.Produce:
      return produce(c, version);
    case ApiKey.Fetch:
      return fetch(c, version);
    case ApiKey.ListOffsets:
      return listOffsets(c, version);
    case ApiKey.Metadata:
      return metadata(c, version);
    case ApiKey.OffsetCommit:
      return offsetCommit(c, version);
    case ApiKey.OffsetFetch:
      return offsetFetch(c, version);
    case ApiKey.DescribeGroups:
      return describeGroups(c, version);
    case ApiKey.CreateTopics:
      return createTopics(c, version);
    case ApiKey.DeleteTopics:
      return deleteTopics(c, version);
    case ApiKey.DescribeTopicPartitions:
      return describeTopicPartitions(c);
  }
  if (apiKey === ApiKey.FindCoordinator && version >= 4) return findCoordinators(c);
  const at = TOP_LEVEL_ERROR.get(apiKey);
  if (!at || version < at[1] || version > at[2]) return 0;
  if (version >= at[0]) c.skip(4);
  return c.i16();
}

function produce(c: KafkaCursor, v: number): number {
  for (let t = c.count(); t > 0 && c.ok; t--) {
    if (v <= 12) c.str();
    else c.skip(16);
    for (let p = c.count(); p > 0 && c.ok; p--) {
      c.skip(4);
      const e = c.i16();
      if (e !== 0) return e;
      c.skip(v >= 5 ? 24 : v >= 2 ? 16 : 8);
      if (v >= 8) {
        for (let r = c.count(); r > 0 && c.ok; r--) {
          c.skip(4);
          c.str();
          c.tags();
        }
        c.str();
      }
      c.tags();
    }
    c.tags();
  }
  return 0;
}

function fetch(c: KafkaCursor, v: number): number {
  if (v >= 1) c.skip(4);
  if (v >= 7) {
    const e = c.i16();
    if (e !== 0) return e;
    c.skip(4);
  }
  for (let t = c.count(); t > 0 && c.ok; t--) {
    if (v <= 12) c.str();
    else c.skip(16);
    for (let p = c.count(); p > 0 && c.ok; p--) {
      c.skip(4);
      const e = c.i16();
      if (e !== 0) return e;
      c.skip(v >= 5 ? 24 : v >= 4 ? 16 : 8);
      if (v >= 4) {
        for (let a = c.count(); a > 0 && c.ok; a--) {
          c.skip(16);
          c.tags();
        }
      }
      if (v >= 11) c.skip(4);
      c.bytes();
      c.tags();
    }
    c.tags();
  }
  return 0;
}

function listOffsets(c: KafkaCursor, v: number): number {
  if (v >= 2) c.skip(4);
  for (let t = c.count(); t > 0 && c.ok; t--) {
    c.str();
    for (let p = c.count(); p > 0 && c.ok; p--) {
      c.skip(4);
      const e = c.i16();
      if (e !== 0) return e;
      if (v === 0) c.skip(8 * c.count());
      else c.skip(v >= 4 ? 20 : 16);
      c.tags();
    }
    c.tags();
  }
  return 0;
}

function int32s(c: KafkaCursor): void {
  c.skip(4 * c.count());
}

function metadata(c: KafkaCursor, v: number): number {
  if (v >= 3) c.skip(4);
  for (let b = c.count(); b > 0 && c.ok; b--) {
    c.skip(4);
    c.str();
    c.skip(4);
    if (v >= 1) c.str();
    c.tags();
  }
  if (v >= 2) c.str();
  if (v >= 1) c.skip(4);
  for (let t = c.count(); t > 0 && c.ok; t--) {
    const e = c.i16();
    if (e !== 0) return e;
    c.str();
    if (v >= 10) c.skip(16);
    if (v >= 1) c.skip(1);
    for (let p = c.count(); p > 0 && c.ok; p--) {
      const pe = c.i16();
      if (pe !== 0) return pe;
      c.skip(v >= 7 ? 12 : 8);
      int32s(c);
      int32s(c);
      if (v >= 5) int32s(c);
      c.tags();
    }
    if (v >= 8) c.skip(4);
    c.tags();
  }
  if (v >= 8 && v <= 10) c.skip(4);
  return v >= 13 ? c.i16() : 0;
}

function offsetCommit(c: KafkaCursor, v: number): number {
  if (v >= 3) c.skip(4);
  for (let t = c.count(); t > 0 && c.ok; t--) {
    if (v <= 9) c.str();
    else c.skip(16);
    for (let p = c.count(); p > 0 && c.ok; p--) {
      c.skip(4);
      const e = c.i16();
      if (e !== 0) return e;
      c.tags();
    }
    c.tags();
  }
  return 0;
}

/** OffsetFetch partitions (v0-7 per topic, v8+ per group's topic). */
function offsetFetchTopics(c: KafkaCursor, v: number): number {
  for (let t = c.count(); t > 0 && c.ok; t--) {
    if (v <= 9) c.str();
    else c.skip(16);
    for (let p = c.count(); p > 0 && c.ok; p--) {
      c.skip(v >= 5 ? 16 : 12);
      c.str();
      const e = c.i16();
      if (e !== 0) return e;
      c.tags();
    }
    c.tags();
  }
  return 0;
}

function offsetFetch(c: KafkaCursor, v: number): number {
  if (v >= 3) c.skip(4);
  if (v <= 7) {
    const e = offsetFetchTopics(c, v);
    if (e !== 0 || v < 2) return e;
    return c.i16();
  }
  for (let g = c.count(); g > 0 && c.ok; g--) {
    c.str();
    const e = offsetFetchTopics(c, v);
    if (e !== 0) return e;
    const ge = c.i16();
    if (ge !== 0) return ge;
    c.tags();
  }
  return 0;
}

function findCoordinators(c: KafkaCursor): number {
  c.skip(4);
  for (let k = c.count(); k > 0 && c.ok; k--) {
    c.str();
    c.skip(4);
    c.str();
    c.skip(4);
    const e = c.i16();
    if (e !== 0) return e;
    c.str();
    c.tags();
  }
  return 0;
}

function describeGroups(c: KafkaCursor, v: number): number {
  if (v >= 1) c.skip(4);
  for (let g = c.count(); g > 0 && c.ok; g--) {
    const e = c.i16();
    if (e !== 0) return e;
    if (v >= 6) c.str();
    for (let s = 0; s < 4; s++) c.str();
    for (let m = c.count(); m > 0 && c.ok; m--) {
      c.str();
      if (v >= 4) c.str();
      c.str();
      c.str();
      c.bytes();
      c.bytes();
      c.tags();
    }
    if (v >= 3) c.skip(4);
    c.tags();
  }
  return 0;
}

function createTopics(c: KafkaCursor, v: number): number {
  if (v >= 2) c.skip(4);
  for (let t = c.count(); t > 0 && c.ok; t--) {
    c.str();
    if (v >= 7) c.skip(16);
    const e = c.i16();
    if (e !== 0) return e;
    if (v >= 1) c.str();
    if (v >= 5) {
      c.skip(6);
      for (let k = c.count(); k > 0 && c.ok; k--) {
        c.str();
        c.str();
        c.skip(3);
        c.tags();
      }
    }
    c.tags();
  }
  return 0;
}

function deleteTopics(c: KafkaCursor, v: number): number {
  if (v >= 1) c.skip(4);
  for (let t = c.count(); t > 0 && c.ok; t--) {
    c.str();
    if (v >= 6) c.skip(16);
    const e = c.i16();
    if (e !== 0) return e;
    if (v >= 5) c.str();
    c.tags();
  }
  return 0;
}

function describeTopicPartitions(c: KafkaCursor): number {
  c.skip(4);
  for (let t = c.count(); t > 0 && c.ok; t--) {
    const e = c.i16();
    if (e !== 0) return e;
    c.str();
    c.skip(17);
    for (let p = c.count(); p > 0 && c.ok; p--) {
      const pe = c.i16();
      if (pe !== 0) return pe;
      c.skip(12);
      for (let list = 0; list < 5; list++) int32s(c);
      c.tags();
    }
    c.skip(4);
    c.tags();
  }
  return 0;
}

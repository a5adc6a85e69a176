import { describe, expect, test } from "bun:test";
import type { Logger } from "../log/logger.ts";
import { SinkSet, type OutputSink } from "./sink.ts";

class BrokenSink implements OutputSink {
  event(): void {
    throw new Error("disk full");
  }
}

describe("SinkSet", () => {
  test("a sink that throws is counted, logged at its first failure (then at most once a minute), and the others still get the line", () => {
    const warned: string[] = [];
    const log: Logger = { debug() {}, info() {}, warn: (m) => void warned.push(m), error() {}, child: () => log };
    const got: string[] = [];
    const set = new SinkSet([new BrokenSink(), { event: (l) => void got.push(l) }], log);
    set.event("a");
    set.event("b");
    set.event("c");
    expect(got).toEqual(["a", "b", "c"]);
    expect(set.failures).toBe(3);
    expect(warned).toEqual(["output BrokenSink: writing event failed: disk full"]);
  });
});

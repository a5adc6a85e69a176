// HPACK decoder against RFC 7541 Appendix C (the RFC's own examples, with and without
// Huffman coding, with eviction) and the honesty rules for an unknown dynamic table.
import { describe, expect, test } from "bun:test";
import { HUFFMAN, huffmanDecode } from "./hpack-huffman.ts";
import { HpackDecoder, MALFORMED } from "./hpack.ts";

const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ""), "hex"));
function decode(d: HpackDecoder, block: string): { fields: [string, string][]; result: number } {
  const fields: [string, string][] = [];
  const b = hex(block);
  const result = d.decode(b, 0, b.length, (n, v) => fields.push([n, v]));
  return { fields, result };
}

describe("HPACK Huffman code (RFC 7541 Appendix B)", () => {
  test("codes the RFC lists", () => {
    const at = (c: string | number) => (typeof c === "number" ? c : c.charCodeAt(0));
    expect([HUFFMAN.codes[at(0)], HUFFMAN.lengths[at(0)]]).toEqual([0x1ff8, 13]);
    expect([HUFFMAN.codes[at(" ")], HUFFMAN.lengths[at(" ")]]).toEqual([0x14, 6]);
    expect([HUFFMAN.codes[at("0")], HUFFMAN.lengths[at("0")]]).toEqual([0x0, 5]);
    expect([HUFFMAN.codes[at("a")], HUFFMAN.lengths[at("a")]]).toEqual([0x3, 5]);
    expect([HUFFMAN.codes[at("z")], HUFFMAN.lengths[at("z")]]).toEqual([0x7b, 7]);
    expect([HUFFMAN.codes[255], HUFFMAN.lengths[255]]).toEqual([0x3ffffee, 26]);
    expect([HUFFMAN.codes[256], HUFFMAN.lengths[256]]).toEqual([0x3fffffff, 30]);
  });
  test("rejects EOS in the string and padding that is not ones or is 8 bits long", () => {
    const out = new Uint8Array(64);
    const www = hex("f1e3c2e5f23a6ba0ab90f4ff");
    expect(Buffer.from(out.subarray(0, huffmanDecode(www, 0, www.length, out, 0))).toString()).toBe("www.example.com");
    expect(huffmanDecode(hex("f1e3c2e5f23a6ba0ab90f4fe"), 0, 12, out, 0)).toBe(-1); // padding ends in 0
    expect(huffmanDecode(hex("f1e3c2e5f23a6ba0ab90f4ffff"), 0, 13, out, 0)).toBe(-1); // > 7 bits of padding
    expect(huffmanDecode(hex("ffffffff"), 0, 4, out, 0)).toBe(-1); // EOS
  });
});

describe("HPACK decoder (RFC 7541 Appendix C)", () => {
  test("C.3 requests without Huffman, one table across three blocks", () => {
    const d = new HpackDecoder(true);
    expect(decode(d, "828684410f7777772e6578616d706c652e636f6d")).toEqual({ fields: [[":method", "GET"], [":scheme", "http"], [":path", "/"], [":authority", "www.example.com"]], result: 0 });
    expect(decode(d, "828684be58086e6f2d6361636865").fields).toEqual([[":method", "GET"], [":scheme", "http"], [":path", "/"], [":authority", "www.example.com"], ["cache-control", "no-cache"]]);
    expect(decode(d, "828785bf400a637573746f6d2d6b65790c637573746f6d2d76616c7565").fields).toEqual([[":method", "GET"], [":scheme", "https"], [":path", "/index.html"], [":authority", "www.example.com"], ["custom-key", "custom-value"]]);
  });
  test("C.4 the same requests with Huffman", () => {
    const d = new HpackDecoder(true);
    expect(decode(d, "828684418cf1e3c2e5f23a6ba0ab90f4ff").fields[3]).toEqual([":authority", "www.example.com"]);
    expect(decode(d, "828684be5886a8eb10649cbf").fields[4]).toEqual(["cache-control", "no-cache"]);
    expect(decode(d, "828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf").fields[4]).toEqual(["custom-key", "custom-value"]);
  });
  test("C.6 responses with Huffman in a 256-byte table: entries evicted", () => {
    const d = new HpackDecoder(true);
    expect(d.table.resize(256)).toBe(true);
    decode(d, "488264025885aec3771a4b6196d07abe941054d444a8200595040b8166e082a62d1bff6e919d29ad171863c78f0b97c8e9ae82ae43d3");
    expect(decode(d, "4883640effc1c0bf").fields).toEqual([[":status", "307"], ["cache-control", "private"], ["date", "Mon, 21 Oct 2013 20:13:21 GMT"], ["location", "https://www.example.com"]]);
    const third = decode(d, "88c16196d07abe941054d444a8200595040b8166e084a62d1bffc05a839bd9ab77ad94e7821dd7f2e6c7b335dfdfcd5b3960d5af27087f3672c1ab270fb5291f9587316065c003ed4ee5b1063d5007");
    expect(third.fields).toEqual([
      [":status", "200"],
      ["cache-control", "private"],
      ["date", "Mon, 21 Oct 2013 20:13:22 GMT"],
      ["location", "https://www.example.com"],
      ["content-encoding", "gzip"],
      ["set-cookie", "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1"],
    ]);
    expect(d.table.length).toBe(3);
  });
});

describe("a table seen mid-way", () => {
  test("references to entries inserted before we looked are counted, never guessed; later insertions decode", () => {
    const d = new HpackDecoder(false);
    // C.3's third block on a table we never saw fill: :authority (index 62) is unknown.
    const r = decode(d, "828785bf400a637573746f6d2d6b65790c637573746f6d2d76616c7565");
    expect(r.result).toBe(1);
    expect(r.fields.map(([n]) => n)).toEqual([":method", ":scheme", ":path", "custom-key"]);
    // custom-key was inserted while we watched: it is index 62 now and decodes.
    expect(decode(d, "be").fields).toEqual([["custom-key", "custom-value"]]);
    expect(decode(d, "bf").result).toBe(1);
    expect(d.table.complete).toBe(false);
  });
  test("a size update to 0 makes the table known again; an unknown index in a known table is malformed", () => {
    const d = new HpackDecoder(false);
    expect(decode(d, "20").result).toBe(0);
    expect(d.table.complete).toBe(true);
    expect(decode(d, "be").result).toBe(MALFORMED);
    expect(d.table.complete).toBe(false); // a malformed block loses the table
  });
  test("a literal with an unknown indexed name still inserts: later indices stay right", () => {
    const d = new HpackDecoder(false);
    // 0x7f 0x00 = literal with indexing, name index 63 (unknown); value "x"; then a known insertion.
    const r = decode(d, "7f0001784003616263017a");
    expect(r.result).toBe(1);
    expect(r.fields).toEqual([["abc", "z"]]);
    expect(decode(d, "be").fields).toEqual([["abc", "z"]]);
    expect(decode(d, "bf").result).toBe(1);
  });
});

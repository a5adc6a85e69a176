// Detection runs the enabled parsers in turn on the first bytes of a connection (either
// side) until one claims them: the HTTP/1.x and Redis parsers must not claim what the
// other protocols' recorded traffic (testdata/<proto>/*.jsonl) sends first, nor each other's.
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Looks, type ProtocolParser, type Transport } from "../protocol.ts";
import { httpParser } from "./http.ts";
import { redisParser } from "./redis.ts";

interface First {
  fixture: string;
  bytes: Uint8Array;
  transport: Transport;
}

/** The first chunk of each side of each connection of every recorded fixture of `protos`. */
function firstChunks(protos: string[]): First[] {
  const out: First[] = [];
  const root = join(import.meta.dir, "testdata");
  for (const proto of protos) {
    let files: string[];
    try {
      files = readdirSync(join(root, proto)).filter((f) => f.endsWith(".jsonl"));
    } catch {
      continue; // that parser's fixtures are not in this tree
    }
    for (const f of files) {
      const seen = new Set<string>();
      for (const line of readFileSync(join(root, proto, f), "utf8").split("\n")) {
        if (!line.trim()) continue;
        const o = JSON.parse(line) as { conn?: number; dir?: string; hex?: string };
        if (typeof o.hex !== "string" || (o.dir !== "req" && o.dir !== "resp")) continue; // a log, not traffic
        const key = `${o.conn ?? 0}/${o.dir}`;
        if (seen.has(key) || o.hex.length === 0) continue;
        seen.add(key);
        out.push({ fixture: `${proto}/${f} ${key}`, bytes: Uint8Array.from(Buffer.from(o.hex, "hex")), transport: proto === "dns" && f.startsWith("udp") ? "udp" : "tcp" });
      }
    }
  }
  return out;
}

function claimed(parser: ProtocolParser, chunks: First[]): string[] {
  return chunks.filter((c) => parser.detect(c.bytes, c.transport) !== Looks.No).map((c) => c.fixture);
}

const others = ["dns", "http2", "kafka", "mongo", "mysql", "pgsql"];

describe("detection across protocols", () => {
  test("HTTP/1.x claims none of the other protocols' first bytes, nor Redis'", () => {
    const chunks = firstChunks([...others, "redis"]);
    expect(chunks.length).toBeGreaterThan(20);
    expect(claimed(httpParser, chunks)).toEqual([]);
  });

  test("Redis claims none of the other protocols' first bytes, nor HTTP/1.x's", () => {
    const chunks = firstChunks([...others, "http"]);
    expect(chunks.length).toBeGreaterThan(20);
    expect(claimed(redisParser, chunks)).toEqual([]);
  });

  test("each claims its own: every first request as a request, every first response as a response", () => {
    for (const [parser, proto] of [[httpParser, "http"], [redisParser, "redis"]] as const) {
      const chunks = firstChunks([proto]);
      expect(chunks.length).toBeGreaterThan(10);
      for (const c of chunks) {
        // A Redis reply that is an array of bulk strings is byte for byte a command: it is
        // claimed as one (the client speaks first, so detection normally sees the command).
        const ambiguous = proto === "redis" && c.fixture.endsWith("/resp") && c.bytes[0] === 42;
        const want = c.fixture.endsWith("/req") || ambiguous ? Looks.Request : Looks.Response;
        expect([c.fixture, parser.detect(c.bytes, c.transport)]).toEqual([c.fixture, want]);
      }
    }
  });
});

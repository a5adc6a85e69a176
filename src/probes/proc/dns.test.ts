import { describe, expect, test } from "bun:test";
import { DNS_RECORD_BYTES, DnsAggregator, decodeDns } from "./dns.ts";

function record(tgid: number, failed: boolean, ns: bigint, name: string): DataView {
  const v = new DataView(new ArrayBuffer(DNS_RECORD_BYTES));
  v.setUint32(0, tgid, true);
  v.setUint32(4, failed ? 1 : 0, true);
  v.setBigUint64(8, ns, true);
  new Uint8Array(v.buffer, 16).set(new TextEncoder().encode(name));
  return v;
}

describe("proc_dns", () => {
  test("decodes a ring record; a short one is refused", () => {
    expect(decodeDns(record(42, true, 1234n, "example.org"), 0, DNS_RECORD_BYTES)).toEqual({ tgid: 42, failed: true, ns: 1234, domain: "example.org" });
    expect(decodeDns(record(42, false, 1n, "x"), 0, DNS_RECORD_BYTES - 1)).toBeUndefined();
    // A name filling the whole field (no NUL) is taken as is.
    const long = "a".repeat(256);
    expect(decodeDns(record(1, false, 1n, long), 0, DNS_RECORD_BYTES)?.domain).toBe(long);
  });

  test("aggregates per (tgid, domain) and period; error ratio and its event", () => {
    const agg = new DnsAggregator(16);
    for (const ns of [100, 300]) agg.add({ tgid: 7, failed: false, ns, domain: "a" });
    agg.add({ tgid: 7, failed: true, ns: 50, domain: "b" });
    agg.add({ tgid: 8, failed: false, ns: 10, domain: "a" });
    const { rows, events } = agg.endPeriod();
    expect(rows).toEqual([
      { tgid: "7", domain: "a", delay_avg: 200, max_delay: 300, error_ratio: 0, count: 2, error_count: 0 },
      { tgid: "7", domain: "b", delay_avg: 50, max_delay: 50, error_ratio: 1, count: 1, error_count: 1 },
      { tgid: "8", domain: "a", delay_avg: 10, max_delay: 10, error_ratio: 0, count: 1, error_count: 0 },
    ]);
    expect(events).toEqual([{ entity: "dns", key: "7_b", metric: "error_ratio", message: "Process(PID:7) DNS error ratio(100.000 %).", pid: "7" }]);
    expect(agg.endPeriod().rows).toEqual([]);
  });

  test("bounded: pairs beyond the limit are counted, forget drops a process", () => {
    const agg = new DnsAggregator(2);
    for (const d of ["a", "b", "c", "d"]) agg.add({ tgid: 1, failed: false, ns: 1, domain: d });
    agg.add({ tgid: 1, failed: false, ns: 1, domain: "a" });
    expect(agg.overflow).toBe(2);
    agg.forget(1);
    expect(agg.endPeriod().rows).toEqual([]);
  });
});

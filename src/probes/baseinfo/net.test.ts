import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import path from "node:path";
import { FixtureHost, HOSTS, fakeDeps } from "./test-fixture-host.ts";
import { createNetCollector, netRows, parseSnmp } from "./net.ts";
import { recordingContext } from "./test-context.ts";

const fx = (host: string, rel: string): string => readFileSync(path.join(HOSTS, host, rel), "utf8");

describe("parseSnmp", () => {
  test("bare-metal fixture: header/value pairs by name, signed MaxConn", () => {
    const s = parseSnmp(fx("bare-metal", "proc/net/snmp"));
    expect(s.errors).toEqual([]);
    expect([...s.protos.keys()]).toEqual(["Ip", "Icmp", "Tcp", "Udp", "UdpLite"]);
    const tcp = s.protos.get("Tcp");
    expect(tcp?.get("MaxConn")).toBe(-1);
    expect([tcp?.get("CurrEstab"), tcp?.get("InSegs"), tcp?.get("OutSegs"), tcp?.get("RetransSegs"), tcp?.get("InErrs")]).toEqual([42, 1000000, 900000, 1200, 3]);
    expect([s.protos.get("Udp")?.get("InDatagrams"), s.protos.get("Udp")?.get("OutDatagrams")]).toEqual([50000, 48000]);
  });

  test("column order is taken from the header, not assumed", () => {
    const s = parseSnmp("Tcp: InSegs CurrEstab\nTcp: 7 2\n");
    expect(s.protos.get("Tcp")?.get("CurrEstab")).toBe(2);
  });

  test("broken fixture: bad sections rejected, the good Udp kept", () => {
    const s = parseSnmp(fx("broken", "proc/net/snmp"));
    expect([...s.protos.keys()]).toEqual(["Udp"]);
    // Tcp width mismatch, garbage line, UdpLite bad value, Icmp cut off
    expect(s.errors.length).toBe(4);
  });

  test("total on garbage", () => {
    for (const t of ["", "Tcp:\n", "Tcp: a\n", ":\n:\n", "Tcp: A B\nUdp: 1 2\n", "\u0000\n"]) expect(() => parseSnmp(t)).not.toThrow();
    expect(parseSnmp("Tcp: A B\nUdp: 1 2\n").errors.length).toBeGreaterThan(0);
  });
});

describe("netRows", () => {
  const a = parseSnmp(fx("bare-metal", "proc/net/snmp"));
  const b = parseSnmp(fx("bare-metal", "proc/net/snmp.next"));
  test("first sample: CurrEstab only", () => {
    expect(netRows(undefined, a)).toEqual({
      tcp: { origin: "/proc/net/snmp", tcp_curr_estab: 42, tcp_in_segs: undefined, tcp_out_segs: undefined, tcp_retrans_segs: undefined, tcp_in_errs: undefined },
      udp: { origin: "/proc/net/snmp", udp_indata_grams: undefined, udp_outdata_grams: undefined },
    });
  });
  test("deltas between samples; CurrEstab absolute", () => {
    expect(netRows(a, b)).toEqual({
      tcp: { origin: "/proc/net/snmp", tcp_curr_estab: 45, tcp_in_segs: 5000, tcp_out_segs: 4000, tcp_retrans_segs: 10, tcp_in_errs: 1 },
      udp: { origin: "/proc/net/snmp", udp_indata_grams: 600, udp_outdata_grams: 550 },
    });
  });
  test("counter went backwards (namespace re-created): no delta", () => {
    expect(netRows(b, a).tcp?.tcp_in_segs).toBeUndefined();
  });
});

describe("net collector", () => {
  test("bare-metal two samples; reset forgets the baseline", () => {
    const host = new FixtureHost("bare-metal");
    const ctx = recordingContext(host, ["net"]);
    const c = createNetCollector(ctx, fakeDeps(host.paths.rootfs));
    c.collect();
    host.next = true;
    ctx.clear();
    c.collect();
    expect(ctx.table("system_tcp")).toEqual([{ origin: "/proc/net/snmp", tcp_curr_estab: 45, tcp_in_segs: 5000, tcp_out_segs: 4000, tcp_retrans_segs: 10, tcp_in_errs: 1 }]);
    expect(ctx.table("system_udp")).toEqual([{ origin: "/proc/net/snmp", udp_indata_grams: 600, udp_outdata_grams: 550 }]);
    c.reset();
    ctx.clear();
    c.collect();
    expect(ctx.table("system_tcp")[0]?.tcp_in_segs).toBeUndefined();
  });
  test("broken host: Tcp skipped and counted, Udp still reported", () => {
    const ctx = recordingContext(new FixtureHost("broken"), ["net"]);
    createNetCollector(ctx, fakeDeps("")).collect();
    expect(ctx.table("system_tcp")).toEqual([]);
    expect(ctx.table("system_udp").length).toBe(1);
    expect(ctx.parseErrors.map((e) => e.item)).toEqual(["/proc/net/snmp"]);
  });
  test("missing file: counted, nothing emitted", () => {
    const ctx = recordingContext(new FixtureHost("vm"), ["net"]);
    ctx.host.readProc = () => undefined;
    createNetCollector(ctx, fakeDeps("")).collect();
    expect(ctx.parseErrors).toEqual([{ item: "/proc/net/snmp", detail: "unreadable" }]);
  });
});

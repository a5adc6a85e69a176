import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import path from "node:path";
import { TC_H_INGRESS, TC_H_ROOT, type QdiscInfo } from "../../host/netlink.ts";
import { FixtureHost, HOSTS, fakeDeps } from "./test-fixture-host.ts";
import { createNicCollector, isPhysicalNic, nicEvents, nicRows, nicStatus, parseNetDev, physicalNics, qdiscTotals, type NicSample } from "./nic.ts";
import { recordingContext } from "./test-context.ts";

const fx = (host: string, rel: string): string => readFileSync(path.join(HOSTS, host, rel), "utf8");

describe("parseNetDev", () => {
  test("bare-metal fixture: every interface, 16 counters, file order", () => {
    const d = parseNetDev(fx("bare-metal", "proc/net/dev"));
    expect(d.errors).toEqual([]);
    expect([...d.devices.keys()]).toEqual(["lo", "eth0", "eth1", "vethab12cd"]);
    expect(d.devices.get("eth0")).toEqual({
      rx_bytes: 9876543210,
      rx_packets: 12345678,
      rx_errs: 0,
      rx_drop: 10,
      rx_fifo: 0,
      rx_frame: 0,
      rx_compressed: 0,
      rx_multicast: 1500,
      tx_bytes: 5432109876,
      tx_packets: 8765432,
      tx_errs: 0,
      tx_drop: 0,
      tx_fifo: 0,
      tx_colls: 0,
      tx_carrier: 0,
      tx_compressed: 0,
    });
  });

  test("a counter touching the colon and a long name", () => {
    const d = parseNetDev("h|\nh|\n  eth0:123 1 0 0 0 0 0 0 4 1 0 0 0 0 0 0\nvethlongname12:0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n");
    expect(d.errors).toEqual([]);
    expect(d.devices.get("eth0")?.rx_bytes).toBe(123);
    expect(d.devices.has("vethlongname12")).toBe(true);
  });

  test("broken fixture: keeps good lines, one error per bad one", () => {
    const d = parseNetDev(fx("broken", "proc/net/dev"));
    expect([...d.devices.keys()]).toEqual(["lo", "eth2"]);
    // eth0 garbage counter, eth1 too few counters, line without a colon, eth3 cut off
    expect(d.errors.length).toBe(4);
    expect(d.errors.join("\n")).toContain("eth0 bad rx_bytes");
    expect(d.errors.join("\n")).toContain("truncated");
  });

  test("total on garbage", () => {
    for (const t of ["", "\n\n", ":", "::::\n", "\0\0\0", "a: b c\n", "x".repeat(10000)]) {
      expect(() => parseNetDev(t)).not.toThrow();
    }
    expect(parseNetDev(undefined as unknown as string).errors.length).toBe(1);
  });
});

describe("physical interfaces", () => {
  test("bare-metal: eth0 and eth1; lo and the veth are virtual", () => {
    const h = new FixtureHost("bare-metal");
    expect(physicalNics(h)).toEqual(["eth0", "eth1"]);
    expect(isPhysicalNic(h, "lo")).toBe(false);
    expect(isPhysicalNic(h, "vethab12cd")).toBe(false);
  });
  test("vm: the virtio NIC is physical, docker0 is not", () => {
    expect(physicalNics(new FixtureHost("vm"))).toEqual(["eth0"]);
  });
  test("status label", () => {
    expect(nicStatus("up\n")).toBe("UP");
    expect(nicStatus("UP")).toBe("UP");
    expect(nicStatus("down\n")).toBe("DOWN");
    expect(nicStatus("unknown\n")).toBe("DOWN");
    expect(nicStatus(undefined)).toBe("DOWN");
  });
});

describe("qdiscTotals", () => {
  const q = (ifindex: number, parent: number, kind: string, o: Partial<QdiscInfo> = {}): QdiscInfo => ({ ifindex, handle: 0, parent, kind, ...o });
  test("root stats, ECN summed over children, ingress and unknown ifindex ignored", () => {
    const t = qdiscTotals(
      [
        q(2, TC_H_ROOT, "mq", { drops: 7, overlimits: 3, backlog: 1514 }),
        q(2, 0x10001, "fq_codel", { drops: 4, ecnMarks: 11 }),
        q(2, 0x10002, "fq_codel", { drops: 3, ecnMarks: 6 }),
        q(2, TC_H_INGRESS, "ingress", { drops: 99, ecnMarks: 99 }),
        q(3, TC_H_ROOT, "pfifo_fast", { drops: 0, overlimits: 0, backlog: 0 }),
        q(42, TC_H_ROOT, "noqueue", { drops: 5 }),
      ],
      new Map([
        [2, "eth0"],
        [3, "eth1"],
      ]),
    );
    expect(t.get("eth0")).toEqual({ drops: 7, overlimits: 3, backlog: 1514, ecnMarks: 17 });
    expect(t.get("eth1")).toEqual({ drops: 0, overlimits: 0, backlog: 0, ecnMarks: 0 });
    expect(t.size).toBe(2);
  });
});

describe("nicRows", () => {
  const sample = (next: boolean, qdisc?: NicSample["qdisc"], uptime?: number): NicSample => ({
    dev: parseNetDev(fx("bare-metal", `proc/net/dev${next ? ".next" : ""}`)),
    uptime: uptime ?? (next ? 350005 : 350000),
    mono: 0,
    qdisc,
  });
  const status = (n: string) => (n === "eth0" ? "up" : "down");

  test("first sample: status and absolute tc figures only, no deltas", () => {
    const r = nicRows(undefined, sample(false, new Map([["eth0", { drops: 5, overlimits: 1, backlog: 300, ecnMarks: 2 }]])), ["eth0"], status);
    expect(r.rows).toEqual([
      {
        dev_name: "eth0",
        status: "UP",
        rx_bytes: undefined,
        rx_packets: undefined,
        rx_errs: undefined,
        rx_dropped: undefined,
        tx_bytes: undefined,
        tx_packets: undefined,
        tx_errs: undefined,
        tx_dropped: undefined,
        rxspeed_KB: undefined,
        txspeed_KB: undefined,
        tc_sent_drop: undefined,
        tc_sent_overlimits: undefined,
        tc_backlog: 300,
        tc_ecn_mark: 2,
      },
    ]);
    expect(r.deltas).toEqual([]);
  });

  test("deltas over 5 s, KB/s rates, qdisc drop/overlimit deltas", () => {
    const r = nicRows(
      sample(false, new Map([["eth0", { drops: 5, overlimits: 1, backlog: 300, ecnMarks: 2 }]])),
      sample(true, new Map([["eth0", { drops: 9, overlimits: 4, backlog: 0, ecnMarks: 3 }]])),
      ["eth0", "eth1"],
      status,
    );
    expect(r.rows[0]).toEqual({
      dev_name: "eth0",
      status: "UP",
      rx_bytes: 5242880,
      rx_packets: 4000,
      rx_errs: 0,
      rx_dropped: 2,
      tx_bytes: 2621440,
      tx_packets: 2500,
      tx_errs: 0,
      tx_dropped: 0,
      rxspeed_KB: "1024.00",
      txspeed_KB: "512.00",
      tc_sent_drop: 4,
      tc_sent_overlimits: 3,
      tc_backlog: 0,
      tc_ecn_mark: 3,
    });
    // eth1 has no qdisc entry although a dump exists: 0 as upstream reports
    expect(r.rows[1]).toMatchObject({ dev_name: "eth1", status: "DOWN", rx_bytes: 1000, rxspeed_KB: "0.20", txspeed_KB: "0.00", rx_errs: 15, rx_dropped: 25, tc_backlog: 0, tc_ecn_mark: 0, tc_sent_drop: undefined });
  });

  test("without a qdisc source tc_* are not reported; a counter reset gives no delta", () => {
    const prev = sample(true);
    const cur = sample(false, undefined, 350010);
    const r = nicRows(prev, cur, ["eth0"], status);
    expect(r.rows[0]?.rx_bytes).toBeUndefined();
    expect(r.rows[0]?.rxspeed_KB).toBeUndefined();
    expect(r.rows[0]?.tc_backlog).toBeUndefined();
    expect(r.rows[0]?.tc_ecn_mark).toBeUndefined();
  });

  test("events: drops_thr > 0 and delta > drops_thr, upstream texts", () => {
    const r = nicRows(sample(false), sample(true), ["eth0", "eth1"], status);
    expect(nicEvents(r.deltas, 0)).toEqual([]);
    expect(nicEvents(r.deltas, 10)).toEqual([
      { key: "eth1", metric: "rx_dropped", message: "net device rx queue drops(25).", device: "eth1" },
      { key: "eth1", metric: "rx_errs", message: "net device rx queue errors(15).", device: "eth1" },
    ]);
    expect(nicEvents(r.deltas, 25)).toEqual([]);
    expect(nicEvents([{ dev: "eth9", metric: "tx_dropped", value: 11 }, { dev: "eth9", metric: "tx_errs", value: 12 }], 10).map((e) => e.message)).toEqual([
      "net device tx queue drops(11).",
      "net device tx queue errors(12).",
    ]);
  });
});

describe("nic collector over fixture hosts", () => {
  test("bare-metal: physical NICs only, rows after the second sample, events", () => {
    const host = new FixtureHost("bare-metal");
    const ctx = recordingContext(host, ["nic"], { drops_thr: 10 });
    const c = createNicCollector(ctx, fakeDeps(host.paths.rootfs));
    c.collect();
    expect(ctx.table("nic").map((r) => [r.dev_name, r.status, r.rx_bytes])).toEqual([
      ["eth0", "UP", undefined],
      ["eth1", "DOWN", undefined],
    ]);
    expect(ctx.events).toEqual([]);
    ctx.clear();
    host.next = true;
    c.collect();
    expect(ctx.table("nic").map((r) => [r.dev_name, r.rx_bytes, r.tx_bytes, r.rxspeed_KB, r.txspeed_KB])).toEqual([
      ["eth0", 5242880, 2621440, "1024.00", "512.00"],
      ["eth1", 1000, 0, "0.20", "0.00"],
    ]);
    expect(ctx.events.map((e) => [e.entity, e.key, e.metric, e.message, e.device])).toEqual([
      ["nic", "eth1", "rx_dropped", "net device rx queue drops(25).", "eth1"],
      ["nic", "eth1", "rx_errs", "net device rx queue errors(15).", "eth1"],
    ]);
    expect(ctx.parseErrors).toEqual([]);
    // reset (reconfiguration): the next report has no deltas again
    ctx.clear();
    c.reset();
    c.collect();
    expect(ctx.table("nic").every((r) => r.rx_bytes === undefined)).toBe(true);
  });

  test("dev_name selects exactly that interface, virtual ones included", () => {
    const host = new FixtureHost("bare-metal");
    const ctx = recordingContext(host, ["nic"], { dev_name: "vethab12cd" });
    const c = createNicCollector(ctx, fakeDeps(host.paths.rootfs));
    c.collect();
    host.next = true;
    ctx.clear();
    c.collect();
    expect(ctx.table("nic")).toMatchObject([{ dev_name: "vethab12cd", status: "UP", rx_bytes: 2048, tx_bytes: 4096, rxspeed_KB: "0.40", txspeed_KB: "0.80" }]);
    ctx.params.dev_name = "nosuch0";
    ctx.clear();
    c.collect();
    expect(ctx.table("nic")).toEqual([]);
    expect(ctx.logs.some((l) => l.includes("dev_name nosuch0"))).toBe(true);
  });

  test("qdisc dump is mapped through /sys/class/net/<dev>/ifindex; a dump error is logged once", () => {
    const host = new FixtureHost("bare-metal");
    const ctx = recordingContext(host, ["nic"]);
    const dump = { qdiscs: [{ ifindex: 2, handle: 0, parent: TC_H_ROOT, kind: "fq_codel", drops: 1, overlimits: 0, backlog: 64, ecnMarks: 5 }], errors: [] };
    createNicCollector(ctx, fakeDeps(host.paths.rootfs, {}, () => dump)).collect();
    expect(ctx.table("nic").map((r) => [r.dev_name, r.tc_backlog, r.tc_ecn_mark])).toEqual([
      ["eth0", 64, 5],
      ["eth1", 0, 0],
    ]);
    const ctx2 = recordingContext(host, ["nic"]);
    const c2 = createNicCollector(ctx2, fakeDeps(host.paths.rootfs, {}, () => ({ error: "no netlink" })));
    c2.collect();
    c2.collect();
    expect(ctx2.logs.filter((l) => l.includes("no netlink")).length).toBe(1);
    expect(ctx2.table("nic")[0]?.tc_backlog).toBeUndefined();
  });

  test("vm: virtio eth0 over a 10 s uptime interval", () => {
    const host = new FixtureHost("vm");
    const ctx = recordingContext(host, ["nic"]);
    const c = createNicCollector(ctx, fakeDeps(host.paths.rootfs));
    c.collect();
    host.next = true;
    ctx.clear();
    c.collect();
    expect(ctx.table("nic")).toMatchObject([{ dev_name: "eth0", status: "UP", rx_bytes: 1024000, rxspeed_KB: "100.00", tx_bytes: 512000, txspeed_KB: "50.00", tx_dropped: 1 }]);
  });

  test("broken host: bad lines skipped and counted; bad uptime falls back to the monotonic clock", () => {
    const host = new FixtureHost("broken");
    const ctx = recordingContext(host, ["nic"], { dev_name: "eth2" });
    const deps = fakeDeps(host.paths.rootfs);
    const c = createNicCollector(ctx, deps);
    c.collect();
    expect(ctx.parseErrors.map((e) => e.item).sort()).toEqual(["/proc/net/dev", "/proc/uptime"]);
    deps.clock += 4;
    ctx.clear();
    c.collect();
    expect(ctx.table("nic")).toMatchObject([{ dev_name: "eth2", rx_bytes: 0, rxspeed_KB: "0.00" }]);
  });
});

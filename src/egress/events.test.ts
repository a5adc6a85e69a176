import { describe, expect, test } from "bun:test";
import { EventDeduper, ctime, formatEvent } from "./events.ts";
import { metadataMessage } from "./metadata.ts";
import { defineTable } from "../store/table.ts";

describe("events", () => {
  test("exact JSON layout of events-and-metadata.md §1.2", () => {
    const ts = Date.UTC(2023, 10, 14, 14, 14, 20, 345);
    const line = formatEvent(
      { entity: "fs", key: "/tmp", metric: "IUsePer", message: "Too many Inodes consumed(95%)." },
      "4c4c4544-0042-3510-8052-b4c04f4d4e32-192.168.1.20",
      ts,
    );
    const sec = Math.floor(ts / 1000) * 1000;
    const id = "4c4c4544-0042-3510-8052-b4c04f4d4e32-192.168.1.20_fs_:tmp";
    expect(line).toBe(
      `{"Timestamp":${sec},"event_id":"${sec}_${id}","Attributes":{"entity_id":"${id}","event_id":"${sec}_${id}","event_type":"sys"},` +
        `"Resource":{"metric":"gala_gopher_fs_IUsePer","labels":{"Host":"4c4c4544-0042-3510-8052-b4c04f4d4e32-192.168.1.20","PID":"","COMM":"","IP":"","ContainerID":"","POD":"","Device":""}},` +
        `"SeverityText":"WARN","SeverityNumber":13,"Body":"${ctime(new Date(sec))} WARN Entity(/tmp) Too many Inodes consumed(95%)."}`,
    );
    expect(() => JSON.parse(line)).not.toThrow();
  });

  test("ctime format", () => {
    const d = new Date(2023, 10, 4, 2, 3, 9);
    expect(ctime(d)).toBe("Sat Nov  4 02:03:09 2023");
  });

  test("de-duplication per entity key within the window; 0 disables", () => {
    const d = new EventDeduper(600);
    expect(d.admit("baseinfo", "cpu", 0)).toBe(true);
    expect(d.admit("baseinfo", "cpu", 599_000)).toBe(false);
    expect(d.admit("baseinfo", "/proc/meminfo", 599_000)).toBe(true);
    expect(d.admit("baseinfo", "cpu", 600_000)).toBe(true);
    const off = new EventDeduper(0);
    expect(off.admit("x", "k", 0) && off.admit("x", "k", 1)).toBe(true);
  });

  test("at most 1000 keys are remembered", () => {
    const d = new EventDeduper(600);
    for (let i = 0; i < 1500; i++) d.admit("p", `k${i}`, 1000);
    expect(d.admit("p", "k1499", 1001)).toBe(false);
    expect(d.admit("p", "k0", 1001)).toBe(true);
  });
});

describe("metadata", () => {
  test("exact layout of outputs.md §4.2", () => {
    const t = defineTable({
      name: "system_cpu_util",
      entity: "cpu",
      version: "1.0.0",
      fields: [
        { name: "cpu", type: "key", description: "" },
        { name: "total_used_per", type: "gauge", description: "" },
      ],
    });
    expect(metadataMessage(t, 1700000000123)).toBe(
      '{"timestamp": 1700000000000, "meta_name": "system_cpu_util", "entity_name": "cpu", "version": "1.0.0", "keys": ["machine_id", "cpu"], "labels": ["hostname"], "metrics": ["total_used_per"]}',
    );
  });
  test("process tables list derived labels", () => {
    const t = defineTable({
      name: "system_proc",
      entity: "proc",
      version: "1.0.0",
      fields: [
        { name: "tgid", type: "key", description: "" },
        { name: "pgid", type: "label", description: "" },
        { name: "fd_count", type: "gauge", description: "" },
        { name: "lat", type: "histogram", description: "" },
      ],
    });
    expect(metadataMessage(t, 0)).toBe(
      '{"timestamp": 0, "meta_name": "system_proc", "entity_name": "proc", "version": "1.0.0", "keys": ["machine_id", "tgid"], "labels": ["hostname", "pgid", "comm", "container_id", "container_name", "container_image", "pod_id", "pod", "pod_namespace", "cmdline", "start_time"], "metrics": ["fd_count"]}',
    );
  });
});

import { describe, expect, test } from "bun:test";
import { systemCpuUtilTable, nicTable } from "../probes/baseinfo/tables.ts";
import { defineTable } from "../store/table.ts";
import { ctime, formatEvent } from "./events.ts";
import { histogramText, kafkaFieldText, kafkaMetricMessage } from "./kafka-format.ts";
import { metadataMessage } from "./metadata.ts";

const UUID = "4c4c4544-0042-3510-8052-b4c04f4d4e32";

describe("Kafka metric message (outputs.md §4.1)", () => {
  test("the spec's nic example, byte for byte", () => {
    const row = {
      dev_name: "eth0",
      status: "UP",
      rx_bytes: 58324993484,
      rx_packets: 49590277,
      rx_errs: 0,
      rx_dropped: 0,
      tx_bytes: 26857829724,
      tx_packets: 19952463,
      tx_errs: 0,
      tx_dropped: 0,
      rxspeed_KB: "12.50",
      txspeed_KB: "8.25",
      tc_sent_drop: 0,
      tc_sent_overlimits: 0,
      tc_backlog: 0,
      tc_ecn_mark: 0,
    };
    expect(kafkaMetricMessage(nicTable, row, UUID, 1700000060987)).toBe(
      '{"timestamp": 1700000060000, "machine_id": "4c4c4544-0042-3510-8052-b4c04f4d4e32", "entity_name": "nic", "dev_name": "eth0", "status": "UP", "rx_bytes": "58324993484", "rx_packets": "49590277", "rx_errs": "0", "rx_dropped": "0", "tx_bytes": "26857829724", "tx_packets": "19952463", "tx_errs": "0", "tx_dropped": "0", "rxspeed_KB": "12.50", "txspeed_KB": "8.25", "tc_sent_drop": "0", "tc_sent_overlimits": "0", "tc_backlog": "0", "tc_ecn_mark": "0"}',
    );
  });

  const tcp = defineTable({
    name: "tcp_metric",
    entity: "tcp_link",
    version: "1.0.0",
    fields: [
      { name: "tgid", type: "key", description: "" },
      { name: "toa_client_ip", type: "key", description: "" },
      { name: "srtt", type: "histogram", description: "" },
      { name: "network_transmit_packets_dropped_total", type: "counter", description: "" },
      { name: "rto", type: "histogram", description: "" },
      { name: "latency", type: "summary", description: "" },
    ],
  });

  test("histograms as upstream's raw text, empty fields as (null), names cut to 31 characters, every type present", () => {
    const srtt = { bounds: [50, 100, 200, 500, 1000], cumulative: [3, 7, 8, 9, 9], sum: 2410, max: 812 };
    const line = kafkaMetricMessage(tcp, { tgid: "1234", toa_client_ip: "", srtt, network_transmit_packets_dropped_total: 7, latency: "1.5" }, UUID, 1700000060000);
    expect(line).toBe(
      '{"timestamp": 1700000060000, "machine_id": "4c4c4544-0042-3510-8052-b4c04f4d4e32", "entity_name": "tcp_link", "tgid": "1234", "toa_client_ip": "(null)", ' +
        '"srtt": "5 50 3 100 7 200 8 500 9 1000 9 2410 812", "network_transmit_packets_droppe": "7", "rto": "(null)", "latency": "1.5"}',
    );
    expect(JSON.parse(line).srtt).toBe("5 50 3 100 7 200 8 500 9 1000 9 2410 812");
  });

  test("field texts", () => {
    expect(histogramText({ bounds: [1], cumulative: [0], sum: 0, max: 0 })).toBe("1 1 0 0 0");
    expect(kafkaFieldText(undefined)).toBe("(null)");
    expect(kafkaFieldText("")).toBe("(null)");
    expect(kafkaFieldText(0)).toBe("0");
    expect(kafkaFieldText(42.5)).toBe("42.5");
    expect(kafkaFieldText("42.54")).toBe("42.54");
    expect(kafkaFieldText(Number.NaN)).toBe("NaN");
  });

  test("values stay valid JSON (quotes and backslashes escaped)", () => {
    const line = kafkaMetricMessage(tcp, { tgid: 'a"b\\c' }, UUID, 0);
    expect(JSON.parse(line).tgid).toBe('a"b\\c');
    expect(line).toStartWith('{"timestamp": 0, "machine_id": ');
  });
});

describe("metadata and event messages on Kafka", () => {
  test("metadata: the spec's system_cpu_util example, byte for byte (outputs.md §4.2)", () => {
    expect(metadataMessage(systemCpuUtilTable, 1700000000456)).toBe(
      '{"timestamp": 1700000000000, "meta_name": "system_cpu_util", "entity_name": "cpu", "version": "1.0.0", "keys": ["machine_id", "cpu"], "labels": ["hostname"], "metrics": ["total_used_per"]}',
    );
  });
  test("event: the spec's example line (outputs.md §4.3)", () => {
    const ts = 1700000060000;
    const line = formatEvent({ entity: "fs", key: "/tmp", metric: "IUsePer", message: "Too many Inodes consumed(95%)." }, `${UUID}-192.168.1.20`, ts + 321);
    expect(line).toBe(
      '{"Timestamp":1700000060000,"event_id":"1700000060000_4c4c4544-0042-3510-8052-b4c04f4d4e32-192.168.1.20_fs_:tmp","Attributes":{"entity_id":"4c4c4544-0042-3510-8052-b4c04f4d4e32-192.168.1.20_fs_:tmp","event_id":"1700000060000_4c4c4544-0042-3510-8052-b4c04f4d4e32-192.168.1.20_fs_:tmp","event_type":"sys"},"Resource":{"metric":"gala_gopher_fs_IUsePer","labels":{"Host":"4c4c4544-0042-3510-8052-b4c04f4d4e32-192.168.1.20","PID":"","COMM":"","IP":"","ContainerID":"","POD":"","Device":""}},"SeverityText":"WARN","SeverityNumber":13,"Body":"' +
        `${ctime(new Date(ts))} WARN Entity(/tmp) Too many Inodes consumed(95%)."}`,
    );
  });
});

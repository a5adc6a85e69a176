// The l7 probe end to end with a real Kafka broker (test/kafka/broker.ts, the one the
// Kafka output tests start) and kafkajs (root): 20 awaited single-message sends are exactly
// 20 Produce requests on the client's side and on the broker's, every request answered,
// no errors; the consumer's Fetch requests are counted under Fetch. Skipped, saying why,
// without the broker's jars/Java or without a kafka parser in this build.
import { afterAll, describe, expect, test } from "bun:test";
import { brokerUnavailable, KafkaBroker } from "../../../test/kafka/broker.ts";
import type { Row } from "../../store/table.ts";
import { openL7, PARSERS } from "./index.ts";
import { rootPreflight, testContext, TestScope, type TestContext } from "./test-kit.ts";
import { held } from "./test-servers.ts";

const { can } = rootPreflight("l7 kafka.root.test");
const why = can ? (brokerUnavailable() ?? (PARSERS.has("kafka") ? undefined : "no kafka parser registered in src/probes/l7/protocols/index.ts")) : "preflight";
if (can && why) console.warn(`l7 kafka.root.test: skipped: ${why}`);

const SENDS = 20;
const clientScript = (bootstrap: string) => `
const { Kafka, logLevel } = require("kafkajs");
const kafka = new Kafka({ clientId: "l7test", brokers: ["${bootstrap}"], logLevel: logLevel.NOTHING });
const topic = "l7-e2e";
const admin = kafka.admin();
await admin.connect();
await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
await admin.disconnect();
const producer = kafka.producer();
await producer.connect();
for (let i = 0; i < ${SENDS}; i++) await producer.send({ topic, messages: [{ value: "message " + i }] });
await producer.disconnect();
const consumer = kafka.consumer({ groupId: "l7-e2e" });
await consumer.connect();
await consumer.subscribe({ topic, fromBeginning: true });
let n = 0;
await new Promise((done) => consumer.run({ eachMessage: async () => { if (++n === ${SENDS}) done(); } }));
await consumer.disconnect();
console.log("consumed " + n);
process.exit(0);
`;

/** The pid listening on 127.0.0.1:`port` (ss), the broker's JVM. */
function listenerPid(port: number): number {
  const out = Bun.spawnSync(["ss", "-Hltnp", `sport = :${port}`]).stdout.toString();
  const m = /pid=(\d+)/.exec(out);
  if (!m) throw new Error(`no process listens on port ${port}: ${out}`);
  return Number(m[1]);
}

describe("l7 with a real Kafka broker", () => {
  const open: { broker?: KafkaBroker; ctx?: TestContext; run?: AsyncDisposable } = {};
  afterAll(async () => {
    await open.run?.[Symbol.asyncDispose]();
    open.ctx?.close();
    await open.broker?.destroy();
  });

  test.if(can && !why)(`kafkajs: ${SENDS} sends are ${SENDS} Produce requests on both ends, answered, no errors; Fetch counted`, async () => {
    const broker = await KafkaBroker.start();
    open.broker = broker;
    const brokerPid = listenerPid(broker.port);
    const client = held([process.execPath, "-e", clientScript(broker.bootstrap)]);
    const ctx = testContext({ subitems: ["l7_rpc_metrics"], scope: new TestScope([brokerPid, client.pid]), params: { l7_protocol: ["kafka"] } });
    open.ctx = ctx;
    const run = openL7(ctx);
    open.run = run;
    await ctx.inKernelScope(brokerPid);
    await ctx.inKernelScope(client.pid);
    client.release();
    const { code, out } = await client.done;
    expect(out).toContain(`consumed ${SENDS}`);
    expect(code).toBe(0);
    await Bun.sleep(300);
    await run.collect();
    const perApi = (tgid: number) => {
      const m = new Map<string, { req: number; resp: number; err: number }>();
      for (const r of ctx.rec.rows.filter((x) => x.table === "l7_rpc_api" && x.row.tgid === String(tgid)).map((x) => x.row as Row)) {
        const a = m.get(r.api as string) ?? { req: 0, resp: 0, err: 0 };
        a.req += r.req_count as number;
        a.resp += r.resp_count as number;
        a.err += r.err_count as number;
        m.set(r.api as string, a);
      }
      return m;
    };
    for (const tgid of [client.pid, brokerPid]) {
      const apis = perApi(tgid);
      expect(apis.get("Produce")).toEqual({ req: SENDS, resp: SENDS, err: 0 });
      expect(apis.get("Fetch")?.req ?? 0).toBeGreaterThanOrEqual(1);
      expect(apis.has("Metadata")).toBe(true);
    }
  }, 180_000);
});

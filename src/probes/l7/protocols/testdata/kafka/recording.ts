// A real Kafka broker (test/kafka/broker.ts) behind the recording proxy (../record.ts), for
// the fixture recorders. The broker advertises the proxy's port, so a client's reconnections
// after Metadata stay on the proxy and every connection is recorded.
import { join } from "node:path";
import { KafkaBroker, brokerUnavailable } from "../../../../../../test/kafka/broker.ts";

async function freePort(): Promise<number> {
  const s = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const p = s.port;
  s.stop(true);
  return p;
}

/** Runs `work` with the proxy's bootstrap address while record.ts writes `traffic`. */
export async function withRecordedBroker(traffic: string, work: (bootstrap: string) => Promise<void>, extra: Record<string, string> = {}): Promise<void> {
  const why = brokerUnavailable();
  if (why) throw new Error(`cannot record: ${why}`);
  const proxyPort = await freePort();
  const brokerPort = await freePort();
  const broker = await KafkaBroker.start({
    port: brokerPort,
    extra: { ...extra, "advertised.listeners": `PLAINTEXT://127.0.0.1:${proxyPort}` },
    log: (s) => console.error(`[broker] ${s}`),
  });
  const proxy = Bun.spawn(["bun", join(import.meta.dir, "..", "record.ts"), String(proxyPort), String(brokerPort), traffic], { stderr: "inherit" });
  try {
    await Bun.sleep(500);
    await work(`127.0.0.1:${proxyPort}`);
    await Bun.sleep(300);
  } finally {
    proxy.kill("SIGTERM");
    await proxy.exited;
    await broker.destroy();
  }
}

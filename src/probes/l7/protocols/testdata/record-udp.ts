// Records real UDP traffic for the parser tests, like record.ts does for TCP: a loopback UDP
// relay that forwards every datagram between real clients and a real server and writes each
// one, as one chunk, to a JSON-lines fixture:
// {"conn":<n>,"dir":"req"|"resp","t":<ns since the first datagram>,"len":<bytes>,"hex":"…"}.
//
//   bun src/probes/l7/protocols/testdata/record-udp.ts <listen-port> <server-port> <out.jsonl>
//
// Each client address:port is one "conn" (numbered in order of its first datagram) with an
// upstream socket of its own, so the server's answers go back to the client that asked.
// Stop with SIGINT/SIGTERM (the file is complete after every line).
import { appendFileSync, writeFileSync } from "node:fs";

const [listenPort, serverPort, out] = process.argv.slice(2);
if (!listenPort || !serverPort || !out || !/^\d+$/.test(listenPort) || !/^\d+$/.test(serverPort)) {
  console.error("usage: record-udp.ts <listen-port> <server-port> <out.jsonl>");
  process.exit(2);
}
writeFileSync(out, "");
const t0 = process.hrtime.bigint();
const write = (conn: number, dir: "req" | "resp", data: Uint8Array) =>
  appendFileSync(out, JSON.stringify({ conn, dir, t: Number(process.hrtime.bigint() - t0), len: data.length, hex: Buffer.from(data).toString("hex") }) + "\n");

/** Client relays; a recorder runs for one recording, so the map is bounded by its clients. */
const MAX_CLIENTS = 4096;
interface Relay {
  conn: number;
  upstream: Promise<Bun.udp.ConnectedSocket<"buffer">>;
}
const relays = new Map<string, Relay>();

const front = await Bun.udpSocket({
  hostname: "127.0.0.1",
  port: Number(listenPort),
  socket: {
    async data(_s, d, port, address) {
      const key = `${address}:${port}`;
      let relay = relays.get(key);
      if (!relay) {
        if (relays.size >= MAX_CLIENTS) {
          console.error(`record-udp: more than ${MAX_CLIENTS} clients, dropping ${key}`);
          return;
        }
        const conn = relays.size;
        relay = {
          conn,
          upstream: Bun.udpSocket({
            connect: { hostname: "127.0.0.1", port: Number(serverPort) },
            socket: {
              data(_u, answer) {
                write(conn, "resp", answer);
                front.send(answer, port, address);
              },
            },
          }),
        };
        relays.set(key, relay);
      }
      write(relay.conn, "req", d);
      (await relay.upstream).send(d);
    },
  },
});
const stop = () => {
  front.close();
  process.exit(0);
};
process.once("SIGINT", stop);
process.once("SIGTERM", stop);
console.error(`recording udp 127.0.0.1:${listenPort} -> 127.0.0.1:${serverPort} into ${out}`);

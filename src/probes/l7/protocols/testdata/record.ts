// Records real traffic for the parser tests: a loopback TCP proxy that forwards every byte
// between a real client and a real server and writes each chunk, as it was read, to a
// JSON-lines fixture: {"dir":"req"|"resp","t":<ns since the first chunk>,"len":<bytes>,"hex":"…"}.
//
//   bun src/probes/l7/protocols/testdata/record.ts <listen-port> <server-port> <out.jsonl>
//
// then point the client at 127.0.0.1:<listen-port>. Stop with Ctrl-C (the file is complete
// after every line). One fixture holds every connection the proxy saw, each line tagged
// with "conn" (0, 1, …) in accept order.
import { appendFileSync, writeFileSync } from "node:fs";

const [listenPort, serverPort, out] = process.argv.slice(2);
if (!listenPort || !serverPort || !out) {
  console.error("usage: record.ts <listen-port> <server-port> <out.jsonl>");
  process.exit(2);
}
writeFileSync(out, "");
const t0 = process.hrtime.bigint();
let conns = 0;
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const write = (conn: number, dir: "req" | "resp", data: Uint8Array) =>
  appendFileSync(out, JSON.stringify({ conn, dir, t: Number(process.hrtime.bigint() - t0), len: data.length, hex: hex(data) }) + "\n");

interface Pair {
  conn: number;
  upstream?: import("bun").Socket<undefined>;
  early: Uint8Array[];
}

Bun.listen<Pair>({
  hostname: "127.0.0.1",
  port: Number(listenPort),
  socket: {
    async open(client) {
      const pair: Pair = { conn: conns++, early: [] };
      client.data = pair;
      pair.upstream = await Bun.connect({
        hostname: "127.0.0.1",
        port: Number(serverPort),
        socket: {
          data(_s, d) {
            write(pair.conn, "resp", d);
            client.write(d);
          },
          close() {
            client.end();
          },
        },
      });
      for (const d of pair.early) pair.upstream.write(d);
      pair.early.length = 0;
    },
    data(client, d) {
      write(client.data.conn, "req", d);
      if (client.data.upstream) client.data.upstream.write(d);
      else client.data.early.push(new Uint8Array(d));
    },
    close(client) {
      client.data.upstream?.end();
    },
  },
});
console.error(`recording 127.0.0.1:${listenPort} -> 127.0.0.1:${serverPort} into ${out}`);

// Records real traffic for the parser tests: a loopback TCP proxy that forwards every byte
// between a real client and a real server and writes each chunk, as it was read, to a
// JSON-lines fixture: {"conn":<n>,"dir":"req"|"resp","t":<ns since the first chunk>,"len":<bytes>,"hex":"…"}.
//
//   bun src/probes/l7/protocols/testdata/record.ts <listen-port> <server-port> <out.jsonl>
//
// then point the client at 127.0.0.1:<listen-port>. Stop it with SIGINT/SIGTERM (the file is
// complete after every line). One fixture holds every connection the proxy saw, each line
// tagged with "conn" (0, 1, …) in accept order.
//
// Forwarding keeps every byte: a write the socket does not take whole is queued and resumed
// on `drain` (Bun's write() may take part of a chunk), a FIN is passed on only after the
// queue is flushed, and a server that refuses the connection closes the client's.
import { appendFileSync, writeFileSync } from "node:fs";
import type { Socket } from "bun";

function port(arg: string | undefined, what: string): number {
  const n = Number(arg);
  if (!arg || !Number.isInteger(n) || n < 1 || n > 65535) {
    console.error(`record.ts: ${what} must be a TCP port (1-65535), got ${JSON.stringify(arg)}\nusage: record.ts <listen-port> <server-port> <out.jsonl>`);
    process.exit(2);
  }
  return n;
}

const [listenArg, serverArg, out] = process.argv.slice(2);
const listenPort = port(listenArg, "listen-port");
const serverPort = port(serverArg, "server-port");
if (!out) {
  console.error("usage: record.ts <listen-port> <server-port> <out.jsonl>");
  process.exit(2);
}
writeFileSync(out, "");
const t0 = process.hrtime.bigint();
let conns = 0;
const write = (conn: number, dir: "req" | "resp", data: Uint8Array) =>
  appendFileSync(out, JSON.stringify({ conn, dir, t: Number(process.hrtime.bigint() - t0), len: data.length, hex: Buffer.from(data).toString("hex") }) + "\n");

/** One direction of a connection: bytes waiting for a socket that has not taken them yet. */
class Outbox {
  private queue: Uint8Array[] = [];
  private socket: Socket<unknown> | undefined;
  private ending = false;

  attach(socket: Socket<unknown>): void {
    this.socket = socket;
    this.flush();
  }

  send(data: Uint8Array): void {
    this.queue.push(new Uint8Array(data)); // the read buffer is not ours to keep
    this.flush();
  }

  /** Passes the peer's FIN on once everything before it is written. */
  end(): void {
    this.ending = true;
    this.flush();
  }

  flush(): void {
    const s = this.socket;
    if (!s) return;
    while (this.queue.length > 0) {
      const head = this.queue[0]!;
      const n = s.write(head);
      if (n < head.length) {
        this.queue[0] = head.subarray(Math.max(0, n));
        return; // resumed by drain
      }
      this.queue.shift();
    }
    if (this.ending) s.end();
  }
}

interface Pair {
  conn: number;
  toServer: Outbox;
  toClient: Outbox;
  upstream?: Socket<undefined>;
  closed: boolean;
}

Bun.listen<Pair>({
  hostname: "127.0.0.1",
  port: listenPort,
  socket: {
    open(client) {
      const pair: Pair = { conn: conns++, toServer: new Outbox(), toClient: new Outbox(), closed: false };
      client.data = pair;
      pair.toClient.attach(client as Socket<unknown>);
      Bun.connect({
        hostname: "127.0.0.1",
        port: serverPort,
        socket: {
          data(_s, d) {
            write(pair.conn, "resp", d);
            pair.toClient.send(d);
          },
          drain() {
            pair.toServer.flush();
          },
          end() {
            pair.toClient.end();
          },
          close() {
            pair.toClient.end();
          },
          error(_s, e) {
            console.error(`record.ts: conn ${pair.conn}: server socket: ${e.message}`);
          },
        },
      }).then(
        (upstream) => {
          pair.upstream = upstream;
          pair.toServer.attach(upstream as Socket<unknown>);
        },
        (e: Error) => {
          console.error(`record.ts: conn ${pair.conn}: cannot connect to 127.0.0.1:${serverPort}: ${e.message}`);
          client.end();
        },
      );
    },
    data(client, d) {
      write(client.data.conn, "req", d);
      client.data.toServer.send(d);
    },
    drain(client) {
      client.data.toClient.flush();
    },
    end(client) {
      client.data.toServer.end();
    },
    close(client) {
      client.data.closed = true;
      client.data.toServer.end();
    },
  },
});
console.error(`recording 127.0.0.1:${listenPort} -> 127.0.0.1:${serverPort} into ${out}`);
for (const sig of ["SIGINT", "SIGTERM"] as const) process.on(sig, () => process.exit(0));

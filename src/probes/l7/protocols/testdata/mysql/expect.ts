// Counts, without the mysql parser, what a recorded mariadb CLI session sent, for the test to
// compare the parser with: every command packet the client wrote (sequence id 0, found by
// reassembling the client's byte stream of each connection), named by its command byte or,
// for COM_QUERY, by its first SQL word; and the errors the client printed ("ERROR 1062
// (23000) …"), by SQLSTATE class. The server's general query log is printed beside it on
// stderr as a cross-check (it leaves out failed COM_INIT_DBs and adds lines for SQL-level
// PREPARE/EXECUTE).
//   bun expect.ts <fixture.jsonl> <client stderr> [general.log] > x.expect.json
import { readFileSync } from "node:fs";

const [fixturePath, errPath, logPath] = process.argv.slice(2);
if (!fixturePath || !errPath) throw new Error("usage: expect.ts <fixture.jsonl> <client stderr> [general.log]");
const names: Record<number, string> = {
  0x01: "COM_QUIT",
  0x02: "COM_INIT_DB",
  0x09: "COM_STATISTICS",
  0x0e: "COM_PING",
  0x11: "COM_CHANGE_USER",
  0x16: "COM_STMT_PREPARE",
  0x17: "COM_STMT_EXECUTE", // the parser names it after the prepared statement's verb instead
  0x18: "COM_STMT_SEND_LONG_DATA",
  0x19: "COM_STMT_CLOSE",
  0x1a: "COM_STMT_RESET",
  0x1c: "COM_STMT_FETCH",
  0x1f: "COM_RESET_CONNECTION",
};
const streams = new Map<number, number[]>();
for (const line of readFileSync(fixturePath, "utf8").split("\n")) {
  if (!line) continue;
  const o = JSON.parse(line) as { conn: number; dir: string; hex: string };
  if (o.dir !== "req") continue;
  const s = streams.get(o.conn) ?? [];
  s.push(...Buffer.from(o.hex, "hex"));
  streams.set(o.conn, s);
}
const apis: Record<string, number> = {};
let requests = 0;
let noResponse = 0;
for (const s of streams.values()) {
  let continued = false;
  for (let at = 0; at + 4 <= s.length; ) {
    const len = s[at]! | (s[at + 1]! << 8) | (s[at + 2]! << 16);
    const packet = s.slice(at + 4, at + 4 + len);
    if (s[at + 3] === 0 && !continued && len > 0) {
      const cmd = packet[0]!;
      const api = cmd === 0x03 ? (/^\s*([A-Za-z_]+)/.exec(Buffer.from(packet.slice(1, 200)).toString("latin1"))?.[1]?.toUpperCase() ?? "OTHER") : names[cmd];
      if (!api) throw new Error(`command 0x${cmd.toString(16)} has no name here: add it`);
      apis[api] = (apis[api] ?? 0) + 1;
      requests++;
      if (cmd === 0x01 || cmd === 0x18 || cmd === 0x19) noResponse++;
    }
    continued = len === 0xffffff;
    at += 4 + len;
  }
}
let clientErrors = 0;
let serverErrors = 0;
for (const m of readFileSync(errPath, "utf8").matchAll(/ERROR \d+ \((\w\w)\w{3}\)/g)) {
  if (["21", "22", "23", "25", "26", "28", "3D", "3F", "42", "44"].includes(m[1]!)) clientErrors++;
  else serverErrors++;
}
console.log(JSON.stringify({ requests, noResponse, clientErrors, serverErrors, apis }));
if (logPath) {
  const logged: Record<string, number> = {};
  for (const m of readFileSync(logPath, "utf8").matchAll(/\d+ (Query|Prepare|Execute|Close stmt|Init DB|Quit|Ping)\t/g)) logged[m[1]!] = (logged[m[1]!] ?? 0) + 1;
  console.error(`general log (all connections): ${JSON.stringify(logged)}`);
}

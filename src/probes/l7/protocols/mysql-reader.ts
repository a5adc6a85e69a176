// One direction of a MySQL connection cut into packets (sql-frames.ts): 3-byte length,
// sequence id, payload. Each packet goes to the session; after a capture gap a chunk must
// start with a command (client) or with chained packets (server) to be parsed again.
import { COMMAND_NAMES } from "./mysql-wire.ts";
import { FrameReader, PREFIX_MAX } from "./sql-frames.ts";
import { u24le } from "./bytes.ts";

/** What the readers tell the session. */
export interface MysqlPacketSink {
  clientPacket(seq: number, payload: number, total: number, p: Uint8Array, seen: number, startNs: number): void;
  serverPacket(seq: number, payload: number, total: number, p: Uint8Array, seen: number, endNs: number): void;
  framingLost(client: boolean): void;
}

export class MysqlPacketReader extends FrameReader {
  constructor(
    private readonly session: MysqlPacketSink,
    private readonly fromClient: boolean,
    prefixLimit: number,
  ) {
    super(prefixLimit);
  }
  protected headerLength(): number {
    return 4;
  }
  protected payloadLength(): number {
    return u24le(this.header, 0);
  }
  protected override prefixWanted(): number {
    // The server's packets are read for their first fields only (OK/EOF status, ERR SQLSTATE,
    // column count, prepare answer): 24 bytes hold them (an OK's two length-encoded integers
    // take up to 9 bytes each only past 2^24 rows or ids).
    return this.fromClient ? PREFIX_MAX : 24;
  }
  protected message(total: number, startNs: number, endNs: number): void {
    const seq = this.header[3]!;
    if (this.fromClient) this.session.clientPacket(seq, this.payloadBytes, total, this.prefix, this.prefixLength, startNs);
    else this.session.serverPacket(seq, this.payloadBytes, total, this.prefix, this.prefixLength, endNs);
  }
  protected canStartAt(bytes: Uint8Array, length: number): boolean {
    if (bytes.length < 5) return false;
    if (this.fromClient) return bytes[3] === 0 && COMMAND_NAMES.has(bytes[4]!) && (bytes[0]! | bytes[1]! | bytes[2]!) !== 0;
    // A server chunk: packets whose sequence ids follow each other (at least two), or one
    // packet that ends where the chunk does.
    let pos = 0;
    let packets = 0;
    let seq = bytes[3]!;
    while (pos + 4 <= bytes.length) {
      if (bytes[pos + 3] !== seq) return false;
      pos += 4 + u24le(bytes, pos);
      seq = (seq + 1) & 0xff;
      packets++;
    }
    return pos === length || packets >= 2;
  }
  protected framingLost(): void {
    this.session.framingLost(this.fromClient);
  }
}

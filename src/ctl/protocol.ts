// gopher-ctl's wire format (rest-api.md §12): one fixed-size request record, answered
// with `<decimal length>\n<payload>`.
export const CMD_PROBE = 1;
export const CMD_METRIC = 2;
export const OP_GET = 1;
export const OP_SET = 2;
export const NAME_BYTES = 32;
export const JSON_BYTES = 1_048_576;
export const RECORD_BYTES = 4 + 4 + NAME_BYTES + JSON_BYTES;

export interface CtlRequest {
  cmd: number;
  op: number;
  name: string;
  json: string;
}

export class CtlUsageError extends Error {
  readonly code = "ECTLUSAGE";
}

function cString(bytes: Uint8Array): string {
  const nul = bytes.indexOf(0);
  return new TextDecoder().decode(nul < 0 ? bytes : bytes.subarray(0, nul));
}

export function encodeRequest(r: CtlRequest): Uint8Array {
  const name = new TextEncoder().encode(r.name);
  const json = new TextEncoder().encode(r.json);
  if (name.length > NAME_BYTES - 1) throw new CtlUsageError(`probe name longer than ${NAME_BYTES - 1} bytes`);
  if (json.length > JSON_BYTES - 1) throw new CtlUsageError(`config longer than ${JSON_BYTES - 1} bytes`);
  const buf = new Uint8Array(RECORD_BYTES);
  const dv = new DataView(buf.buffer);
  dv.setInt32(0, r.cmd, true);
  dv.setInt32(4, r.op, true);
  buf.set(name, 8);
  buf.set(json, 8 + NAME_BYTES);
  return buf;
}

export function decodeRequest(buf: Uint8Array): CtlRequest {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  return {
    cmd: dv.getInt32(0, true),
    op: dv.getInt32(4, true),
    name: cString(buf.subarray(8, 8 + NAME_BYTES)),
    json: cString(buf.subarray(8 + NAME_BYTES, RECORD_BYTES)),
  };
}

export function encodeResponse(payload: string, withNul: boolean): Uint8Array {
  const body = new TextEncoder().encode(payload);
  const len = body.length + (withNul ? 1 : 0);
  const head = new TextEncoder().encode(`${len}\n`);
  const out = new Uint8Array(head.length + len);
  out.set(head, 0);
  out.set(body, head.length);
  return out;
}

/** Parses a complete response; returns undefined while more bytes are needed. */
export function decodeResponse(buf: Uint8Array): string | undefined {
  const nl = buf.indexOf(10);
  if (nl < 0) return undefined;
  const len = Number(new TextDecoder().decode(buf.subarray(0, nl)));
  if (!Number.isInteger(len) || len < 0) throw new Error("malformed response from the agent");
  if (buf.length - nl - 1 < len) return undefined;
  let body = buf.subarray(nl + 1, nl + 1 + len);
  if (body.length && body[body.length - 1] === 0) body = body.subarray(0, body.length - 1);
  return new TextDecoder().decode(body);
}

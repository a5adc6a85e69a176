// The local command socket that gopher-ctl talks to (always on, independent of REST).
import { chmodSync, mkdirSync, rmSync } from "node:fs";
import { dirname } from "node:path";
import type { Logger } from "../log/logger.ts";
import { parseJsonLenient } from "../probe/json.ts";
import { envelope } from "../probe/request.ts";
import type { ProbeManager } from "../probe/manager.ts";
import { CMD_METRIC, CMD_PROBE, OP_GET, OP_SET, RECORD_BYTES, decodeRequest, encodeResponse, type CtlRequest } from "./protocol.ts";

export const DEFAULT_CTL_SOCKET = "/var/run/gala_gopher/gala_gopher_cmd.sock";

export interface CtlDeps {
  manager: ProbeManager;
  metricsText: () => Promise<string>;
  log: Logger;
}

export async function handleCtl(r: CtlRequest, d: CtlDeps): Promise<{ payload: string; nul: boolean }> {
  if (r.cmd === CMD_METRIC) {
    const text = await d.metricsText();
    return { payload: text, nul: false };
  }
  if (r.cmd !== CMD_PROBE) return { payload: envelope(false, "unknown command"), nul: true };
  if (r.op === OP_GET) {
    const res = d.manager.get(r.name);
    if (res.status !== 200) return { payload: envelope(false, "Failed to get probe config"), nul: true };
    return { payload: res.body, nul: true };
  }
  if (r.op === OP_SET) {
    const parsed = parseJsonLenient(r.json);
    let doc: unknown;
    if (!parsed.ok) return { payload: envelope(false, "invalid json format"), nul: true };
    doc = parsed.value === null ? {} : parsed.value;
    if (typeof doc !== "object" || Array.isArray(doc)) return { payload: envelope(false, "invalid json format"), nul: true };
    const res = await d.manager.put(r.name, doc);
    return { payload: res.body, nul: true };
  }
  return { payload: envelope(false, "unknown operation"), nul: true };
}

interface Conn {
  chunks: Uint8Array[];
  size: number;
  done: boolean;
}

export function startCtlServer(path: string, d: CtlDeps): { stop(): void } {
  mkdirSync(dirname(path), { recursive: true, mode: 0o750 });
  rmSync(path, { force: true });
  const server = Bun.listen<Conn>({
    unix: path,
    socket: {
      open(s) {
        s.data = { chunks: [], size: 0, done: false };
        s.timeout(60);
      },
      data(s, chunk) {
        const c = s.data;
        if (c.done) return;
        c.chunks.push(new Uint8Array(chunk));
        c.size += chunk.length;
        if (c.size < RECORD_BYTES) return;
        c.done = true;
        const all = Buffer.concat(c.chunks, c.size).subarray(0, RECORD_BYTES);
        c.chunks = [];
        void handleCtl(decodeRequest(all), d)
          .then((r) => {
            s.write(encodeResponse(r.payload, r.nul));
            s.end();
          })
          .catch((e) => {
            d.log.error(`gopher-ctl request failed: ${String(e)}`);
            s.end();
          });
      },
      timeout(s) {
        s.end();
      },
      error(_s, e) {
        d.log.warn(`gopher-ctl socket error: ${e.message}`);
      },
    },
  });
  try {
    chmodSync(path, 0o660);
  } catch {
    /* best effort */
  }
  return {
    stop() {
      server.stop(true);
      rmSync(path, { force: true });
    },
  };
}

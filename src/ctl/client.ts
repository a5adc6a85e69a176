// gopher-ctl: `probe get <name>`, `probe set <name> '<json>'`, `metric`.
import { CMD_METRIC, CMD_PROBE, CtlUsageError, OP_GET, OP_SET, decodeResponse, encodeRequest, type CtlRequest } from "./protocol.ts";
import { DEFAULT_CTL_SOCKET } from "./server.ts";

export const CTL_USAGE = `usage:
  gopher-ctl probe get <probe_name>
  gopher-ctl probe set <probe_name> '<json>'
  gopher-ctl metric
environment: GOPHER_CTL_SOCKET overrides the socket path (${DEFAULT_CTL_SOCKET})
`;

export function parseCtlArgs(args: string[]): CtlRequest {
  const [a, b, name, json] = args;
  if (a === "metric" && args.length === 1) return { cmd: CMD_METRIC, op: OP_GET, name: "", json: "" };
  if (a === "probe" && b === "get" && name && args.length === 3) return { cmd: CMD_PROBE, op: OP_GET, name, json: "" };
  if (a === "probe" && b === "set" && name && json !== undefined && args.length === 4) return { cmd: CMD_PROBE, op: OP_SET, name, json };
  throw new CtlUsageError("unrecognised command");
}

export class CtlConnectError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

/** Why the socket could not be reached, in words an operator can act on. */
export function connectError(socketPath: string, e: Error): CtlConnectError {
  const code = (e as NodeJS.ErrnoException).code ?? "ECONNECT";
  if (code === "EACCES" || code === "EPERM") {
    return new CtlConnectError(`permission denied on ${socketPath} (run gopher-ctl as root or as the agent's user)`, code);
  }
  if (code === "ENOENT") return new CtlConnectError(`no socket at ${socketPath}; is gala-gopher running?`, code);
  return new CtlConnectError(`cannot connect to ${socketPath}: ${e.message} (${code}); is gala-gopher running?`, code);
}

export async function ctlExchange(socketPath: string, req: CtlRequest, timeoutMs = 60_000): Promise<string> {
  const record = encodeRequest(req);
  return await new Promise<string>((resolve, reject) => {
    const chunks: Uint8Array[] = [];
    let size = 0;
    let settled = false;
    const finish = (f: () => void) => {
      if (!settled) {
        settled = true;
        clearTimeout(timer);
        f();
      }
    };
    const timer = setTimeout(() => finish(() => reject(new Error(`no answer from the agent within ${timeoutMs / 1000} s`))), timeoutMs);
    const tryDecode = () => {
      try {
        const r = decodeResponse(Buffer.concat(chunks, size));
        if (r !== undefined) finish(() => resolve(r));
      } catch (e) {
        finish(() => reject(e));
      }
    };
    Bun.connect({
      unix: socketPath,
      socket: {
        open(s) {
          let off = s.write(record);
          const pump = () => {
            while (off < record.length) {
              const n = s.write(record.subarray(off));
              if (n <= 0) return;
              off += n;
            }
          };
          (s as unknown as { pump: () => void }).pump = pump;
          pump();
        },
        drain(s) {
          (s as unknown as { pump?: () => void }).pump?.();
        },
        data(_s, d) {
          chunks.push(new Uint8Array(d));
          size += d.length;
          tryDecode();
        },
        close() {
          tryDecode();
          finish(() => reject(new Error("the agent closed the connection without a complete answer")));
        },
        error(_s, e) {
          finish(() => reject(e));
        },
      },
    }).catch((e: Error) => finish(() => reject(connectError(socketPath, e))));
  });
}

/** Runs gopher-ctl; returns the exit status (0 exchange done, 255 usage/connection error). */
export async function runCtl(args: string[], env: Record<string, string | undefined>): Promise<number> {
  let req: CtlRequest;
  try {
    req = parseCtlArgs(args);
    encodeRequest(req);
  } catch (e) {
    process.stderr.write(`gopher-ctl: ${(e as Error).message}\n${CTL_USAGE}`);
    return 255;
  }
  try {
    const out = await ctlExchange(env.GOPHER_CTL_SOCKET || DEFAULT_CTL_SOCKET, req);
    process.stdout.write(out);
    return 0;
  } catch (e) {
    process.stderr.write(`gopher-ctl: ${(e as Error).message}\n`);
    return 255;
  }
}

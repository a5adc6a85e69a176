// Which side of an already-open TCP connection a process is: a connection the kernel first
// saw mid-way (no connect()/accept() observed) is the server side when its local port is a
// port some socket of its network namespace listens on, else the client side. The
// listening ports come from /proc/<tgid>/net/tcp and tcp6 (state 0A), read through
// ctx.host, cached per network namespace and re-read at most once a second on a miss.
import type { HostFs } from "../../host/fs.ts";

const LISTEN = "0A";

/** Local ports in LISTEN state in a /proc/net/tcp{,6} text. */
export function listeningPorts(text: string, into: Set<number> = new Set()): Set<number> {
  const lines = text.split("\n");
  for (let i = 1; i < lines.length; i++) {
    const f = lines[i]!.trim().split(/\s+/);
    if (f.length < 4 || f[3] !== LISTEN) continue;
    const local = f[1]!;
    const colon = local.lastIndexOf(":");
    const port = Number.parseInt(local.slice(colon + 1), 16);
    if (colon > 0 && Number.isInteger(port)) into.add(port);
  }
  return into;
}

export class ListenerCache {
  private readonly byNetns = new Map<number, { ports: Set<number>; readAtMs: number }>();

  constructor(
    private readonly host: HostFs,
    private readonly now: () => number = Date.now,
    private readonly maxNamespaces = 256,
  ) {}

  /**
   * Whether `port` is listened on in the network namespace `netns` (seen through `tgid`);
   * undefined when that cannot be known (the process is gone and the namespace's table was
   * never read).
   */
  isListening(tgid: number, netns: number, port: number): boolean | undefined {
    let e = this.byNetns.get(netns);
    if (e?.ports.has(port)) return true;
    if (e && this.now() - e.readAtMs < 1000) return false;
    const ports = new Set<number>();
    let read = false;
    for (const f of ["tcp", "tcp6"]) {
      const text = this.host.readProc(String(tgid), "net", f);
      if (text === undefined) continue;
      read = true;
      listeningPorts(text, ports);
    }
    if (!read) return e ? false : undefined;
    if (!e && this.byNetns.size >= this.maxNamespaces) this.byNetns.delete(this.byNetns.keys().next().value!);
    e = { ports, readAtMs: this.now() };
    this.byNetns.set(netns, e);
    return ports.has(port);
  }

  /** Forgets every namespace (a new period: listeners come and go). */
  clear(): void {
    this.byNetns.clear();
  }
}

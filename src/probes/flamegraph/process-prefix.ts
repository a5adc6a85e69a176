// The frames a stack starts with, naming its process as upstream does: `[Pod]<pod>` and
// `[Con]<container>` when the process runs in a known container, then `[<pid>]<comm>`.
// Read once per process per period (comm and cgroup change at exec).
import type { HostFs } from "../../host/fs.ts";
import type { ContainerInfo } from "../../probe/define.ts";

export class ProcessPrefixes {
  private readonly cache = new Map<number, string[]>();

  constructor(
    private readonly host: HostFs,
    private readonly containers: () => ReadonlyMap<string, ContainerInfo>,
  ) {}

  beginPeriod(): void {
    this.cache.clear();
  }

  of(pid: number): string[] {
    let p = this.cache.get(pid);
    if (p) return p;
    const comm = (this.host.readProc(String(pid), "comm") ?? "").trim() || "?";
    p = [];
    const c = this.containerOf(pid);
    if (c?.pod) p.push(`[Pod]${c.pod}`);
    if (c) p.push(`[Con]${c.name || c.id}`);
    p.push(`[${pid}]${comm}`);
    this.cache.set(pid, p);
    return p;
  }

  private containerOf(pid: number): ContainerInfo | undefined {
    const known = this.containers();
    if (known.size === 0) return undefined;
    const cgroup = this.host.readProc(String(pid), "cgroup");
    if (!cgroup) return undefined;
    for (const c of known.values()) {
      if ((c.cgroupPath && cgroup.includes(c.cgroupPath)) || (c.id.length === 12 && cgroup.includes(c.id))) return c;
    }
    return undefined;
  }
}

// Names of a disk (blk_name, disk_name) from sysfs, as upstream derives them from lsblk:
// blk_name is the device of (major, first_minor); disk_name is the top of its stack (a
// partition's disk, the disk under a device-mapper or md device). Cached, bounded.
import { basename, dirname } from "node:path";
import type { HostFs } from "../../host/fs.ts";
import type { DevKey } from "./decode.ts";
import type { DevNames } from "./aggregate.ts";

const MAX_CACHED = 1024;
const MAX_DEPTH = 8;

export class DiskNames {
  private readonly cache = new Map<string, DevNames>();

  constructor(private readonly host: HostFs) {}

  of(d: DevKey): DevNames {
    const k = `${d.major}:${d.firstMinor}`;
    let n = this.cache.get(k);
    if (!n) {
      n = this.resolve(k);
      if (this.cache.size >= MAX_CACHED) this.cache.clear();
      this.cache.set(k, n);
    }
    return n;
  }

  /** Forgets every name (devices come and go; the next period resolves them again). */
  clear(): void {
    this.cache.clear();
  }

  private resolve(majMin: string): DevNames {
    const uevent = this.host.readSys("dev", "block", majMin, "uevent") ?? "";
    const blk = /^DEVNAME=(.+)$/m.exec(uevent)?.[1] ?? basename(this.host.readlink(this.host.sys("dev", "block", majMin)) ?? "");
    if (!blk) return { blk: "", disk: "" };
    return { blk, disk: this.top(blk) };
  }

  private top(name: string): string {
    let cur = name;
    for (let i = 0; i < MAX_DEPTH; i++) {
      const link = this.host.readlink(this.host.sys("class", "block", cur));
      if (link && this.host.exists(this.host.sys("class", "block", cur, "partition"))) {
        cur = basename(dirname(link));
        continue;
      }
      const slaves = this.host.list(this.host.sys("block", cur, "slaves")).sort();
      if (!slaves[0]) break;
      cur = slaves[0];
    }
    return cur;
  }
}

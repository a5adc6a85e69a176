// Fixture hosts for baseinfo tests: a HostFs over test/fixtures/hosts/<name> that can
// switch every delta file to its `.next` sample (the same host one period later).
import path from "node:path";
import { HostFs, hostPathsUnder } from "../../host/fs.ts";
import type { CollectorDeps, StatfsResult } from "./collector.ts";

export const HOSTS = path.join(import.meta.dir, "../../../test/fixtures/hosts");

export class FixtureHost extends HostFs {
  /** Read `<file>.next` instead of `<file>` where it exists. */
  next = false;
  constructor(readonly name: string) {
    const root = path.join(HOSTS, name);
    super(hostPathsUnder(root));
  }
  override read(p: string): string | undefined {
    if (this.next) {
      const n = super.read(`${p}.next`);
      if (n !== undefined) return n;
    }
    return super.read(p);
  }
}

/** statfs answers of the bare-metal fixture, by mount point (KiB math is exact with 4 KiB blocks). */
export const BARE_METAL_STATFS: Readonly<Record<string, StatfsResult>> = {
  "/dev": { bsize: 4096, blocks: 2030864, bfree: 2030864, bavail: 2030864, files: 2030864, ffree: 2030400 },
  "/dev/shm": { bsize: 4096, blocks: 16384, bfree: 16000, bavail: 16000, files: 2033000, ffree: 2032990 },
  "/run": { bsize: 4096, blocks: 813000, bfree: 810000, bavail: 810000, files: 819200, ffree: 818000 },
  // 1 TiB-ish xfs: used 123456789 of 244140625 blocks, 0 reserved
  "/": { bsize: 4096, blocks: 244140625, bfree: 120683836, bavail: 120683836, files: 488281216, ffree: 487000000 },
  "/boot": { bsize: 4096, blocks: 261888, bfree: 200000, bavail: 200000, files: 524288, ffree: 523900 },
  // ext4 with 5 % reserved for root: used/(used+avail) is what df prints; 98.3 % of inodes used
  "/mnt/backup disk": { bsize: 4096, blocks: 100000, bfree: 9000, bavail: 4000, files: 6000, ffree: 100 },
  // squashfs: full by design, inodes reported 0 (df prints "-")
  "/snap/core20/1974": { bsize: 131072, blocks: 504, bfree: 0, bavail: 0, files: 0, ffree: 0 },
  "/var/lib/docker/overlay2/3f1c/merged": { bsize: 4096, blocks: 244140625, bfree: 120683836, bavail: 120683836, files: 488281216, ffree: 487000000 },
  "/run/user/0": { bsize: 4096, blocks: 406500, bfree: 406499, bavail: 406499, files: 406500, ffree: 406480 },
  // ramfs: zero blocks, df hides it
  "/run/credentials": { bsize: 4096, blocks: 0, bfree: 0, bavail: 0, files: 0, ffree: 0 },
};

export interface FakeDeps extends CollectorDeps {
  statfsCalls: string[];
  clock: number;
}

/** Stubbed dependencies: statfs from a table keyed by mount point under `root`, no qdisc source by default. */
export function fakeDeps(
  root: string,
  statfs: Readonly<Record<string, StatfsResult>> = {},
  qdiscs: CollectorDeps["qdiscs"] = () => undefined,
): FakeDeps {
  const d: FakeDeps = {
    statfsCalls: [],
    clock: 1000,
    statfs(p: string) {
      d.statfsCalls.push(p);
      const rel = p.startsWith(root) ? p.slice(root.length) || "/" : p;
      return statfs[rel.startsWith("/") ? rel : `/${rel}`];
    },
    qdiscs,
    monotonicSeconds: () => d.clock,
  };
  return d;
}

// Every read of the host goes through one HostFs rooted at --path.procfs, --path.sysfs
// and --path.rootfs (node_exporter's model), so fixtures can stand in for a real host.
import { readFileSync, readdirSync, statfsSync, existsSync, readlinkSync, statSync, lstatSync, type Stats } from "node:fs";
import { join } from "node:path";

export interface HostPaths {
  procfs: string;
  sysfs: string;
  rootfs: string;
}

export const DEFAULT_HOST_PATHS: HostPaths = { procfs: "/proc", sysfs: "/sys", rootfs: "/" };

/** The paths of a host tree under `root`: root/proc, root/sys and root itself (fixtures, a mounted host). */
export function hostPathsUnder(root: string): HostPaths {
  return { procfs: join(root, "proc"), sysfs: join(root, "sys"), rootfs: root };
}

/** GOPHER_HOST_PATH (agent in a container with the host mounted there) roots all three. */
export function hostPathsFrom(flags: Partial<HostPaths>, env: Record<string, string | undefined>): HostPaths {
  const host = env.GOPHER_HOST_PATH?.trim();
  const base: HostPaths = host ? hostPathsUnder(host) : DEFAULT_HOST_PATHS;
  return {
    procfs: flags.procfs ?? base.procfs,
    sysfs: flags.sysfs ?? base.sysfs,
    rootfs: flags.rootfs ?? base.rootfs,
  };
}

const PROC_SUPER_MAGIC = 0x9fa0;

export class HostFs {
  private procfsChecked: boolean | undefined;
  constructor(readonly paths: HostPaths) {}

  /** True when the procfs root is a real procfs mount (not a fixture tree); checked once. */
  procIsProcfs(): boolean {
    this.procfsChecked ??= this.statfs(this.paths.procfs)?.type === PROC_SUPER_MAGIC;
    return this.procfsChecked;
  }

  proc(...parts: string[]): string {
    return join(this.paths.procfs, ...parts);
  }
  sys(...parts: string[]): string {
    return join(this.paths.sysfs, ...parts);
  }
  root(...parts: string[]): string {
    return join(this.paths.rootfs, ...parts);
  }

  /** Text of a file, or undefined when it cannot be read (gone, permission, not there). */
  read(path: string): string | undefined {
    try {
      return readFileSync(path, "utf8");
    } catch {
      return undefined;
    }
  }
  /** Bytes of a file (compressed or binary files), or undefined when it cannot be read. */
  readBytes(path: string): Uint8Array | undefined {
    try {
      return readFileSync(path);
    } catch {
      return undefined;
    }
  }
  readProc(...parts: string[]): string | undefined {
    return this.read(this.proc(...parts));
  }
  readSys(...parts: string[]): string | undefined {
    return this.read(this.sys(...parts));
  }
  readRoot(...parts: string[]): string | undefined {
    return this.read(this.root(...parts));
  }
  list(path: string): string[] {
    try {
      return readdirSync(path);
    } catch {
      return [];
    }
  }
  exists(path: string): boolean {
    return existsSync(path);
  }
  stat(path: string): Stats | undefined {
    try {
      return statSync(path);
    } catch {
      return undefined;
    }
  }
  /** stat of the link itself (symlinks not followed). */
  lstat(path: string): Stats | undefined {
    try {
      return lstatSync(path);
    } catch {
      return undefined;
    }
  }
  readlink(path: string): string | undefined {
    try {
      return readlinkSync(path);
    } catch {
      return undefined;
    }
  }
  statfs(path: string): ReturnType<typeof statfsSync> | undefined {
    try {
      return statfsSync(path);
    } catch {
      return undefined;
    }
  }
}

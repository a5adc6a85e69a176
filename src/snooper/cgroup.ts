// Which container (and Kubernetes pod) a process belongs to, from /proc/<pid>/cgroup
// alone — no docker/crictl. Pure functions over the file text.
//
// Recognised cgroup path shapes (v1 and v2; the id is always 64 hex digits):
//   docker, systemd driver      …/system.slice/docker-<id>.scope
//   docker, cgroupfs driver     /docker/<id>
//   containerd (CRI), systemd   …/kubepods-burstable-pod<uid_with_underscores>.slice/cri-containerd-<id>.scope
//   containerd, v1 systemd      …/kubepods-…-pod<uid>.slice:cri-containerd:<id>
//   CRI-O                       …/crio-<id>.scope   (crio-conmon-<id>.scope is the monitor, not the container)
//   podman                      …/libpod-<id>.scope, /libpod_parent/libpod-<id> (libpod-conmon-… skipped)
//   kubepods, cgroupfs driver   /kubepods/burstable/pod<uid>/<id>, /kubepods/pod<uid>/<id>
//   isulad                      /isulad/<id>
// The innermost container id on the path wins (a container inside a container).

export type RuntimeKind = "docker" | "containerd" | "crio" | "podman" | "isulad" | "unknown";

export interface CgroupContainerRef {
  /** Full 64-hex-digit container id, lower case. */
  readonly id: string;
  /** What the path says about the runtime ("unknown": a bare id, e.g. under kubepods). */
  readonly runtime: RuntimeKind;
  /** Kubernetes pod uid in canonical 8-4-4-4-12 form, when the path names one. */
  readonly podUid?: string;
  /** The cgroup path the id was found in. */
  readonly cgroupPath: string;
  /** True when found on the cgroup v2 (`0::`) line. */
  readonly v2: boolean;
}

const HEX64 = /^[0-9a-f]{64}$/;

const PREFIXED: readonly [RegExp, RuntimeKind][] = [
  [/^docker-([0-9a-f]{64})\.scope$/, "docker"],
  [/^cri-containerd-([0-9a-f]{64})\.scope$/, "containerd"],
  [/^crio-([0-9a-f]{64})\.scope$/, "crio"],
  [/^libpod-([0-9a-f]{64})(?:\.scope)?$/, "podman"],
  [/^isulad-([0-9a-f]{64})\.scope$/, "isulad"],
  // containerd/CRI-O with the systemd driver on some v1 hosts: "<slice>:<prefix>:<id>".
  [/:cri-containerd:([0-9a-f]{64})$/, "containerd"],
  [/:crio:([0-9a-f]{64})$/, "crio"],
  [/:docker:([0-9a-f]{64})$/, "docker"],
];

/** A pod uid as written in cgroup names (dashes, or underscores in systemd slices) → canonical form. */
export function canonicalPodUid(raw: string): string | undefined {
  const hex = raw.toLowerCase().replace(/[-_]/g, "");
  if (!/^[0-9a-f]{32}$/.test(hex)) return undefined;
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function podUidOf(segment: string): string | undefined {
  // cgroupfs: pod<uid>; systemd: kubepods-pod<uid>.slice, kubepods-<qos>-pod<uid>.slice
  const m = /^(?:kubepods-(?:[a-z]+-)?)?pod([0-9a-fA-F_-]{32,36})(?:\.slice)?$/.exec(segment);
  return m ? canonicalPodUid(m[1]!) : undefined;
}

/** The container reference of one cgroup path, or undefined for a host process. */
export function containerOfPath(path: string, v2: boolean): CgroupContainerRef | undefined {
  const segs = path.split("/").filter((s) => s.length > 0);
  let podUid: string | undefined;
  let found: { id: string; runtime: RuntimeKind } | undefined;
  for (let i = 0; i < segs.length; i++) {
    const s = segs[i]!;
    const colonPod = /(?:^|-)pod([0-9a-fA-F_-]{32,36})\.slice:/.exec(s);
    const uid = podUidOf(s) ?? (colonPod ? canonicalPodUid(colonPod[1]!) : undefined);
    if (uid) podUid = uid;
    if (s.includes("conmon")) continue;
    let hit: { id: string; runtime: RuntimeKind } | undefined;
    for (const [re, rt] of PREFIXED) {
      const m = re.exec(s);
      if (m) {
        hit = { id: m[1]!, runtime: rt };
        break;
      }
    }
    if (!hit && HEX64.test(s)) {
      const parent = segs[i - 1] ?? "";
      const rt: RuntimeKind = parent === "docker" ? "docker" : parent === "isulad" ? "isulad" : parent === "libpod_parent" ? "podman" : "unknown";
      hit = { id: s, runtime: rt };
    }
    if (hit) found = hit;
  }
  if (!found) return undefined;
  return { id: found.id, runtime: found.runtime, podUid, cgroupPath: "/" + segs.join("/"), v2 };
}

/**
 * /proc/<pid>/cgroup → the container the process runs in. The v2 line (`0::path`) is
 * preferred when it names a container; otherwise the first v1 hierarchy that does.
 */
export function parseCgroupFile(text: string | undefined): CgroupContainerRef | undefined {
  if (!text) return undefined;
  let v1: CgroupContainerRef | undefined;
  for (const line of text.split("\n")) {
    const a = line.indexOf(":");
    const b = a < 0 ? -1 : line.indexOf(":", a + 1);
    if (b < 0) continue;
    const hierarchy = line.slice(0, a);
    const path = line.slice(b + 1);
    if (!path.startsWith("/")) continue;
    if (hierarchy === "0" && line.slice(a + 1, b) === "") {
      const r = containerOfPath(path, true);
      if (r) return r;
    } else if (!v1) {
      v1 = containerOfPath(path, false);
    }
  }
  return v1;
}

/** The cgroup path of a process (v2 line, else the memory or first v1 line); "" when unreadable. */
export function cgroupPathOf(text: string | undefined): string {
  if (!text) return "";
  let first = "";
  let memory = "";
  for (const line of text.split("\n")) {
    const parts = /^(\d+):([^:]*):(\/.*)$/.exec(line);
    if (!parts) continue;
    if (parts[1] === "0" && parts[2] === "") return parts[3]!;
    if (!first) first = parts[3]!;
    if (!memory && parts[2]!.split(",").includes("memory")) memory = parts[3]!;
  }
  return memory || first;
}

// Container names, images and pods from the container runtimes' on-disk state under
// the rooted filesystem — no docker/crictl/podman child processes. Parsers are pure
// (text in, fields out, never throw); `ContainerResolver` does the reads through HostFs.
//
// Where each field comes from (first source that knows it wins):
//   docker      /var/lib/docker/containers/<id>/config.v2.json: Name, Config.Image,
//               Config.Labels (io.kubernetes.* labels for dockershim/cri-dockerd pods;
//               a pod's sandbox container carries the pod's labels → pod_labels)
//   containerd  /run/containerd/io.containerd.runtime.v2.task/<namespace>/<id>/config.json
//               (and runtime.v1.linux): OCI annotations io.kubernetes.cri.container-name,
//               image-name, sandbox-name/-namespace/-uid, container-type. containerd keeps
//               pod labels only in its bolt database, so pod_labels are `not found` there.
//   CRI-O       /var/lib/containers/storage/overlay-containers/<id>/userdata/config.json
//               and /run/containers/storage/…: annotations io.kubernetes.container.name,
//               io.kubernetes.pod.*, io.kubernetes.cri-o.ImageName, io.kubernetes.cri-o.Labels
//               (the sandbox's labels are the pod labels)
//   podman      /var/lib/containers/storage/overlay-containers/containers.json:
//               names[0], metadata.image-name
//   kubelet     /var/log/containers/<pod>_<namespace>_<container>-<id>.log (name, pod) and
//               /var/log/pods/<namespace>_<pod>_<uid>/ (pod name/namespace by uid): any CRI runtime
// Unknown values are "" (outputs.md §2.3).
import type { ContainerInfo } from "../probe/define.ts";
import type { HostFs } from "../host/fs.ts";
import { canonicalPodUid, type CgroupContainerRef } from "./cgroup.ts";

export interface ContainerMeta {
  name?: string;
  image?: string;
  podUid?: string;
  podName?: string;
  podNamespace?: string;
  /** This is a pod's sandbox (pause) container. */
  sandbox?: boolean;
  /** Pod labels (only known from a sandbox's own state). */
  podLabels?: Record<string, string>;
}

function parseJson(text: string | undefined): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function obj(v: unknown): Record<string, unknown> | undefined {
  return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

function str(v: unknown): string | undefined {
  return typeof v === "string" ? v : undefined;
}

function stringMap(v: unknown): Record<string, string> | undefined {
  const o = obj(v);
  if (!o) return undefined;
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(o)) if (typeof x === "string") out[k] = x;
  return out;
}

function dropEmpty(m: ContainerMeta): ContainerMeta {
  const out: ContainerMeta = {};
  for (const [k, v] of Object.entries(m)) if (v !== undefined && v !== "") (out as Record<string, unknown>)[k] = v;
  return out;
}

/** docker's config.v2.json. */
export function parseDockerConfig(text: string | undefined): ContainerMeta | undefined {
  const root = obj(parseJson(text));
  if (!root) return undefined;
  const config = obj(root.Config);
  const labels = stringMap(config?.Labels) ?? {};
  const name = str(root.Name)?.replace(/^\//, "");
  const sandbox = labels["io.kubernetes.docker.type"] === "podsandbox";
  const meta: ContainerMeta = {
    name,
    image: str(config?.Image),
    podUid: labels["io.kubernetes.pod.uid"] ? canonicalPodUid(labels["io.kubernetes.pod.uid"]) : undefined,
    podName: labels["io.kubernetes.pod.name"],
    podNamespace: labels["io.kubernetes.pod.namespace"],
    sandbox: sandbox || undefined,
  };
  if (sandbox) {
    const pl: Record<string, string> = {};
    for (const [k, v] of Object.entries(labels)) if (!k.startsWith("io.kubernetes.") && !k.startsWith("annotation.")) pl[k] = v;
    meta.podLabels = pl;
  }
  return dropEmpty(meta);
}

/** An OCI runtime spec (containerd bundle or CRI-O userdata config.json): its annotations. */
export function parseOciAnnotations(text: string | undefined): Record<string, string> | undefined {
  const root = obj(parseJson(text));
  if (!root) return undefined;
  return stringMap(root.annotations) ?? {};
}

/** containerd CRI annotations → metadata. */
export function containerdMeta(a: Record<string, string>): ContainerMeta {
  const uid = a["io.kubernetes.cri.sandbox-uid"];
  return dropEmpty({
    name: a["io.kubernetes.cri.container-name"],
    image: a["io.kubernetes.cri.image-name"],
    podUid: uid ? canonicalPodUid(uid) : undefined,
    podName: a["io.kubernetes.cri.sandbox-name"],
    podNamespace: a["io.kubernetes.cri.sandbox-namespace"],
    sandbox: a["io.kubernetes.cri.container-type"] === "sandbox" || undefined,
  });
}

/** CRI-O annotations → metadata (the sandbox's io.kubernetes.cri-o.Labels are the pod labels). */
export function crioMeta(a: Record<string, string>): ContainerMeta {
  const uid = a["io.kubernetes.pod.uid"];
  const sandbox = a["io.kubernetes.cri-o.ContainerType"] === "sandbox";
  const meta: ContainerMeta = {
    name: a["io.kubernetes.container.name"],
    image: a["io.kubernetes.cri-o.ImageName"] ?? a["io.kubernetes.cri-o.Image"],
    podUid: uid ? canonicalPodUid(uid) : undefined,
    podName: a["io.kubernetes.pod.name"],
    podNamespace: a["io.kubernetes.pod.namespace"],
    sandbox: sandbox || undefined,
  };
  if (sandbox) {
    const labels = stringMap(parseJson(a["io.kubernetes.cri-o.Labels"]));
    if (labels) {
      const pl: Record<string, string> = {};
      for (const [k, v] of Object.entries(labels)) if (!k.startsWith("io.kubernetes.")) pl[k] = v;
      meta.podLabels = pl;
    }
  }
  return dropEmpty(meta);
}

/** podman's overlay-containers/containers.json → metadata by full container id. */
export function parsePodmanContainers(text: string | undefined): Map<string, ContainerMeta> {
  const out = new Map<string, ContainerMeta>();
  const arr = parseJson(text);
  if (!Array.isArray(arr)) return out;
  for (const e of arr) {
    const o = obj(e);
    const id = str(o?.id)?.toLowerCase();
    if (!o || !id || !/^[0-9a-f]{64}$/.test(id)) continue;
    const names = Array.isArray(o.names) ? o.names.filter((n): n is string => typeof n === "string") : [];
    const md = obj(parseJson(str(o.metadata)));
    out.set(id, dropEmpty({ name: names[0] ?? str(md?.name), image: str(md?.["image-name"]) }));
  }
  return out;
}

/** /var/log/pods/<namespace>_<pod name>_<uid> → its parts (namespaces and names have no `_`). */
export function parsePodLogDir(name: string): { namespace: string; name: string; uid: string } | undefined {
  const m = /^([a-z0-9.-]+)_([a-z0-9.-]+)_([0-9a-fA-F-]{32,36})$/.exec(name);
  if (!m) return undefined;
  const uid = canonicalPodUid(m[3]!);
  return uid ? { namespace: m[1]!, name: m[2]!, uid } : undefined;
}

/** /var/log/containers/<pod>_<namespace>_<container>-<64 hex id>.log → its parts. */
export function parseContainerLogName(name: string): { pod: string; namespace: string; container: string; id: string } | undefined {
  const m = /^([a-z0-9.-]+)_([a-z0-9.-]+)_([a-z0-9-]+)-([0-9a-f]{64})\.log$/.exec(name);
  return m ? { pod: m[1]!, namespace: m[2]!, container: m[3]!, id: m[4]! } : undefined;
}

/** Merges metadata: fields already set in `a` win. */
export function mergeMeta(a: ContainerMeta, b: ContainerMeta | undefined): ContainerMeta {
  if (!b) return a;
  const out: ContainerMeta = { ...b, ...dropEmpty(a) };
  return out;
}

export function toContainerInfo(ref: CgroupContainerRef, m: ContainerMeta): ContainerInfo {
  const podId = m.podUid ?? ref.podUid ?? "";
  const ns = m.podNamespace ?? "";
  return {
    id: ref.id.slice(0, 12),
    name: m.name ?? "",
    image: m.image ?? "",
    podId,
    pod: podId && m.podName ? `${ns}/${m.podName}` : "",
    podNamespace: podId ? ns : "",
    cgroupPath: ref.cgroupPath,
  };
}

const DIR_LISTING_TTL_MS = 5_000;

/** Reads container metadata through HostFs; caches directory listings briefly. */
export class ContainerResolver {
  private podDirs?: { at: number; byUid: Map<string, { namespace: string; name: string }> };
  private ctrLogs?: { at: number; byId: Map<string, { pod: string; namespace: string; container: string }> };
  private podman?: { at: number; byId: Map<string, ContainerMeta> };
  private taskNamespaces?: { at: number; dirs: string[] };

  constructor(
    private readonly host: HostFs,
    private readonly now: () => number = Date.now,
  ) {}

  /** Everything known about one container; fields nobody knows are absent. */
  resolve(ref: CgroupContainerRef): ContainerMeta {
    const id = ref.id;
    let meta: ContainerMeta = {};
    const tryDocker = ref.runtime === "docker" || ref.runtime === "unknown";
    const tryContainerd = ref.runtime === "containerd" || ref.runtime === "unknown" || ref.runtime === "docker";
    const tryStorage = ref.runtime === "crio" || ref.runtime === "podman" || ref.runtime === "unknown";
    if (tryDocker) meta = mergeMeta(meta, parseDockerConfig(this.host.readRoot("var/lib/docker/containers", id, "config.v2.json")));
    if (tryContainerd && !meta.name) {
      for (const dir of this.containerdTaskDirs()) {
        const a = parseOciAnnotations(this.host.read(`${dir}/${id}/config.json`));
        if (a) {
          meta = mergeMeta(meta, containerdMeta(a));
          break;
        }
      }
    }
    if (tryStorage && !meta.name) {
      for (const base of ["var/lib/containers/storage/overlay-containers", "run/containers/storage/overlay-containers"]) {
        const a = parseOciAnnotations(this.host.readRoot(base, id, "userdata", "config.json"));
        if (a && Object.keys(a).length) {
          meta = mergeMeta(meta, crioMeta(a));
          break;
        }
      }
      if (!meta.name && ref.runtime !== "crio") meta = mergeMeta(meta, this.podmanIndex().get(id));
    }
    const podUid = meta.podUid ?? ref.podUid;
    if (podUid || ref.runtime !== "docker") {
      const log = this.containerLogs().get(id);
      if (log) meta = mergeMeta(meta, { name: log.container, podName: log.pod, podNamespace: log.namespace });
    }
    if (podUid && (!meta.podName || !meta.podNamespace)) {
      const pd = this.podLogDirs().get(podUid);
      if (pd) meta = mergeMeta(meta, { podName: pd.name, podNamespace: pd.namespace });
    }
    if (podUid && !meta.podUid) meta = { ...meta, podUid };
    return meta;
  }

  private fresh<T extends { at: number }>(c: T | undefined): c is T {
    return c !== undefined && this.now() - c.at < DIR_LISTING_TTL_MS;
  }

  private containerdTaskDirs(): string[] {
    if (this.fresh(this.taskNamespaces)) return this.taskNamespaces.dirs;
    const dirs: string[] = [];
    for (const v of ["io.containerd.runtime.v2.task", "io.containerd.runtime.v1.linux"]) {
      const base = this.host.root("run/containerd", v);
      for (const ns of this.host.list(base)) dirs.push(`${base}/${ns}`);
    }
    this.taskNamespaces = { at: this.now(), dirs };
    return dirs;
  }

  private podLogDirs(): Map<string, { namespace: string; name: string }> {
    if (this.fresh(this.podDirs)) return this.podDirs.byUid;
    const byUid = new Map<string, { namespace: string; name: string }>();
    for (const d of this.host.list(this.host.root("var/log/pods"))) {
      const p = parsePodLogDir(d);
      if (p) byUid.set(p.uid, { namespace: p.namespace, name: p.name });
    }
    this.podDirs = { at: this.now(), byUid };
    return byUid;
  }

  private containerLogs(): Map<string, { pod: string; namespace: string; container: string }> {
    if (this.fresh(this.ctrLogs)) return this.ctrLogs.byId;
    const byId = new Map<string, { pod: string; namespace: string; container: string }>();
    for (const f of this.host.list(this.host.root("var/log/containers"))) {
      const p = parseContainerLogName(f);
      if (p) byId.set(p.id, { pod: p.pod, namespace: p.namespace, container: p.container });
    }
    this.ctrLogs = { at: this.now(), byId };
    return byId;
  }

  private podmanIndex(): Map<string, ContainerMeta> {
    if (this.fresh(this.podman)) return this.podman.byId;
    const byId = parsePodmanContainers(this.host.readRoot("var/lib/containers/storage/overlay-containers/containers.json"));
    this.podman = { at: this.now(), byId };
    return byId;
  }
}

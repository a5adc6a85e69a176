import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { canonicalPodUid, cgroupPathOf, containerOfPath, parseCgroupFile } from "./cgroup.ts";

const FIX = join(import.meta.dir, "../../test/fixtures/hosts");
const read = (host: string, rel: string) => readFileSync(join(FIX, host, rel), "utf8");
const ID = "4b5e57f6eb2f42b9039b3d1e13929295f231749c510cbe341cd68036d9af97e2";
const UID = "8d9f2c1e-4b3a-4f5e-9a7b-1c2d3e4f5a6b";
const UIDU = UID.replace(/-/g, "_");

describe("container of a cgroup path", () => {
  const cases: [string, string, string | undefined, string | undefined][] = [
    // path, runtime, id, pod uid
    [`/system.slice/docker-${ID}.scope`, "docker", ID, undefined],
    [`/docker/${ID}`, "docker", ID, undefined],
    [`/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UIDU}.slice/cri-containerd-${ID}.scope`, "containerd", ID, UID],
    [`/kubepods.slice/kubepods-pod${UIDU}.slice/cri-containerd-${ID}.scope`, "containerd", ID, UID],
    [`/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UIDU}.slice/crio-${ID}.scope`, "crio", ID, UID],
    [`/system.slice/containerd.service/kubepods-burstable-pod${UIDU}.slice:cri-containerd:${ID}`, "containerd", ID, UID],
    [`/machine.slice/libpod-${ID}.scope/container`, "podman", ID, undefined],
    [`/libpod_parent/libpod-${ID}`, "podman", ID, undefined],
    [`/kubepods/burstable/pod${UID}/${ID}`, "unknown", ID, UID],
    [`/kubepods/pod${UID}/${ID}`, "unknown", ID, UID],
    [`/isulad/${ID}`, "isulad", ID, undefined],
  ];
  for (const [path, runtime, id, pod] of cases) {
    test(path.slice(0, 70), () => {
      const r = containerOfPath(path, true)!;
      expect(r.id).toBe(id!);
      expect(r.runtime).toBe(runtime as never);
      expect(r.podUid).toBe(pod);
      expect(r.cgroupPath).toBe(path);
    });
  }

  test("host paths and monitors are not containers", () => {
    for (const p of [
      "/",
      "/init.scope",
      "/system.slice/docker.service",
      "/user.slice/user-0.slice/session-1.scope",
      `/machine.slice/libpod-conmon-${ID}.scope`,
      `/system.slice/crio-conmon-${ID}.scope`,
      "/process_api/c50aa746565ab5a00d6e4a6587a8437a",
      `/docker/${ID.slice(0, 63)}`,
      `/docker-${ID}x.scope`,
      `/kubepods/burstable/pod${UID}`,
    ]) {
      expect(containerOfPath(p, false)).toBeUndefined();
    }
  });

  test("nested containers: the innermost id wins", () => {
    const inner = "a".repeat(64);
    expect(containerOfPath(`/docker/${ID}/docker/${inner}`, true)!.id).toBe(inner);
  });

  test("pod uid forms", () => {
    expect(canonicalPodUid(UIDU)).toBe(UID);
    expect(canonicalPodUid(UID.replace(/-/g, "").toUpperCase())).toBe(UID);
    expect(canonicalPodUid("pod1")).toBeUndefined();
  });
});

describe("/proc/<pid>/cgroup files", () => {
  test("cgroup v1 (docker, cgroupfs driver)", () => {
    const r = parseCgroupFile(read("docker-cgv1", "proc/1200/cgroup"))!;
    expect(r).toEqual({ id: ID, runtime: "docker", podUid: undefined, cgroupPath: `/docker/${ID}`, v2: false });
  });

  test("cgroup v1 kubepods under docker", () => {
    const r = parseCgroupFile(read("docker-cgv1", "proc/1530/cgroup"))!;
    expect(r.podUid).toBe(UID);
    expect(r.runtime).toBe("unknown");
  });

  test("cgroup v2 (containerd, systemd slices)", () => {
    const r = parseCgroupFile(read("k8s-cgv2", "proc/3150/cgroup"))!;
    expect(r.id).toBe("34fb46c847bb9df96e5205a39d382f648a6e8dce1e014cd85b4ca6a88d88ed03");
    expect(r.runtime).toBe("containerd");
    expect(r.podUid).toBe("0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b");
    expect(r.v2).toBe(true);
  });

  test("hybrid: v2 line is '/' but v1 lines name the container", () => {
    const text = `0::/\n12:memory:/docker/${ID}\n1:name=systemd:/docker/${ID}\n`;
    expect(parseCgroupFile(text)!.v2).toBe(false);
    expect(parseCgroupFile(text)!.id).toBe(ID);
  });

  test("host processes, garbage and empty input", () => {
    expect(parseCgroupFile(read("docker-cgv1", "proc/1/cgroup"))).toBeUndefined();
    expect(parseCgroupFile(read("docker-cgv1", "proc/2600/cgroup"))).toBeUndefined();
    expect(parseCgroupFile("")).toBeUndefined();
    expect(parseCgroupFile(undefined)).toBeUndefined();
    expect(parseCgroupFile(`0::/docker/${ID.slice(0, 30)}`)).toBeUndefined();
  });

  test("cgroup path of a process", () => {
    expect(cgroupPathOf(read("k8s-cgv2", "proc/700/cgroup"))).toBe("/system.slice/containerd.service");
    expect(cgroupPathOf(read("docker-cgv1", "proc/880/cgroup"))).toBe("/system.slice/docker.service");
    expect(cgroupPathOf("garbage")).toBe("");
    expect(cgroupPathOf(undefined)).toBe("");
  });
});

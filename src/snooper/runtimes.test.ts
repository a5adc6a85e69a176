import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { HostFs, hostPathsUnder } from "../host/fs.ts";
import { parseCgroupFile } from "./cgroup.ts";
import {
  ContainerResolver,
  containerdMeta,
  crioMeta,
  parseContainerLogName,
  parseDockerConfig,
  parseOciAnnotations,
  parsePodLogDir,
  parsePodmanContainers,
  toContainerInfo,
} from "./runtimes.ts";

const FIX = join(import.meta.dir, "../../test/fixtures/hosts");
const hostOf = (name: string) => new HostFs(hostPathsUnder(join(FIX, name)));
const read = (host: string, rel: string) => readFileSync(join(FIX, host, rel), "utf8");

const WEB = "4b5e57f6eb2f42b9039b3d1e13929295f231749c510cbe341cd68036d9af97e2";
const SANDBOX = "b7ad567477c83756aab9a542b2be04f77dbae25115d85f22070d74d8cc4779dc";
const APP = "a172cedcae47474b615c54d510a5d84a8dea3032e958587430b413538be3f333";
const POD1 = "8d9f2c1e-4b3a-4f5e-9a7b-1c2d3e4f5a6b";
const K_SANDBOX = "9125f2177ab83f5c73fb81320caa3d23f4c19ea50066f638f196b6e9920fa0c1";
const REDIS = "34fb46c847bb9df96e5205a39d382f648a6e8dce1e014cd85b4ca6a88d88ed03";
const ENVOY = "84532b306f259587c364bd7301e0813963d5b84fd27c9338f0862dab8f0499d7";
const PODMAN = "cc68e1d9877507693f2627038a9947317d784e78728a2cdc290274f23414b7e0";
const POD2 = "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b";

describe("parsers", () => {
  test("docker config.v2.json", () => {
    expect(parseDockerConfig(read("docker-cgv1", `var/lib/docker/containers/${WEB}/config.v2.json`))).toEqual({ name: "web", image: "nginx:1.25" });
    expect(parseDockerConfig(read("docker-cgv1", `var/lib/docker/containers/${SANDBOX}/config.v2.json`))).toEqual({
      name: `k8s_POD_frontend-7d4b9c_shop_${POD1}_0`,
      image: "registry.k8s.io/pause:3.9",
      podUid: POD1,
      podName: "frontend-7d4b9c",
      podNamespace: "shop",
      sandbox: true,
      podLabels: { app: "frontend", tier: "web" },
    });
  });

  test("docker config: truncated, garbage, wrong shapes", () => {
    const full = read("docker-cgv1", `var/lib/docker/containers/${WEB}/config.v2.json`);
    expect(parseDockerConfig(full.slice(0, 60))).toBeUndefined();
    expect(parseDockerConfig("\u0000\u0001")).toBeUndefined();
    expect(parseDockerConfig("[]")).toBeUndefined();
    expect(parseDockerConfig('{"Name":5,"Config":{"Image":["x"],"Labels":"y"}}')).toEqual({});
    expect(parseDockerConfig(undefined)).toBeUndefined();
  });

  test("OCI annotations: containerd and CRI-O", () => {
    const a = parseOciAnnotations(read("k8s-cgv2", `run/containerd/io.containerd.runtime.v2.task/k8s.io/${REDIS}/config.json`))!;
    expect(containerdMeta(a)).toEqual({ name: "redis", image: "docker.io/library/redis:7.2", podUid: POD2, podName: "redis-0", podNamespace: "cache" });
    expect(parseOciAnnotations('{"ociVersion":"1"}')).toEqual({});
    expect(parseOciAnnotations("{broken")).toBeUndefined();
    expect(
      crioMeta({
        "io.kubernetes.container.name": "api",
        "io.kubernetes.pod.name": "api-1",
        "io.kubernetes.pod.namespace": "prod",
        "io.kubernetes.pod.uid": POD2,
        "io.kubernetes.cri-o.ImageName": "quay.io/x/api:1",
      }),
    ).toEqual({ name: "api", image: "quay.io/x/api:1", podUid: POD2, podName: "api-1", podNamespace: "prod" });
    expect(
      crioMeta({ "io.kubernetes.cri-o.ContainerType": "sandbox", "io.kubernetes.pod.uid": POD2, "io.kubernetes.cri-o.Labels": '{"app":"api","io.kubernetes.pod.name":"api-1"}' }),
    ).toEqual({ podUid: POD2, sandbox: true, podLabels: { app: "api" } });
    expect(crioMeta({ "io.kubernetes.cri-o.ContainerType": "sandbox", "io.kubernetes.cri-o.Labels": "{not json" })).toEqual({ sandbox: true });
  });

  test("podman containers.json", () => {
    const m = parsePodmanContainers(read("k8s-cgv2", "var/lib/containers/storage/overlay-containers/containers.json"));
    expect([...m.keys()]).toEqual([PODMAN]);
    expect(m.get(PODMAN)).toEqual({ name: "orders-db", image: "docker.io/library/postgres:16" });
    expect(parsePodmanContainers("{").size).toBe(0);
    expect(parsePodmanContainers('[1,"x",null,{"id":5}]').size).toBe(0);
  });

  test("kubelet log names", () => {
    expect(parsePodLogDir(`cache_redis-0_${POD2}`)).toEqual({ namespace: "cache", name: "redis-0", uid: POD2 });
    expect(parsePodLogDir("cache_redis-0")).toBeUndefined();
    expect(parsePodLogDir("a_b_c")).toBeUndefined();
    expect(parseContainerLogName(`redis-0_cache_envoy-${ENVOY}.log`)).toEqual({ pod: "redis-0", namespace: "cache", container: "envoy", id: ENVOY });
    expect(parseContainerLogName("garbage.log")).toBeUndefined();
    expect(parseContainerLogName(`redis-0_cache_envoy-${ENVOY.slice(1)}.log`)).toBeUndefined();
  });
});

describe("resolver over fixture hosts", () => {
  const ref = (host: string, pid: number) => parseCgroupFile(read(host, `proc/${pid}/cgroup`))!;

  test("docker container (cgroup v1)", () => {
    const r = new ContainerResolver(hostOf("docker-cgv1"));
    const rf = ref("docker-cgv1", 1200);
    expect(toContainerInfo(rf, r.resolve(rf))).toEqual({
      id: WEB.slice(0, 12),
      name: "web",
      image: "nginx:1.25",
      podId: "",
      pod: "",
      podNamespace: "",
      cgroupPath: `/docker/${WEB}`,
    });
  });

  test("Kubernetes pod under docker (kubepods v1)", () => {
    const r = new ContainerResolver(hostOf("docker-cgv1"));
    const rf = ref("docker-cgv1", 1530);
    expect(toContainerInfo(rf, r.resolve(rf))).toEqual({
      id: APP.slice(0, 12),
      name: `k8s_app_frontend-7d4b9c_shop_${POD1}_0`,
      image: "registry.local/shop/frontend:2.1",
      podId: POD1,
      pod: "shop/frontend-7d4b9c",
      podNamespace: "shop",
      cgroupPath: `/kubepods/burstable/pod${POD1}/${APP}`,
    });
  });

  test("containerd pod (cgroup v2): bundle annotations", () => {
    const r = new ContainerResolver(hostOf("k8s-cgv2"));
    const rf = ref("k8s-cgv2", 3150);
    expect(toContainerInfo(rf, r.resolve(rf))).toMatchObject({ id: REDIS.slice(0, 12), name: "redis", image: "docker.io/library/redis:7.2", podId: POD2, pod: "cache/redis-0", podNamespace: "cache" });
  });

  test("containerd container without a bundle: kubelet log links give name and pod", () => {
    const r = new ContainerResolver(hostOf("k8s-cgv2"));
    const rf = ref("k8s-cgv2", 3160);
    expect(toContainerInfo(rf, r.resolve(rf))).toMatchObject({ id: ENVOY.slice(0, 12), name: "envoy", image: "", podId: POD2, pod: "cache/redis-0", podNamespace: "cache" });
  });

  test("containerd sandbox", () => {
    const r = new ContainerResolver(hostOf("k8s-cgv2"));
    const rf = ref("k8s-cgv2", 3100);
    const m = r.resolve(rf);
    expect(m.sandbox).toBe(true);
    expect(toContainerInfo(rf, m)).toMatchObject({ id: K_SANDBOX.slice(0, 12), name: "", podId: POD2, pod: "cache/redis-0" });
  });

  test("podman container (cgroup v2)", () => {
    const r = new ContainerResolver(hostOf("k8s-cgv2"));
    const rf = ref("k8s-cgv2", 4000);
    expect(toContainerInfo(rf, r.resolve(rf))).toMatchObject({ id: PODMAN.slice(0, 12), name: "orders-db", image: "docker.io/library/postgres:16", podId: "", pod: "" });
  });

  test("a container nobody knows: empty values, never a throw", () => {
    const r = new ContainerResolver(hostOf("broken"));
    const rf = parseCgroupFile(`0::/system.slice/docker-${"f".repeat(64)}.scope`)!;
    expect(toContainerInfo(rf, r.resolve(rf))).toEqual({ id: "ffffffffffff", name: "", image: "", podId: "", pod: "", podNamespace: "", cgroupPath: `/system.slice/docker-${"f".repeat(64)}.scope` });
  });
});

// Machine identity (spec config.md §8 as amended by DECISIONS.md): product_uuid, else
// /opt/gala-gopher/machine_id, else /etc/machine-id formatted as a uuid, else a random
// uuid; the choice is persisted when possible. Start-up never fails on it.
// A placeholder product_uuid (all zeros or all ones, as firmware and some hypervisors
// report when no uuid is set) is not an identity: every such machine would share it.
import { mkdirSync } from "node:fs";
import { networkInterfaces } from "node:os";
import { writeFileAtomic } from "./atomic-file.ts";
import type { HostFs } from "./fs.ts";

export interface MachineIdentity {
  /** Bare system uuid (Kafka metric messages). */
  uuid: string;
  /** First non-loopback IPv4 address, "" when none. */
  ip: string;
  /** `<uuid>-<ip>`: the machine_id label and event Host. */
  machineId: string;
  source: "product_uuid" | "machine_id file" | "etc machine-id" | "random";
  /** Why /opt/gala-gopher/machine_id could not be written (the old file, if any, is kept). */
  persistError?: string;
}

const UUID_RE = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/** Turns 32 hex digits (systemd machine-id) into the 8-4-4-4-12 form. */
export function formatMachineId(text: string): string | undefined {
  const t = text.trim().toLowerCase();
  if (UUID_RE.test(t)) return t;
  if (!/^[0-9a-f]{32}$/.test(t)) return undefined;
  return `${t.slice(0, 8)}-${t.slice(8, 12)}-${t.slice(12, 16)}-${t.slice(16, 20)}-${t.slice(20)}`;
}

/** True for the uuids firmware reports when none was set (all 0 or all f digits). */
export function isPlaceholderUuid(uuid: string): boolean {
  const hex = uuid.replaceAll("-", "");
  return /^0+$/.test(hex) || /^f+$/i.test(hex);
}

/** Writes the id atomically; a symlink at the path is replaced, not followed (mode 0440 when created). */
function persistId(path: string, uuid: string): void {
  writeFileAtomic(path, uuid + "\n", { mode: 0o440 });
}

/** Local IPv4 addresses from /proc/net/fib_trie (the `/32 host LOCAL` entries), in file order. */
export function parseFibTrieLocal(text: string): string[] {
  const out: string[] = [];
  let last: string | undefined;
  for (const line of text.split("\n")) {
    const addr = /\|--\s+(\d+\.\d+\.\d+\.\d+)\s*$/.exec(line);
    if (addr) {
      last = addr[1];
      continue;
    }
    if (last && /\/32 host LOCAL/.test(line) && !out.includes(last)) out.push(last);
  }
  return out;
}

export function pickHostIp(fs: HostFs): string {
  const local = parseFibTrieLocal(fs.readProc("net", "fib_trie") ?? "").filter((a) => !a.startsWith("127."));
  if (fs.paths.procfs === "/proc") {
    // On the live host prefer interface order, as `ip a` lists it.
    for (const addrs of Object.values(networkInterfaces())) {
      for (const a of addrs ?? []) {
        if (a.family === "IPv4" && !a.internal && (local.length === 0 || local.includes(a.address))) return a.address;
      }
    }
  }
  return local[0] ?? "";
}

export function resolveMachineIdentity(fs: HostFs, opts: { persist: boolean } = { persist: true }): MachineIdentity {
  const persisted = fs.root("opt", "gala-gopher", "machine_id");
  let uuid: string | undefined;
  let source: MachineIdentity["source"] = "random";
  const productRaw = formatMachineId(fs.readSys("class", "dmi", "id", "product_uuid") ?? "");
  const product = productRaw && !isPlaceholderUuid(productRaw) ? productRaw : undefined;
  if (product) {
    uuid = product;
    source = "product_uuid";
  } else {
    const saved = formatMachineId(fs.read(persisted) ?? "");
    if (saved && !isPlaceholderUuid(saved)) {
      uuid = saved;
      source = "machine_id file";
    } else {
      const etc = formatMachineId(fs.readRoot("etc", "machine-id") ?? "");
      if (etc && !isPlaceholderUuid(etc)) {
        uuid = etc;
        source = "etc machine-id";
      }
    }
  }
  uuid ??= crypto.randomUUID();
  let persistError: string | undefined;
  if (opts.persist && source !== "machine_id file") {
    try {
      mkdirSync(fs.root("opt", "gala-gopher"), { recursive: true, mode: 0o755 });
      persistId(persisted, uuid);
    } catch (e) {
      // Read-only root, no permission, a full disk: the id still works for this run.
      persistError = (e as Error).message;
    }
  }
  const ip = pickHostIp(fs);
  const id: MachineIdentity = { uuid, ip, machineId: ip ? `${uuid}-${ip}` : uuid, source };
  return persistError ? { ...id, persistError } : id;
}

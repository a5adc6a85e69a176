// Loading libbpf through bun:ffi. The executable carries libz, libelf and libbpf; they are
// copied into memfds and dlopen()ed from /proc/self/fd (no files on disk, works with a
// noexec $TMPDIR), in dependency order so the dynamic loader satisfies libbpf's
// DT_NEEDED entries with the copies already loaded. The system libbpf.so.1 is the
// fallback. GOPHER_LIBBPF=embedded forbids the fallback, GOPHER_LIBBPF=system skips the
// bundled copies.
//
// libbpf's print callback is process-global: it is installed once, on the main thread,
// and routed into the agent's Logger (setLibbpfLogger). Every libbpf call that can log
// must run on this thread (see docs/ebpf.md).
import { CString, dlopen, FFIType, JSCallback, ptr, read, type Pointer } from "bun:ffi";
import { readFileSync } from "node:fs";
import type { Logger } from "../log/logger.ts";
import { bundledLibraries, LIB_FILES } from "./assets.ts";
import { BpfError, LibbpfUnavailableError } from "./errors.ts";

const i32 = "i32";
const u32 = "u32";
const u64 = "u64";
const i64_fast = FFIType.i64_fast;
const P = "ptr";
const cstring = "cstring";
const fn = "function";
const bool = "bool";
const v = "void";

const LIBBPF_SYMBOLS = {
  libbpf_major_version: { args: [], returns: u32 },
  libbpf_minor_version: { args: [], returns: u32 },
  libbpf_set_print: { args: [fn], returns: P },
  libbpf_strerror: { args: [i32, P, u64], returns: i32 },
  libbpf_num_possible_cpus: { args: [], returns: i32 },
  libbpf_probe_bpf_prog_type: { args: [u32, P], returns: i32 },
  libbpf_probe_bpf_map_type: { args: [u32, P], returns: i32 },
  libbpf_probe_bpf_helper: { args: [u32, u32, P], returns: i32 },
  bpf_object__open_mem: { args: [P, u64, P], returns: P },
  bpf_object__load: { args: [P], returns: i32 },
  bpf_object__close: { args: [P], returns: v },
  bpf_object__name: { args: [P], returns: cstring },
  bpf_object__find_program_by_name: { args: [P, cstring], returns: P },
  bpf_object__find_map_by_name: { args: [P, cstring], returns: P },
  bpf_object__next_program: { args: [P, P], returns: P },
  bpf_object__next_map: { args: [P, P], returns: P },
  bpf_program__name: { args: [P], returns: cstring },
  bpf_program__section_name: { args: [P], returns: cstring },
  bpf_program__set_autoload: { args: [P, bool], returns: i32 },
  bpf_program__autoload: { args: [P], returns: bool },
  bpf_program__fd: { args: [P], returns: i32 },
  bpf_prog_test_run_opts: { args: [i32, P], returns: i32 },
  bpf_program__attach: { args: [P], returns: P },
  bpf_program__attach_tracepoint: { args: [P, cstring, cstring], returns: P },
  bpf_program__attach_raw_tracepoint: { args: [P, cstring], returns: P },
  bpf_program__attach_perf_event: { args: [P, i32], returns: P },
  bpf_program__attach_uprobe_opts: { args: [P, i32, cstring, u64, P], returns: P },
  bpf_program__attach_cgroup: { args: [P, i32], returns: P },
  bpf_program__attach_iter: { args: [P, P], returns: P },
  bpf_iter_create: { args: [i32], returns: i32 },
  ring_buffer__new: { args: [i32, fn, P, P], returns: P },
  ring_buffer__consume: { args: [P], returns: i32 },
  ring_buffer__free: { args: [P], returns: v },
  bpf_link__destroy: { args: [P], returns: i32 },
  bpf_link__fd: { args: [P], returns: i32 },
  bpf_map__fd: { args: [P], returns: i32 },
  bpf_map__name: { args: [P], returns: cstring },
  bpf_map__type: { args: [P], returns: u32 },
  bpf_map__key_size: { args: [P], returns: u32 },
  bpf_map__value_size: { args: [P], returns: u32 },
  bpf_map__max_entries: { args: [P], returns: u32 },
  bpf_map__set_max_entries: { args: [P, u32], returns: i32 },
  bpf_map__initial_value: { args: [P, P], returns: P },
  bpf_map_lookup_elem: { args: [i32, P, P], returns: i32 },
  bpf_map_update_elem: { args: [i32, P, P, u64], returns: i32 },
  bpf_map_delete_elem: { args: [i32, P], returns: i32 },
  bpf_map_get_next_key: { args: [i32, P, P], returns: i32 },
  bpf_map_lookup_batch: { args: [i32, P, P, P, P, P, P], returns: i32 },
  bpf_map_lookup_and_delete_batch: { args: [i32, P, P, P, P, P, P], returns: i32 },
  bpf_tc_hook_create: { args: [P], returns: i32 },
  bpf_tc_hook_destroy: { args: [P], returns: i32 },
  bpf_tc_attach: { args: [P, P], returns: i32 },
  bpf_tc_detach: { args: [P, P], returns: i32 },
  btf__load_vmlinux_btf: { args: [], returns: P },
  btf__parse: { args: [cstring, P], returns: P },
  btf__free: { args: [P], returns: v },
  btf__find_by_name_kind: { args: [P, cstring, u32], returns: i32 },
  btf__type_by_id: { args: [P, u32], returns: P },
  btf__name_by_offset: { args: [P, u32], returns: cstring },
  btf__resolve_size: { args: [P, u32], returns: FFIType.i64_fast },
  bpf_object__btf: { args: [P], returns: P },
} as const;

const LIBC_SYMBOLS = {
  __errno_location: { args: [], returns: P },
  vsnprintf: { args: [P, u64, P, P], returns: i32 },
  syscall: { args: [i64_fast, i64_fast, i64_fast, i64_fast, i64_fast, i64_fast], returns: i64_fast },
  mmap: { args: [P, u64, i32, i32, i32, i64_fast], returns: P },
  munmap: { args: [P, u64], returns: i32 },
  memfd_create: { args: [cstring, u32], returns: i32 },
  write: { args: [i32, P, u64], returns: i64_fast },
  read: { args: [i32, P, u64], returns: i64_fast },
  close: { args: [i32], returns: i32 },
  open: { args: [cstring, i32, u32], returns: i32 },
  strerror: { args: [i32], returns: cstring },
  if_nametoindex: { args: [cstring], returns: u32 },
  mount: { args: [cstring, cstring, cstring, u64, P], returns: i32 },
  getpid: { args: [], returns: i32 },
  malloc_trim: { args: [u64], returns: i32 },
} as const;

function openLibc() {
  return dlopen("libc.so.6", LIBC_SYMBOLS).symbols;
}
export type Libc = ReturnType<typeof openLibc>;

/** Narrows what a `ptr` return gives (bun-types: Pointer | bigint | null) to Pointer | null. */
export function asPtr(x: Pointer | bigint | number | null | undefined): Pointer | null {
  if (x === null || x === undefined) return null;
  if (typeof x === "bigint") return x === 0n ? null : (Number(x) as Pointer);
  return x === 0 ? null : (x as Pointer);
}

/** A number from an i64_fast/u64_fast return (bun-types: number | bigint). */
export function num(x: number | bigint): number {
  return typeof x === "bigint" ? Number(x) : x;
}
export type LibbpfSymbols = ReturnType<typeof dlopen<typeof LIBBPF_SYMBOLS>>["symbols"];

let libcSyms: Libc | undefined;
export function libc(): Libc {
  return (libcSyms ??= openLibc());
}

export function errno(): number {
  const p = asPtr(libc().__errno_location());
  return p ? read.i32(p, 0) : 0;
}

export function strerror(e: number): string {
  return String(libc().strerror(Math.abs(e)) ?? `errno ${e}`);
}

export interface Libbpf {
  readonly sym: LibbpfSymbols;
  /** "embedded" (the copies in the executable or dist/bpf/lib) or "system". */
  readonly source: "embedded" | "system";
  readonly version: string;
  /** Text of a libbpf error code (negative or positive). */
  strerror(err: number): string;
  /** Throws BpfError when `ret` < 0. */
  check(ret: number, op: string): number;
  /** For pointer-returning calls: throws BpfError (from errno) when `p` is null. */
  checkPtr<T>(p: T | null, op: string): T;
}

let loaded: Libbpf | undefined;
let loadError: Error | undefined;
const memfds: number[] = [];

/** Copies a library into a memfd and returns the /proc/self/fd path dlopen() can use. */
function memfdCopy(name: string, path: string): string {
  const bytes = new Uint8Array(readFileSync(path));
  const c = libc();
  const fd = c.memfd_create(Buffer.from(`${name}\0`), 1 /* MFD_CLOEXEC */);
  if (fd < 0) throw new Error(`memfd_create(${name}): ${strerror(errno())}`);
  let off = 0;
  while (off < bytes.length) {
    const n = num(c.write(fd, ptr(bytes, off), bytes.length - off));
    if (n <= 0) throw new Error(`write(memfd ${name}): ${strerror(errno())}`);
    off += n;
  }
  memfds.push(fd);
  return `/proc/self/fd/${fd}`;
}

function loadBundled(): LibbpfSymbols {
  const libs = bundledLibraries();
  const bpf = libs.find((l) => l.name === "libbpf");
  if (!bpf) throw new Error("no bundled libbpf in this build");
  let handle: LibbpfSymbols | undefined;
  for (const l of libs) {
    const p = memfdCopy(LIB_FILES[l.name], l.path);
    if (l.name === "libbpf") handle = dlopen(p, LIBBPF_SYMBOLS).symbols;
    else if (l.name === "libz") dlopen(p, { zlibVersion: { args: [], returns: cstring } });
    else dlopen(p, { elf_version: { args: [u32], returns: u32 } });
  }
  return handle!;
}

function loadSystem(): LibbpfSymbols {
  return dlopen("libbpf.so.1", LIBBPF_SYMBOLS).symbols;
}

/** Loads libbpf once (bundled copy first, then the system one); throws LibbpfUnavailableError. */
export function libbpf(): Libbpf {
  if (loaded) return loaded;
  if (loadError) throw loadError;
  const mode = (process.env.GOPHER_LIBBPF ?? "auto").toLowerCase();
  const errors: string[] = [];
  let sym: LibbpfSymbols | undefined;
  let source: Libbpf["source"] = "embedded";
  if (mode !== "system") {
    try {
      sym = loadBundled();
    } catch (e) {
      errors.push(`bundled: ${(e as Error).message}`);
    }
  }
  if (!sym && mode !== "embedded") {
    try {
      sym = loadSystem();
      source = "system";
    } catch (e) {
      errors.push(`system: ${(e as Error).message}`);
    }
  }
  if (!sym) {
    loadError = new LibbpfUnavailableError(`libbpf could not be loaded (GOPHER_LIBBPF=${mode}): ${errors.join("; ")}`);
    throw loadError;
  }
  const s = sym;
  const buf = new Uint8Array(256);
  const lib: Libbpf = {
    sym: s,
    source,
    version: `${s.libbpf_major_version()}.${s.libbpf_minor_version()}`,
    strerror(err: number) {
      const r = s.libbpf_strerror(err, buf, buf.length);
      if (r < 0) return strerror(err);
      const end = buf.indexOf(0);
      return new TextDecoder().decode(buf.subarray(0, end < 0 ? buf.length : end));
    },
    check(ret: number, op: string) {
      if (ret < 0) throw new BpfError(op, ret, lib.strerror(ret));
      return ret;
    },
    checkPtr<T>(p: T | null, op: string): T {
      if (p === null || p === undefined || (p as unknown as number) === 0) {
        const e = errno() || 22;
        throw new BpfError(op, e, lib.strerror(-e));
      }
      return p;
    },
  };
  installPrint(s);
  loaded = lib;
  return lib;
}

/** Whether libbpf is loadable here, without throwing. */
export function tryLibbpf(): Libbpf | undefined {
  try {
    return libbpf();
  } catch {
    return undefined;
  }
}

// ---- log routing ------------------------------------------------------------------

let sink: Logger | undefined;
const pending: { level: number; text: string }[] = [];
let printCb: JSCallback | undefined;
/** libbpf's debug output (every CO-RE relocation) is only forwarded with GOPHER_LIBBPF_DEBUG=1. */
const forwardDebug = () => process.env.GOPHER_LIBBPF_DEBUG === "1";

/** Whether a logger receives libbpf's messages (the daemon installs the agent's). */
export function hasLibbpfLogger(): boolean {
  return sink !== undefined;
}

/** Sends libbpf and verifier messages to `log` (warn/info/debug by libbpf level). */
export function setLibbpfLogger(log: Logger | undefined): void {
  sink = log;
  if (log) for (const p of pending.splice(0)) emit(p.level, p.text);
}

let quiet = 0;
/** Runs `f` with libbpf's warnings demoted to debug (expected failures, e.g. feature probes). */
export function withQuietLibbpf<T>(f: () => T): T {
  quiet++;
  try {
    return f();
  } finally {
    quiet--;
  }
}

function emit(level: number, text: string): void {
  if (quiet > 0) level = 2;
  if (!sink) {
    if (pending.length < 200) pending.push({ level, text });
    return;
  }
  for (const line of text.replace(/\n+$/, "").split("\n")) {
    const l = line.startsWith("libbpf: ") ? line : `libbpf: ${line}`;
    if (level === 0) sink.warn(l);
    else if (level === 1) sink.info(l);
    else sink.debug(l);
  }
}

/** Messages logged by libbpf since the last call (kept for error reports such as verifier failures). */
const recent: string[] = [];
export function takeRecentLibbpfLog(): string[] {
  return recent.splice(0);
}

function installPrint(s: LibbpfSymbols): void {
  const buf = new Uint8Array(8192);
  const bufPtr = ptr(buf);
  printCb = new JSCallback(
    (level: number, fmt: number, ap: number) => {
      if (level === 2 && !forwardDebug()) return 0;
      if (quiet > 0 && !forwardDebug() && level !== 0) return 0;
      const n = libc().vsnprintf(bufPtr, buf.length, fmt as Pointer, ap as Pointer);
      const text = new CString(bufPtr, 0, Math.min(Math.max(n, 0), buf.length - 1)).toString();
      if (recent.length >= 400) recent.shift();
      recent.push(text.replace(/\n+$/, ""));
      emit(level, text);
      return 0;
    },
    { args: [i32, P, P], returns: i32 },
  );
  s.libbpf_set_print(printCb.ptr!);
}

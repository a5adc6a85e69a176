// Benchmark of the l7 probe's TLS path (root): wrk over HTTPS (keep-alive, OpenSSL 3 on both
// ends) against nginx with TLS (one process) on loopback, in quadruplets: without the agent,
// with dist/gala-gopher running l7 (l7_protocol http) with support_ssl=0, with support_ssl=1,
// without again. Reported: median requests/s ratios of each agent run to the runs without
// (the mean of the two around it), and support_ssl=1 to support_ssl=0 (the TLS uprobes'
// own cost: on this host both wrk and nginx run the probed libssl). Also checked: with
// support_ssl=1 the agent's l7 request count for nginx is non-zero (the path is really on).
//   bun run bench/l7-tls.ts [--reps N] [--clients N] [--seconds S] [--settle S] [--quick] [--out FILE]
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { ensureBpf } from "../scripts/bpf.ts";
import { PARSERS } from "../src/probes/l7/index.ts";
import { startNginxTls } from "../src/probes/l7/tls/testdata/servers.ts";
import { ROOT, which } from "../test/harness.ts";
import { cpus, ensureDist, median, parseBenchArgs, pin, startBenchAgent } from "./lib.ts";

interface Opts {
  reps: number;
  clients: number;
  seconds: number;
  settleS: number;
  out: string;
}

function parseArgs(argv: string[]): Opts {
  const o: Opts = { reps: 5, clients: 50, seconds: 5, settleS: 8, out: join(ROOT, ".bench-out", "l7-tls.json") };
  return parseBenchArgs(
    argv,
    o,
    {
      numbers: { "--reps": "reps", "--clients": "clients", "--seconds": "seconds", "--settle": "settleS" },
      switches: { "--quick": (o) => Object.assign(o, { reps: 2, seconds: 3, settleS: 4 }) },
    },
    "bun run bench/l7-tls.ts [--reps 5] [--clients 50] [--seconds 5] [--settle 8] [--quick] [--out FILE.json]",
  );
}

/** wrk's requests/s against `url` (one thread pinned to `cpu`). */
function wrk(url: string, o: Opts, cpu: number): number {
  const r = Bun.spawnSync(pin(cpu, ["wrk", "-t1", `-c${o.clients}`, `-d${o.seconds}s`, url]), { stdout: "pipe", stderr: "pipe" });
  const m = /Requests\/sec:\s+([\d.]+)/.exec(r.stdout.toString());
  if (!m) throw new Error(`wrk failed: ${r.stderr.toString()}${r.stdout.toString()}`);
  return Number(m[1]);
}

const l7Doc = (supportSsl: 0 | 1) => ({ cmd: { probe: ["l7_bytes_metrics", "l7_rpc_metrics"] }, params: { report_period: 5, l7_protocol: ["http"], support_ssl: supportSsl }, state: "running" });

/** The agent's l7 request count of `pid` in the last period (summed over its l7_rpc series). */
async function reqCount(metricsPort: number, pid: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  let n = 0;
  for (const m of text.matchAll(/^gala_gopher_l7_req_count\{([^}]*)\} ([\d.e+]+)$/gm)) if (m[1]!.includes(`tgid="${pid}"`)) n += Number(m[2]);
  return n;
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  if (process.getuid?.() !== 0) throw new Error("run as root (the probe loads BPF programs)");
  for (const t of ["nginx", "wrk", "openssl"]) if (!which(t)) throw new Error(`${t} not found (apt-get install nginx wrk openssl)`);
  if (!PARSERS.has("http")) throw new Error("this build has no http parser (src/probes/l7/protocols/index.ts): the TLS path would carry nothing to parse");
  ensureBpf({ quiet: true });
  ensureDist(["src/probes/l7", "src/probes/l7/protocols", "src/probes/l7/tls", "src/libbpf", "dist/bpf"]);
  await using nginx = await startNginxTls();
  const url = `https://127.0.0.1:${nginx.port}/index`;
  console.log(`l7 TLS bench: ${o.reps} quadruplets (none / l7 support_ssl=0 / l7 support_ssl=1 / none) of wrk -c ${o.clients} -d ${o.seconds}s over HTTPS against nginx (OpenSSL 3); agent on the whole host`);
  wrk(url, { ...o, seconds: 1 }, 1);
  const reps: { rps: [number, number, number, number]; ssl0: number; ssl1: number; ssl1VsSsl0: number; counted: number }[] = [];
  for (let i = 0; i < o.reps; i++) {
    const none0 = wrk(url, o, 1);
    let agent = await startBenchAgent([`l7 ${JSON.stringify(l7Doc(0))}`], "l7", o.settleS);
    const ssl0 = wrk(url, o, 1);
    await agent.stop();
    agent = await startBenchAgent([`l7 ${JSON.stringify(l7Doc(1))}`], "l7", o.settleS);
    const ssl1 = wrk(url, o, 1);
    // req_count is a period's count: some period overlapping wrk's run ends within one
    // report period (5 s) after it and stays exposed for the next 5 s.
    let counted = 0;
    for (let s = 0; s < 7; s++, await Bun.sleep(1000)) counted = Math.max(counted, await reqCount(agent.files.metricsPort, nginx.pid));
    await agent.stop();
    const none1 = wrk(url, o, 1);
    const base = (none0 + none1) / 2;
    const rep = { rps: [none0, ssl0, ssl1, none1] as [number, number, number, number], ssl0: ssl0 / base, ssl1: ssl1 / base, ssl1VsSsl0: ssl1 / ssl0, counted };
    reps.push(rep);
    console.log(`  rep ${i + 1}: ${rep.rps.map((r) => r.toFixed(0)).join(" / ")} req/s; ratio ssl=0 ${rep.ssl0.toFixed(3)}, ssl=1 ${rep.ssl1.toFixed(3)}, ssl=1 vs ssl=0 ${rep.ssl1VsSsl0.toFixed(3)}; nginx requests counted with ssl=1: ${counted}`);
  }
  const result = {
    date: new Date().toISOString(),
    kernel: readFileSync("/proc/sys/kernel/osrelease", "utf8").trim(),
    cpus: cpus(),
    clients: o.clients,
    seconds: o.seconds,
    reps,
    medianRatioSsl0: median(reps.map((r) => r.ssl0)),
    medianRatioSsl1: median(reps.map((r) => r.ssl1)),
    medianSsl1VsSsl0: median(reps.map((r) => r.ssl1VsSsl0)),
  };
  mkdirSync(dirname(o.out), { recursive: true });
  writeFileSync(o.out, JSON.stringify(result, null, 2));
  console.log(`median requests/s ratio to no agent: l7 support_ssl=0 ${result.medianRatioSsl0.toFixed(3)}, support_ssl=1 ${result.medianRatioSsl1.toFixed(3)}; support_ssl=1 / support_ssl=0 ${result.medianSsl1VsSsl0.toFixed(3)}`);
  console.log(`results: ${o.out}`);
  if (reps.some((r) => r.counted === 0)) {
    console.log("MISSED: with support_ssl=1 the agent counted no request of nginx");
    process.exitCode = 1;
  }
}

await main();

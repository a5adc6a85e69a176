// The runtime's floor for the bench: a Bun + Hono hello world serving one metric, compiled
// by bench/run.ts with the agent's build options (scripts/build-options.ts). No Bun agent
// can use less memory than this; bench/run.ts reports the agent's VmRSS above it.
//   floor --port PORT [--hostname 127.0.0.1]
import { Hono } from "hono";

function arg(name: string, fallback?: string): string {
  const i = process.argv.indexOf(name);
  const v = i >= 0 ? process.argv[i + 1] : fallback;
  if (v === undefined) throw new Error(`${name} is required`);
  return v;
}

const port = Number(arg("--port"));
if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`--port ${arg("--port")}: not a TCP port`);
const hostname = arg("--hostname", "127.0.0.1");
const started = Date.now() / 1000;

const app = new Hono();
app.get("/metrics", (c) =>
  c.text(`# HELP floor_start_time_seconds start of this process (Unix time)\n# TYPE floor_start_time_seconds gauge\nfloor_start_time_seconds ${started}\n`, 200, {
    "content-type": "text/plain; version=0.0.4; charset=utf-8",
  }),
);
Bun.serve({ hostname, port, fetch: app.fetch });
process.on("SIGTERM", () => process.exit(0));

#!/usr/bin/env bun
// Entry point: `gala-gopher [options]`, `gala-gopher ctl ...`, or `gopher-ctl ...` (symlink).
import "./boot.ts"; // first: may re-execute the process (jit-mode.ts)
import { basename } from "node:path";
import { USAGE, parseCli } from "./cli.ts";
import { runCtl } from "./ctl/client.ts";
import { runDaemon } from "./daemon.ts";
import { FEATURES_CHILD_ENV, runFeaturesChild } from "./host/features-child.ts";
import { VERSION, commit } from "./version.ts";

/** The name this executable was invoked as (argv[0] survives a symlink). */
function invokedAs(): string {
  return basename(process.argv0 || process.argv[0] || "");
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const env = process.env;
  if (env[FEATURES_CHILD_ENV] === "1") return runFeaturesChild();
  if (invokedAs() === "gopher-ctl") return runCtl(args, env);
  if (args[0] === "ctl") return runCtl(args.slice(1), env);
  const cli = parseCli(args, env);
  switch (cli.kind) {
    case "help":
      process.stdout.write(USAGE);
      return 0;
    case "version":
      process.stdout.write(`gala-gopher ${VERSION}\nCOMMIT_SHA1=${commit()}\n`);
      return 0;
    case "error":
      process.stderr.write(`${cli.message}\n\n${USAGE}`);
      return 1;
    case "run":
      return runDaemon(cli.opts, env);
  }
}

process.exit(await main());

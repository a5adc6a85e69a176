// Command-line parsing for the daemon (config.md §1 plus node_exporter-style host paths).
export const DEFAULT_CONFIG_PATH = "/etc/gala-gopher/gala-gopher.conf";
export const DEFAULT_PROBES_INIT = "/etc/gala-gopher/probes.init";
export const DEFAULT_RUN_DIR = "/var/run/gala_gopher";

export const USAGE = `Usage: gala-gopher [options]
       gala-gopher ctl <gopher-ctl arguments>      (same as the gopher-ctl command)

Options:
  -c, --config_path FILE   configuration file (default ${DEFAULT_CONFIG_PATH});
                           a missing file means the shipped defaults
  -h, --help               print this help and exit
  -v, --version            print the version and commit and exit
      --path.procfs DIR    procfs mount point (default /proc)
      --path.sysfs DIR     sysfs mount point (default /sys)
      --path.rootfs DIR    host root file system (default /)
      --probes-init FILE   boot-time probe configuration (default ${DEFAULT_PROBES_INIT},
                           or GOPHER_PROBES_INIT with the file's content)
      --save-probes        on stop, write the running probe configuration back to it
      --run-dir DIR        pid file and gopher-ctl socket directory (default ${DEFAULT_RUN_DIR})

Environment: GOPHER_HOST_PATH, GOPHER_LOG_LEVEL, GOPHER_EVENT_CHANNEL, GOPHER_META_CHANNEL,
GOPHER_KAFKA_SERVER, GOPHER_METRIC_ADDR, GOPHER_METRIC_PORT, GOPHER_REST_ADDR,
GOPHER_REST_PORT, GOPHER_REST_AUTH, GOPHER_REST_PRIVATE_KEY, GOPHER_REST_CERT,
GOPHER_REST_CAFILE, GOPHER_METRIC_LOGS_TOTAL_SIZE, GOPHER_PROBES_INIT, GOPHER_SAVE_PROBES.
`;

export interface CliOptions {
  configPath: string;
  configPathGiven: boolean;
  procfs?: string;
  sysfs?: string;
  rootfs?: string;
  probesInit: string;
  saveProbes: boolean;
  runDir: string;
}

export type CliResult = { kind: "run"; opts: CliOptions } | { kind: "help" } | { kind: "version" } | { kind: "error"; message: string };

export function parseCli(args: readonly string[], env: Record<string, string | undefined>): CliResult {
  const opts: CliOptions = {
    configPath: DEFAULT_CONFIG_PATH,
    configPathGiven: false,
    probesInit: DEFAULT_PROBES_INIT,
    saveProbes: env.GOPHER_SAVE_PROBES === "1" || env.GOPHER_SAVE_PROBES === "yes",
    runDir: DEFAULT_RUN_DIR,
  };
  for (let i = 0; i < args.length; i++) {
    const a = args[i] ?? "";
    const eq = a.indexOf("=");
    const flag = a.startsWith("--") && eq > 0 ? a.slice(0, eq) : a;
    const inline = a.startsWith("--") && eq > 0 ? a.slice(eq + 1) : undefined;
    const value = (): string | undefined => {
      if (inline !== undefined) return inline;
      const v = args[i + 1];
      if (v === undefined) return undefined;
      i++;
      return v;
    };
    switch (flag) {
      case "-h":
      case "--help":
        return { kind: "help" };
      case "-v":
      case "--version":
        return { kind: "version" };
      case "--save-probes":
        opts.saveProbes = true;
        break;
      case "-c":
      case "--config_path":
      case "--path.procfs":
      case "--path.sysfs":
      case "--path.rootfs":
      case "--probes-init":
      case "--run-dir": {
        const v = value();
        if (!v) return { kind: "error", message: `option ${flag} needs a value` };
        if (flag === "-c" || flag === "--config_path") {
          opts.configPath = v;
          opts.configPathGiven = true;
        } else if (flag === "--path.procfs") opts.procfs = v;
        else if (flag === "--path.sysfs") opts.sysfs = v;
        else if (flag === "--path.rootfs") opts.rootfs = v;
        else if (flag === "--probes-init") opts.probesInit = v;
        else opts.runDir = v;
        break;
      }
      default:
        return { kind: "error", message: `The command you entered is incorrect: unknown argument '${a}'` };
    }
  }
  return { kind: "run", opts };
}

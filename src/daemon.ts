// Wiring only: config → logger → host → store → outputs → probe manager → servers →
// probes.init; and the orderly stop on SIGTERM/SIGINT.
import { existsSync, readFileSync, realpathSync } from "node:fs";
import { join } from "node:path";
import type { Registry } from "prom-client";
import type { CliOptions } from "./cli.ts";
import { LibconfigSyntaxError } from "./config/libconfig.ts";
import { ConfigError, loadConfig } from "./config/load.ts";
import type { AgentConfig } from "./config/types.ts";
import { startCtlServer } from "./ctl/server.ts";
import { stateDumpLines } from "./ctl/state-dump.ts";
import { AgentMetrics } from "./egress/agent-metrics.ts";
import { EventLogSink, MetaLogSink, MetricLogSink, clearMetricDir } from "./egress/logs.ts";
import { PrometheusRenderer } from "./egress/prometheus.ts";
import { SinkSet, type OutputSink } from "./egress/sink.ts";
import { writeFileAtomic } from "./host/atomic-file.ts";
import { HostFs, hostPathsFrom } from "./host/fs.ts";
import { resolveMachineIdentity, type MachineIdentity } from "./host/machine-id.ts";
import { acquirePidLock, type PidLock } from "./host/pidfile.ts";
import { metricsApp, scrapeText } from "./http/metrics.ts";
import { PageRoutes } from "./probe/pages.ts";
import { restApp } from "./http/rest.ts";
import { tlsOptions } from "./http/tls.ts";
import { DropTally } from "./log/drops.ts";
import { LogSink, type Logger } from "./log/logger.ts";
import { ProbeManager } from "./probe/manager.ts";
import { applyProbesInit } from "./probe/probes-init.ts";
import { PROBES } from "./probes/registered.ts";
import { reportKernelFeaturesLater } from "./host/features-later.ts";
import { setLibbpfLogger } from "./libbpf/ffi.ts";
import { BpfDropCounts } from "./probe/bpf-drops.ts";
import { limitOverrides } from "./probe/limits.ts";
import { MetricStore } from "./store/store.ts";
import { createSnooper } from "./snooper/index.ts";
import { VERSION, commit } from "./version.ts";

export interface RunningAgent {
  manager: ProbeManager;
  metricsPort?: number;
  restPort?: number;
  stop(): Promise<void>;
  /** SIGUSR1: logs probe states, series per table, memory and the running configuration. */
  dumpState(): void;
}

type Env = Record<string, string | undefined>;

async function outputSinks(cfg: AgentConfig, ident: MachineIdentity, log: Logger, registry: Registry, drops: DropTally): Promise<SinkSet> {
  const sinks: OutputSink[] = [];
  const m = cfg.metric.outChannel;
  const machineId = ident.machineId;
  if (m === "logs") sinks.push(new MetricLogSink(cfg.logs.metricDir, cfg.logs.metricTotalSize, "prometheus", machineId, drops));
  if (m === "json") sinks.push(new MetricLogSink(cfg.logs.metricDir, cfg.logs.metricTotalSize, "json", machineId, drops));
  if (cfg.event.outChannel === "logs") sinks.push(new EventLogSink(cfg.logs.eventDir, drops));
  if (cfg.meta.outChannel === "logs") sinks.push(new MetaLogSink(cfg.logs.metaDir, drops));
  // One producer for every channel set to kafka (metric messages carry the bare uuid).
  // kafkajs is loaded only when a channel uses it (it costs ~13 MB of RSS).
  if ([m, cfg.event.outChannel, cfg.meta.outChannel].includes("kafka")) {
    const { kafkaFromConfig } = await import("./egress/kafka.ts");
    const kafka = kafkaFromConfig({ cfg, uuid: ident.uuid, log, registry });
    if (kafka) sinks.push(kafka.sink);
  }
  return new SinkSet(sinks, log.child("output"));
}

export async function startAgent(opts: CliOptions, env: Env): Promise<RunningAgent> {
  const loaded = loadConfig({ path: opts.configPath, env });
  const cfg = loaded.config;
  // Log lines that cannot be written (full or read-only log directories) are counted here
  // until the agent's metrics exist, then in gala_gopher_agent_dropped_total.
  const logDrops = new DropTally();
  const sink = new LogSink({
    drops: logDrops,
    level: cfg.global.logLevel,
    file: join(cfg.logs.debugDir, cfg.global.logFileName),
    stderr: env.GOPHER_LOG_STDERR !== "0",
  });
  const log = sink.logger();
  setLibbpfLogger(log.child("libbpf"));
  log.info(`gala-gopher ${VERSION} (commit ${commit()}) starting, pid ${process.pid}`);
  if (loaded.path) log.info(`configuration: ${loaded.path}`);
  for (const n of loaded.notes) log.info(`config: ${n}`);

  // Everything taken from here on is released in reverse order if the start-up fails;
  // once it succeeded, stop() releases it in its own order.
  await using startup = new AsyncDisposableStack();
  let lock: PidLock | undefined = startup.use(acquirePidLock(join(opts.runDir, "gala-gopher.pid")));

  const host = new HostFs(hostPathsFrom({ procfs: opts.procfs, sysfs: opts.sysfs, rootfs: opts.rootfs }, env));
  const ident = resolveMachineIdentity(host, { persist: host.paths.rootfs === "/" });
  log.info(`machine_id ${ident.machineId} (uuid from ${ident.source})`);
  if (ident.persistError) log.warn(`machine_id not persisted: ${ident.persistError}`);

  const store = new MetricStore({ maxRowsPerTable: cfg.imdb.maxRecordsNum, log: log.child("store") });
  const agentMetrics = new AgentMetrics(store, { version: VERSION, commit: commit() });
  logDrops.attach(agentMetrics.dropped);
  const bpfDrops = new BpfDropCounts();
  bpfDrops.register(agentMetrics.registry);
  const snooper = createSnooper({
    host,
    log: log.child("snooper"),
    selfPid: process.pid,
    onDrop: (feature, n) => agentMetrics.dropped.inc({ channel: `scope_${feature}`, reason: "over_1000_objects" }, n),
  });
  startup.defer(() => snooper.close());
  store.addEnricher(snooper.enricher);
  const renderer = new PrometheusRenderer(store, ident.machineId);
  const sinks = await outputSinks(cfg, ident, log, agentMetrics.registry, logDrops);
  startup.defer(() => sinks.close());

  const pages = new PageRoutes();
  const manager = new ProbeManager({
    pages,
    definitions: PROBES,
    store,
    metrics: agentMetrics,
    host,
    log,
    sinks,
    machineId: ident.machineId,
    eventTimeoutSec: cfg.event.timeout,
    scopeFactory: snooper.scopeFactory,
    drops: bpfDrops,
    limits: limitOverrides(PROBES, env, log),
  });
  startup.defer(() => manager.shutdown());

  const servers: { stop(force?: boolean): void }[] = [];
  startup.defer(() => {
    for (const s of servers) s.stop(true);
  });
  let metricsPort: number | undefined;
  let restPort: number | undefined;
  const metricsText = () => scrapeText({ renderer, agent: agentMetrics });
  {
    // The metrics endpoint runs for metric channel web_server and also for kafka, where it
    // serves the same snapshot plus the gala_gopher_agent_kafka_* queue and drop counters
    // (docs/compatibility.md). In kafka mode a port that cannot be bound is not fatal.
    if (cfg.metric.outChannel === "web_server" || cfg.metric.outChannel === "kafka") {
      const app = metricsApp({ renderer, agent: agentMetrics, healthy: () => true, pages });
      try {
        const s = Bun.serve({
          hostname: cfg.webServer.bindAddr,
          port: cfg.webServer.port,
          fetch: app.fetch,
          tls: tlsOptions(cfg.webServer),
        });
        servers.push(s);
        metricsPort = s.port;
        log.info(`metrics on ${cfg.webServer.sslAuth ? "https" : "http"}://${cfg.webServer.bindAddr}:${s.port}/metrics`);
      } catch (e) {
        if (cfg.metric.outChannel === "web_server") throw e;
        log.warn(`metrics endpoint not started (${(e as Error).message}); metrics still go to Kafka`);
      }
    }
    if (cfg.global.restApiOn) {
      const s = Bun.serve({
        hostname: cfg.restApiServer.bindAddr,
        port: cfg.restApiServer.port,
        fetch: restApp(manager).fetch,
        tls: tlsOptions(cfg.restApiServer),
        maxRequestBodySize: 4 * 1024 * 1024,
      });
      servers.push(s);
      restPort = s.port;
      log.info(`REST API on ${cfg.restApiServer.sslAuth ? "https" : "http"}://${cfg.restApiServer.bindAddr}:${s.port}/<probe>`);
    }
    servers.push(startCtlServer(join(opts.runDir, "gala_gopher_cmd.sock"), { manager, metricsText, log }));
  }

  // Boot configuration.
  const fileText = () => (existsSync(opts.probesInit) ? readFileSync(opts.probesInit, "utf8") : "");
  const initAtStart = fileText();
  const initText = env.GOPHER_PROBES_INIT ?? initAtStart;
  const initSource = env.GOPHER_PROBES_INIT !== undefined ? "GOPHER_PROBES_INIT" : opts.probesInit;
  if (initText.trim()) {
    const r = await applyProbesInit(initText, initSource, manager, log);
    log.info(`${initSource}: ${r.applied} line(s) applied, ${r.failed} failed`);
  }

  // Kernel features (tracefs mounted when missing) are detected when an eBPF probe first
  // needs them (ctx.features); their log line and gauges come a moment after start
  // (host/features-later.ts).
  const featureReport = reportKernelFeaturesLater(agentMetrics.registry, log);

  startup.move(); // started: stop() owns what was taken
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      log.info("stopping");
      featureReport[Symbol.dispose]();
      if (opts.saveProbes && fileText() !== initAtStart) {
        // An operator edited the file while the agent ran: their edit wins.
        log.warn(`${opts.probesInit} changed since start; not overwriting it with the running configuration`);
      } else if (opts.saveProbes) {
        try {
          // A symlinked probes.init (configuration management) keeps its link: the target is replaced.
          const target = existsSync(opts.probesInit) ? realpathSync(opts.probesInit) : opts.probesInit;
          writeFileAtomic(target, "# written by gala-gopher --save-probes at stop\n" + manager.savedConfiguration());
          log.info(`running configuration saved to ${opts.probesInit}`);
        } catch (e) {
          log.error(`could not save the configuration to ${opts.probesInit}: ${(e as Error).message}`);
        }
      }
      await manager.shutdown();
      snooper.close();
      for (const s of servers) s.stop(true);
      await sinks.close();
      if (cfg.metric.outChannel !== "kafka") clearMetricDir(cfg.logs.metricDir);
      lock?.[Symbol.dispose]();
      lock = undefined;
      log.info("stopped");
    })());
  const dumpState = () => {
    for (const l of stateDumpLines({ manager, store, features: manager.catalog.features.map((f) => f.name) })) log.info(l);
  };
  return { manager, metricsPort, restPort, stop, dumpState };
}

/** Runs the daemon until SIGTERM/SIGINT; returns the exit status. */
export async function runDaemon(opts: CliOptions, env: Env): Promise<number> {
  let agent: RunningAgent;
  try {
    agent = await startAgent(opts, env);
  } catch (e) {
    if (e instanceof ConfigError || e instanceof LibconfigSyntaxError) {
      process.stderr.write(`gala-gopher: configuration error: ${e.message}\nFix the file (or remove the key to use its default) and start again.\n`);
    } else {
      process.stderr.write(`gala-gopher: cannot start: ${(e as Error).message ?? String(e)}\n`);
    }
    return 1;
  }
  process.on("SIGHUP", () => undefined);
  process.on("SIGPIPE", () => undefined);
  // SIGUSR1/SIGUSR2 would terminate the process by default (leaving the pid file and socket).
  process.on("SIGUSR1", () => agent.dumpState());
  process.on("SIGUSR2", () => undefined);
  await new Promise<void>((resolve) => {
    const onSignal = () => {
      const hard = setTimeout(() => process.exit(0), 5000);
      hard.unref?.();
      void agent.stop().then(resolve, resolve);
    };
    process.once("SIGTERM", onSignal);
    process.once("SIGINT", onSignal);
  });
  return 0;
}

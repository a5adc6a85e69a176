// The debug log: `<debug_dir>/<log_file_name>`, lines `MM/DD/YY HH:MM:SS - [LEVEL] message`,
// 100 MB then one `.1` backup (spec config.md §4). Also mirrored to stderr for journald;
// when the file cannot be written (read-only or full directory) the line goes to stderr
// even with mirroring off, and is counted as a debug_log drop.
import type { LogLevel } from "../config/types.ts";
import { CappedFile } from "./capped-file.ts";
import { DropTally } from "./drops.ts";

const ORDER: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };
const LABEL: Record<LogLevel, string> = { debug: "DEBUG", info: "INFO", warn: "WARN", error: "ERROR" };

export interface Logger {
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
  child(prefix: string): Logger;
}

const two = (n: number) => String(n).padStart(2, "0");
export function formatLogTime(d: Date): string {
  return `${two(d.getMonth() + 1)}/${two(d.getDate())}/${two(d.getFullYear() % 100)} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

export interface LogSinkOptions {
  level: LogLevel;
  /** Full path of the log file, or null for stderr only. */
  file: string | null;
  maxBytes?: number;
  stderr?: boolean;
  /** Where lines that could not be written are counted (a private tally when absent). */
  drops?: DropTally;
  /** Retry interval of a directory that could not be created (ms). */
  retryMs?: number;
}

export class LogSink {
  private readonly file: CappedFile | undefined;
  constructor(private readonly opts: LogSinkOptions) {
    if (opts.file) {
      this.file = new CappedFile(opts.file, {
        maxBytes: opts.maxBytes ?? 100 * 1024 * 1024,
        onFull: "rotate",
        channel: "debug_log",
        drops: opts.drops ?? new DropTally(),
        retryMs: opts.retryMs,
        onChange: (failing, detail) =>
          process.stderr.write(
            failing
              ? `${formatLogTime(new Date())} - [WARN] log file ${opts.file} cannot be written (${failing}: ${detail}); its lines go to stderr and are counted as gala_gopher_agent_dropped_total{channel="debug_log"}; retrying\n`
              : `${formatLogTime(new Date())} - [INFO] log file ${opts.file} is writable again\n`,
          ),
      });
    }
  }

  write(level: LogLevel, msg: string): void {
    if (ORDER[level] < ORDER[this.opts.level]) return;
    const line = `${formatLogTime(new Date())} - [${LABEL[level]}] ${msg}\n`;
    const mirrored = this.opts.stderr !== false;
    if (mirrored) process.stderr.write(line);
    if (this.file && this.file.append(line) === 0 && !mirrored) process.stderr.write(line);
  }

  logger(prefix = ""): Logger {
    const p = prefix ? `[${prefix}] ` : "";
    return {
      debug: (m) => this.write("debug", p + m),
      info: (m) => this.write("info", p + m),
      warn: (m) => this.write("warn", p + m),
      error: (m) => this.write("error", p + m),
      child: (name) => this.logger(prefix ? `${prefix}/${name}` : name),
    };
  }
}

/** A logger for tests and early start-up: stderr, info level. */
export function stderrLogger(level: LogLevel = "info"): Logger {
  return new LogSink({ level, file: null }).logger();
}

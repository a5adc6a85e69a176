// The debug log: `<debug_dir>/<log_file_name>`, lines `MM/DD/YY HH:MM:SS - [LEVEL] message`,
// 100 MB then one `.1` backup (spec config.md §4). Also mirrored to stderr for journald.
import { appendFileSync, mkdirSync, renameSync, statSync } from "node:fs";
import { dirname } from "node:path";
import type { LogLevel } from "../config/types.ts";

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
}

export class LogSink {
  private size = -1;
  private readonly maxBytes: number;
  failures = 0;
  constructor(private readonly opts: LogSinkOptions) {
    this.maxBytes = opts.maxBytes ?? 100 * 1024 * 1024;
    if (opts.file) {
      try {
        mkdirSync(dirname(opts.file), { recursive: true, mode: 0o750 });
        this.size = statSync(opts.file).size;
      } catch {
        this.size = 0;
      }
    }
  }

  write(level: LogLevel, msg: string): void {
    if (ORDER[level] < ORDER[this.opts.level]) return;
    const line = `${formatLogTime(new Date())} - [${LABEL[level]}] ${msg}\n`;
    if (this.opts.stderr !== false) process.stderr.write(line);
    const file = this.opts.file;
    if (!file) return;
    try {
      if (this.size + line.length > this.maxBytes) {
        renameSync(file, file + ".1");
        this.size = 0;
      }
      appendFileSync(file, line, { mode: 0o640 });
      this.size += Buffer.byteLength(line);
    } catch {
      this.failures++;
    }
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

/**
 * Logging: pino, JSON lines to stderr by default (stdout stays free for CLI output).
 * Each process creates ONE root logger with its process context (role, node id, pid);
 * components derive children (`log.child({ component: "gateway" })`) and per-user loggers
 * (`userLogger(log, userId)`) so every line about a user carries `user`.
 */
import { pino, type Logger, type LevelWithSilent } from "pino";

export type { Logger } from "pino";

export interface LoggerOptions {
  level: LevelWithSilent;
  role?: string;
  nodeId?: string;
  /** Where to write; default: stderr. */
  destination?: NodeJS.WritableStream;
}

export function createLogger(opts: LoggerOptions): Logger {
  const base: Record<string, unknown> = { pid: process.pid };
  if (opts.role) base.role = opts.role;
  if (opts.nodeId) base.node = opts.nodeId;
  const dest = opts.destination ?? pino.destination({ fd: 2, sync: false });
  return pino(
    {
      level: opts.level,
      base,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    dest as pino.DestinationStream,
  );
}

/** A child logger whose every line names the user. */
export function userLogger(log: Logger, userId: string | number): Logger {
  return log.child({ user: String(userId) });
}

/** A logger that drops everything (unit tests, tools). */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}

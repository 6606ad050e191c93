/**
 * `opsctl logs [--user ID] [--kind K] [--since 1h] [--limit N] [--json]`: the game log
 * (issue #9 item 3; table `game_log` in the global DB, daily partitions). Newest first; the
 * `--since` bound prunes partitions. Exit status: 0 (also when nothing matched); 2 usage /
 * unreachable DB.
 *
 * `recordAdmin`: what cli.ts calls after a successful admin command (event, flag set/rm,
 * shard add/weight/move-user/rebalance/recover): one `admin` row, best effort (a failure is a
 * warning on stderr, the command's exit status stands).
 */
import type { Config } from "../../core/config.js";
import { RiftError } from "../../core/errors.js";
import { createLogger } from "../../core/log.js";
import type { SqlRunner } from "../../core/ops/events.js";
import { GAME_LOG_KINDS, GameLogWriter, maintainPartitions, parseSince, queryGameLog, type GameLogEntry, type GameLogKind } from "../../core/ops/game-log.js";
import { createDataLayer } from "../../shard/data-layer.js";
import { applyMigrations, GLOBAL_MIGRATIONS } from "../../shard/migrations.js";
import type { Output } from "./context.js";
import { table } from "./format.js";

export interface LogsOptions {
  user?: number;
  kind?: string;
  since: string;
  limit: number;
  json?: boolean;
}

/** Validate the options (pure; RiftError USAGE). */
export function logsQuery(o: LogsOptions, now: number): { userId?: number; kind?: GameLogKind; since: number; limit: number } {
  if (o.kind !== undefined && !(GAME_LOG_KINDS as readonly string[]).includes(o.kind)) throw new RiftError("USAGE", `--kind ${JSON.stringify(o.kind)}: one of ${GAME_LOG_KINDS.join(", ")}`);
  let since: number;
  try {
    since = parseSince(o.since, now);
  } catch (e) {
    throw new RiftError("USAGE", `--since: ${(e as Error).message}`);
  }
  return { ...(o.user !== undefined ? { userId: o.user } : {}), ...(o.kind !== undefined ? { kind: o.kind as GameLogKind } : {}), since, limit: o.limit };
}

export interface GlobalDb {
  run: SqlRunner;
  tx: <T>(fn: (run: SqlRunner) => Promise<T>) => Promise<T>;
  close(): Promise<void>;
}

export async function openGlobalDb(config: Config): Promise<GlobalDb> {
  const log = createLogger({ level: "warn", role: "opsctl" });
  const data = createDataLayer({ config, log, client: "opsctl" });
  const scope = config.db.globalScope;
  const tx: GlobalDb["tx"] = (fn) => data.router.transaction(scope, (c) => fn((sql, p) => c.query(sql, p)), { idempotent: true });
  try {
    // additive and advisory-locked: safe while the cluster runs
    await data.router.transaction(scope, (c) => applyMigrations(c, GLOBAL_MIGRATIONS, log), { idempotent: true });
  } catch (e) {
    await data.close();
    throw new RiftError("DEPENDENCY_UNAVAILABLE", `global database (${scope}): ${e instanceof Error ? e.message : String(e)}`);
  }
  return { run: (sql, p) => data.router.query(scope, sql, p, { idempotent: true }), tx, close: () => data.close() };
}

export function formatLogs(rows: readonly GameLogEntry[]): string {
  if (rows.length === 0) return "no log entries";
  return table(
    ["AT", "KIND", "USER", "NODE", "DETAIL"],
    rows.map((r) => [r.at, r.kind, r.userId ? String(r.userId) : "-", r.node, JSON.stringify(r.detail)]),
  ).join("\n");
}

export async function runLogs(config: Config, o: LogsOptions, io: Output, now = Date.now()): Promise<number> {
  const q = logsQuery(o, now);
  const db = await openGlobalDb(config);
  try {
    const rows = await queryGameLog(db.run, q);
    io.out(o.json ? JSON.stringify({ since: new Date(q.since).toISOString(), entries: rows }) : formatLogs(rows));
    return 0;
  } finally {
    await db.close();
  }
}

/** One `admin` row for an operator command that succeeded (best effort). */
export async function recordAdmin(config: Config, action: string, args: readonly string[], io: Output): Promise<void> {
  let db: GlobalDb | undefined;
  try {
    db = await openGlobalDb(config);
    const d = db;
    const w = new GameLogWriter({
      node: "opsctl",
      run: d.run,
      ensurePartitions: () => d.tx((run) => maintainPartitions(run, { now: Date.now(), retentionDays: config.ops.logRetentionDays, ahead: config.ops.logPartitionsAhead })),
      maxBuffer: 10,
      flushMs: 1000,
      log: createLogger({ level: "silent", role: "opsctl" }),
    });
    w.log("admin", 0, { action, args: [...args], operator: process.env.USER ?? "" });
    await w.flush();
    if (w.queued > 0) throw new Error("the admin log row was not written");
  } catch (e) {
    io.err(`opsctl: warning: admin action not logged: ${e instanceof Error ? e.message : String(e)}`);
  } finally {
    await db?.close();
  }
}

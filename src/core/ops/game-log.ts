/**
 * Game event log in the global DB (issue #9 item 3): table `game_log`, natively partitioned
 * by day (`PARTITION BY RANGE (at)`, partitions `game_log_YYYYMMDD` holding [day, day+1) UTC).
 *
 * Parts:
 * - pure helpers: `partitionName`, `partitionBounds`, `partitionsToKeep`, `parseSince`;
 * - `GameLogWriter`: a bounded in-memory buffer flushed every `flushMs` with ONE multi-row
 *   INSERT (unnest of column arrays). `log()` never blocks and never throws (callers are tick
 *   paths); a full buffer drops the OLDEST row and counts it (`rift_game_log_dropped_total`).
 *   A failed flush puts the batch back (still bounded) and is retried at the next period; a
 *   flush that fails because no partition covers a row's day runs `ensurePartitions` first.
 * - `maintainPartitions`: under a transaction-scoped advisory lock (any process may run it;
 *   concurrent runs serialise), creates today … today+ahead and detaches + drops partitions
 *   whose whole day is older than `retentionDays`.
 * - `queryGameLog`: filters by user / kind / time; the `at >= since` bound lets Postgres prune
 *   partitions.
 */
import type { Logger } from "../log.js";
import type { Counter, Gauge } from "prom-client";
import type { SqlRunner } from "./events.js";

export const GAME_LOG_KINDS = ["login", "logout", "transfer", "trade", "item", "error", "admin"] as const;
export type GameLogKind = (typeof GAME_LOG_KINDS)[number];

export interface GameLogRow {
  kind: GameLogKind;
  /** 0 when no user (e.g. a server error). */
  userId: number;
  node: string;
  detail: Record<string, unknown>;
  /** Epoch ms. */
  at: number;
}

export interface GameLogSink {
  /** Queue one row (never throws, never blocks). */
  log(kind: GameLogKind, userId: number, detail?: Record<string, unknown>): void;
}

const DAY_MS = 86_400_000;

/** UTC midnight (ms) of the day holding `ms`. */
export function dayStart(ms: number): number {
  return Math.floor(ms / DAY_MS) * DAY_MS;
}

/** `game_log_YYYYMMDD` of the UTC day holding `ms`. */
export function partitionName(ms: number): string {
  return `game_log_${new Date(dayStart(ms)).toISOString().slice(0, 10).replaceAll("-", "")}`;
}

/** The UTC day a partition name stands for (ms), or undefined for a foreign name. */
export function partitionDay(name: string): number | undefined {
  const m = /^game_log_(\d{4})(\d{2})(\d{2})$/.exec(name);
  if (!m) return undefined;
  const t = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  return partitionName(t) === name ? t : undefined;
}

/** FROM/TO bounds (ISO, UTC) of the partition of the day holding `ms`. */
export function partitionBounds(ms: number): { from: string; to: string } {
  const d = dayStart(ms);
  return { from: new Date(d).toISOString(), to: new Date(d + DAY_MS).toISOString() };
}

/**
 * The plan of a maintenance run (pure): partitions to create (today … today+ahead) and, of
 * `existing`, those to drop: a day that ENDED more than `retentionDays` days before `now`
 * (so with retention 7 the last 7 full days plus today are kept).
 */
export function partitionPlan(now: number, existing: readonly string[], retentionDays: number, ahead: number): { create: string[]; drop: string[] } {
  const today = dayStart(now);
  const create: string[] = [];
  for (let i = 0; i <= ahead; i++) {
    const n = partitionName(today + i * DAY_MS);
    if (!existing.includes(n)) create.push(n);
  }
  const oldestKept = today - retentionDays * DAY_MS;
  const drop = existing.filter((n) => {
    const d = partitionDay(n);
    return d !== undefined && d < oldestKept;
  });
  return { create, drop: drop.sort() };
}

/** `--since` values: `90s`, `15m`, `1h`, `7d`, or an ISO date/time. Returns epoch ms (pure). */
export function parseSince(v: string, now: number): number {
  const m = /^(\d+(?:\.\d+)?)\s*(s|m|h|d)$/.exec(v.trim());
  if (m) {
    const mult = { s: 1000, m: 60_000, h: 3_600_000, d: DAY_MS }[m[2] as "s" | "m" | "h" | "d"];
    return now - Number(m[1]) * mult;
  }
  if (/^\d{4}-\d{2}-\d{2}/.test(v.trim())) {
    const t = Date.parse(v.trim());
    if (Number.isFinite(t)) return t;
  }
  throw new Error(`expected a duration such as 90s, 15m, 1h, 7d or an ISO time (got ${JSON.stringify(v)})`);
}

const LOCK_KEY = 0x72696674; // "rift": advisory lock id of the game-log maintenance

export interface MaintenanceResult {
  created: string[];
  dropped: string[];
}

/** Advisory-locked maintenance on the global DB (`tx` runs statements inside ONE transaction). */
export async function maintainPartitions(tx: SqlRunner, opts: { now: number; retentionDays: number; ahead: number }): Promise<MaintenanceResult> {
  await tx("SELECT pg_advisory_xact_lock($1)", [LOCK_KEY]);
  const { rows } = await tx(
    `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
      WHERE p.relname = 'game_log' AND p.relnamespace = current_schema()::regnamespace`,
    [],
  );
  const existing = rows.map((r) => String(r.name));
  const plan = partitionPlan(opts.now, existing, opts.retentionDays, opts.ahead);
  for (const name of plan.create) {
    const { from, to } = partitionBounds(partitionDay(name)!);
    await tx(`CREATE TABLE IF NOT EXISTS ${name} PARTITION OF game_log FOR VALUES FROM ('${from}') TO ('${to}')`, []);
  }
  for (const name of plan.drop) {
    await tx(`ALTER TABLE game_log DETACH PARTITION ${name}`, []);
    await tx(`DROP TABLE ${name}`, []);
  }
  return { created: plan.create, dropped: plan.drop };
}

export interface GameLogMetrics {
  written: Counter<string>;
  dropped: Counter<string>;
  flushFailures: Counter<string>;
  queued: Gauge<string>;
}

export interface GameLogWriterOptions {
  node: string;
  /** Runs one statement on the global DB. */
  run: SqlRunner;
  /** Creates the missing partitions (maintenance); called when a flush finds none for a row. */
  ensurePartitions: () => Promise<unknown>;
  maxBuffer: number;
  flushMs: number;
  /** Rows per INSERT (a larger buffer is flushed in several statements). */
  batchMax?: number;
  log: Logger;
  metrics?: GameLogMetrics;
  now?: () => number;
}

export class GameLogWriter implements GameLogSink {
  private buf: GameLogRow[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private closed = false;
  /** Rows dropped because the buffer was full (also in the metric). */
  dropped = 0;
  written = 0;

  constructor(private readonly opts: GameLogWriterOptions) {}

  start(): this {
    this.timer = setInterval(() => void this.flush(), this.opts.flushMs);
    this.timer.unref();
    return this;
  }

  get queued(): number {
    return this.buf.length;
  }

  log(kind: GameLogKind, userId: number, detail: Record<string, unknown> = {}): void {
    if (this.closed) return;
    this.push({ kind, userId, node: this.opts.node, detail, at: (this.opts.now ?? Date.now)() });
  }

  private push(row: GameLogRow): void {
    this.buf.push(row);
    const over = this.buf.length - this.opts.maxBuffer;
    if (over > 0) {
      this.buf.splice(0, over); // full queue: drop the oldest
      this.dropped += over;
      this.opts.metrics?.dropped.inc(over);
    }
    this.opts.metrics?.queued.set(this.buf.length);
  }

  /** Write everything queued now (coalesced with a running flush). */
  flush(): Promise<void> {
    this.flushing ??= this.doFlush().finally(() => (this.flushing = undefined));
    return this.flushing;
  }

  private async doFlush(): Promise<void> {
    const max = this.opts.batchMax ?? 1000;
    while (this.buf.length > 0) {
      const batch = this.buf.splice(0, max);
      try {
        await this.insert(batch);
      } catch (err) {
        if (isNoPartition(err)) {
          try {
            await this.opts.ensurePartitions();
            await this.insert(batch);
            continue;
          } catch (err2) {
            err = err2;
          }
        }
        this.opts.metrics?.flushFailures.inc();
        this.opts.log.warn({ err: err instanceof Error ? err.message : String(err), rows: batch.length }, "game log: flush failed (rows kept, retried)");
        // put the batch back in front; the bound still holds (oldest dropped first)
        const rest = this.buf;
        this.buf = [];
        for (const r of [...batch, ...rest]) this.push(r);
        return;
      }
    }
    this.opts.metrics?.queued.set(this.buf.length);
  }

  private async insert(batch: GameLogRow[]): Promise<void> {
    await this.opts.run(
      `INSERT INTO game_log (at, kind, user_id, node, detail)
       SELECT to_timestamp(t / 1000.0), k, u, n, d::jsonb FROM unnest($1::float8[], $2::text[], $3::bigint[], $4::text[], $5::text[]) AS x(t, k, u, n, d)`,
      [batch.map((r) => r.at), batch.map((r) => r.kind), batch.map((r) => r.userId), batch.map((r) => r.node), batch.map((r) => JSON.stringify(r.detail))],
    );
    this.written += batch.length;
    this.opts.metrics?.written.inc(batch.length);
  }

  /** Stop the timer and flush what is queued (best effort). */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    await this.flush().catch(() => undefined);
  }
}

function isNoPartition(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  return e?.code === "23514" && /no partition/i.test(e.message ?? "");
}

export interface GameLogQuery {
  userId?: number;
  kind?: GameLogKind;
  /** Epoch ms (inclusive). */
  since: number;
  until?: number;
  limit: number;
}

export interface GameLogEntry {
  at: string;
  kind: string;
  userId: number;
  node: string;
  detail: unknown;
}

/** Newest first. `at >= since` lets the planner prune partitions older than `since`. */
export async function queryGameLog(run: SqlRunner, q: GameLogQuery): Promise<GameLogEntry[]> {
  const where = ["at >= to_timestamp($1 / 1000.0)"];
  const params: unknown[] = [q.since];
  if (q.until !== undefined) where.push(`at < to_timestamp($${params.push(q.until)} / 1000.0)`);
  if (q.userId !== undefined) where.push(`user_id = $${params.push(q.userId)}`);
  if (q.kind !== undefined) where.push(`kind = $${params.push(q.kind)}`);
  const { rows } = await run(
    `SELECT at, kind, user_id, node, detail FROM game_log WHERE ${where.join(" AND ")} ORDER BY at DESC, id DESC LIMIT $${params.push(q.limit)}`,
    params,
  );
  return rows.map((r) => ({ at: new Date(r.at as Date).toISOString(), kind: String(r.kind), userId: Number(r.user_id), node: String(r.node), detail: r.detail }));
}

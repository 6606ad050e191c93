/**
 * Role wiring of the game log and the analytics pipeline (issue #9 items 3–4):
 * - `openGameLog`: the batched writer of this process (gateways: login/logout; field
 *   servers: errors/transfers), flushed on shutdown;
 * - `startOpsBackground`: what the coordinators run — the partition maintenance (every
 *   `ops.logMaintenanceMs`, advisory-locked, so two coordinators never race; run by every
 *   coordinator rather than only the leader so it needs no election hook) and the analytics
 *   consumer (one consumer per coordinator in group `rift-analytics`, name = node id).
 * Both need the global DB only; failures are logged and retried, never fatal.
 */
import { counter, gauge } from "../metrics.js";
import type { ProcessContext } from "../runtime.js";
import { AnalyticsConsumer, AnalyticsProducer } from "./analytics.js";
import type { SqlRunner } from "./events.js";
import { GameLogWriter, maintainPartitions } from "./game-log.js";
import type { ShardRouter } from "../../shard/router.js";

/** Runs `fn` with a statement runner inside ONE transaction on the global DB. */
export type TxRunner = <T>(fn: (tx: SqlRunner) => Promise<T>) => Promise<T>;

export function logMaintenance(ctx: Pick<ProcessContext, "config">, tx: TxRunner, now = Date.now) {
  const { logRetentionDays, logPartitionsAhead } = ctx.config.ops;
  return () => tx((run) => maintainPartitions(run, { now: now(), retentionDays: logRetentionDays, ahead: logPartitionsAhead }));
}

/** `openGameLog` on the global DB of a role's data layer. */
export function openGlobalGameLog(ctx: ProcessContext, router: Pick<ShardRouter, "query" | "transaction">): GameLogWriter {
  const g = ctx.config.db.globalScope;
  return openGameLog(
    ctx,
    (sql, p) => router.query(g, sql, p, { idempotent: true }),
    (fn) => router.transaction(g, (c) => fn((sql, p) => c.query(sql, p)), { idempotent: true }),
  );
}

export function openGameLog(ctx: ProcessContext, run: SqlRunner, tx: TxRunner): GameLogWriter {
  const reg = ctx.metrics;
  const w = new GameLogWriter({
    node: ctx.nodeId,
    run,
    ensurePartitions: logMaintenance(ctx, tx),
    maxBuffer: ctx.config.ops.logBufferMax,
    flushMs: ctx.config.ops.logFlushMs,
    log: ctx.log.child({ component: "game-log" }),
    metrics: {
      written: counter(reg, "rift_game_log_written_total", "Game log rows written to the global DB"),
      dropped: counter(reg, "rift_game_log_dropped_total", "Game log rows dropped because the in-memory buffer was full (oldest first)"),
      flushFailures: counter(reg, "rift_game_log_flush_failures_total", "Game log flushes that failed (rows kept and retried)"),
      queued: gauge(reg, "rift_game_log_queued", "Game log rows waiting in the in-memory buffer"),
    },
  }).start();
  ctx.lifecycle.onShutdown("game-log", () => w.close());
  return w;
}

export function openAnalyticsProducer(ctx: ProcessContext): AnalyticsProducer {
  const { url, keyPrefix } = ctx.config.cluster.redis;
  const p = new AnalyticsProducer({ url, keyPrefix, maxLen: ctx.config.ops.analyticsMaxLen, log: ctx.log.child({ component: "analytics" }), connectionName: `rift-analytics/${ctx.nodeId}` });
  ctx.lifecycle.onShutdown("analytics-producer", () => p.close());
  return p;
}

/**
 * Coordinator: partition maintenance + analytics consumer (background; never blocks start-up).
 * `prepare` (migrate the global DB) is retried every 2 s until it succeeds: the database may
 * not exist before the first gateway / game server created it.
 */
export function startOpsBackground(ctx: ProcessContext, run: SqlRunner, tx: TxRunner, prepare: () => Promise<unknown>): void {
  const log = ctx.log.child({ component: "ops-background" });
  const maintain = logMaintenance(ctx, tx);
  const reg = ctx.metrics;
  const stored = counter(reg, "rift_analytics_stored_total", "Client analytics events stored in analytics_events by this consumer");
  let timer: NodeJS.Timeout | undefined;
  let consumer: AnalyticsConsumer | undefined;
  let closed = false;
  const ready = (async () => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await prepare();
      } catch (err) {
        if (closed) throw new Error("closed");
        if (attempt === 1 || attempt % 30 === 0) log.warn({ err: err instanceof Error ? err.message : String(err), attempt }, "global DB not ready for the game log / analytics consumer (retrying)");
        await new Promise((r) => setTimeout(r, 2000).unref());
      }
    }
  })();
  const runMaintenance = () =>
    maintain().then(
      (r) => (r.created.length || r.dropped.length) && log.info(r, "game log partitions maintained"),
      (err: unknown) => log.warn({ err: err instanceof Error ? err.message : String(err) }, "game log maintenance failed (retried next period)"),
    );
  void ready.then(
    async () => {
      if (closed) return;
      await runMaintenance();
      timer = setInterval(() => void runMaintenance(), ctx.config.ops.logMaintenanceMs);
      timer.unref();
      if (closed) return clearInterval(timer);
      const { url, keyPrefix } = ctx.config.cluster.redis;
      const o = ctx.config.ops;
      consumer = new AnalyticsConsumer({ url, keyPrefix, consumer: ctx.nodeId, run, log, batchMax: o.analyticsBatchMax, blockMs: 1000, claimIdleMs: o.analyticsClaimIdleMs, claimEveryMs: Math.max(1000, Math.floor(o.analyticsClaimIdleMs / 2)), onStored: (n) => stored.inc(n) });
      await consumer.start().catch((err: unknown) => log.error({ err: err instanceof Error ? err.message : String(err) }, "analytics consumer failed to start"));
    },
    (err: unknown) => {
      if (!closed) log.error({ err: err instanceof Error ? err.message : String(err) }, "global DB not ready: no game-log maintenance / analytics consumer");
    },
  );
  ctx.lifecycle.onShutdown("ops-background", async () => {
    closed = true;
    if (timer) clearInterval(timer);
    await consumer?.close();
  });
}

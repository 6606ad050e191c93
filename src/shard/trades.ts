/**
 * Atomic item/currency trades between two players, possibly on different shards: two-phase
 * commit in code (DESIGN §2 "Cross-shard transactions", issue #7). See docs/ARCHITECTURE.md
 * "Cross-shard trades".
 *
 *   1. record   global: trades row, state 'preparing' (refused while either user is being moved)
 *   2. prepare  each involved shard, in shard-name order: one transaction that locks the offered
 *               items and the wallets (FOR UPDATE, fixed order, lock_timeout), checks ownership,
 *               item attributes and balances, applies the changes, writes the ledger rows and a
 *               `trade_applied` marker, then `PREPARE TRANSACTION 'rift_trade_<id>_<shard>'`
 *   3. decide   global: 'preparing' → 'committing' (THE commit point) — or → 'aborting' when a
 *               prepare failed
 *   4. finish   COMMIT PREPARED / ROLLBACK PREPARED on each shard
 *   5. done     global: state 'done', outcome 'committed' | 'aborted'
 *
 * Same-shard trades take the same path with one prepared transaction (one code path, one set
 * of crash tests; the cost is two extra global round trips).
 *
 * `recover()` resolves what a crash left behind: decided trades are finished ('committing' →
 * COMMIT PREPARED everywhere; a gid already gone is fine when the shard's `trade_applied`
 * marker shows it committed), undecided trades older than `abandonAfterMs` are switched to
 * 'aborting' (conditional update, so a live coordinator's commit decision and recovery's
 * abort can never both win) and rolled back, and prepared transactions named `rift_trade_%`
 * in this database whose trade row is missing or aborted are rolled back. Run it on start of
 * every process that coordinates trades and periodically (`startTradeRecovery`).
 *
 * Trades vs online user moves (mover.ts): a trade is refused when a `shard_moves` journal row
 * exists for either user at its record step, and its commit decision is refused (→ abort) when
 * one exists or the mapping changed by then. Known limit: a move that starts AFTER the decision
 * but before COMMIT PREPARED ran on the source (ms normally; until recovery after a coordinator
 * crash) can copy the user's rows without the trade's changes. The mover should skip users with
 * an open trade (`trades.state <> 'done'`) under a per-user advisory lock shared with the record
 * step (future work).
 */
import { randomUUID } from "node:crypto";
import { RiftError } from "../core/errors.js";
import type { Logger } from "../core/log.js";
import {
  parseTradeGid,
  planTrade,
  preparedAction,
  recoveryAction,
  tradeGid,
  tradeSpecProblem,
  type ItemInfo,
  type ShardWork,
  type TradeOutcome,
  type TradeSpec,
  type TradeState,
} from "../game/trade-rules.js";
import { itemsOn } from "./items.js";
import { sqlState } from "./pg-errors.js";
import type { Queryable, ShardRouter } from "./router.js";

/** Points where a test can inject a crash (the coordinator calls `hook` and awaits it). */
export type TradeStep = "before_prepare" | "after_prepare_1" | "after_prepare_2" | "after_decision" | "after_commit_1" | "after_commit_2";

export interface TradeCoordinatorOptions {
  router: ShardRouter;
  /** Mapping reads straight from the global DB (PgShardMap). */
  shardMap: { readMappings(ids: readonly number[]): Promise<Map<number, string>>; shards(): Promise<string[]> };
  globalScope: string;
  log: Logger;
  /** An undecided ('preparing') trade older than this is presumed abandoned by recovery (default 30 s). */
  abandonAfterMs?: number;
  /** lock_timeout of the prepare transactions (default 2000 ms): breaks cross-shard lock waits. */
  lockTimeoutMs?: number;
  /** Test seam: called at each step of a trade. */
  hook?: (step: TradeStep, tradeId: string) => void | Promise<void>;
}

export interface TradeResult {
  tradeId: string;
  outcome: "committed";
  /** Shards whose COMMIT PREPARED did not go through now (recovery finishes them). */
  unfinished: string[];
}

export interface RecoveryReport {
  /** Decided-commit trades finished by this pass. */
  committed: number;
  /** Trades aborted/rolled back by this pass (abandoned 'preparing' or decided 'aborting'). */
  aborted: number;
  /** Prepared transactions committed/rolled back in the orphan pass. */
  orphansCommitted: number;
  orphansRolledBack: number;
  /** Young 'preparing' trades left to their (possibly live) coordinator. */
  waiting: number;
  /** Decided-commit trades whose part on a shard is neither prepared nor applied (should be 0). */
  anomalies: string[];
  /** Trades / shards whose handling failed this pass (retried on the next pass). */
  errors: number;
}

interface TradeRow {
  id: string;
  state: TradeState;
  outcome: TradeOutcome | null;
  shards: string[];
  age_ms: number;
}

class CheckFailed extends Error {}

export class TradeCoordinator {
  private readonly log: Logger;
  private readonly abandonAfterMs: number;
  private readonly lockTimeoutMs: number;

  constructor(private readonly opts: TradeCoordinatorOptions) {
    this.log = opts.log.child({ component: "trades" });
    this.abandonAfterMs = opts.abandonAfterMs ?? 30_000;
    this.lockTimeoutMs = Math.max(1, Math.floor(opts.lockTimeoutMs ?? 2000));
  }

  /**
   * Trade atomically. Resolves when the commit decision is recorded (the trade is then
   * committed even if a shard's COMMIT PREPARED has to be finished by recovery).
   * Rejects with TRADE_REJECTED (nothing changed: bad spec, item not owned, insufficient
   * currency, lock timeout, user being moved) or TRADE_IN_DOUBT (the decision could not be
   * recorded or read back; recovery settles it — callers must re-read state, not retry blindly).
   */
  async trade(spec: TradeSpec): Promise<TradeResult> {
    const problem = tradeSpecProblem(spec);
    if (problem) throw new RiftError("TRADE_REJECTED", problem);
    const { router, globalScope } = this.opts;
    const mapping = await this.opts.shardMap.readMappings([spec.a, spec.b]);
    const shardA = mapping.get(spec.a);
    const shardB = mapping.get(spec.b);
    if (!shardA || !shardB) throw new RiftError("TRADE_REJECTED", `unknown user ${shardA ? spec.b : spec.a}`);

    // item attributes from the givers' shards (re-checked under lock in the prepare)
    const infos = new Map<number, ItemInfo>();
    for (const [user, shard, offer] of [[spec.a, shardA, spec.aGives], [spec.b, shardB, spec.bGives]] as const) {
      for (const it of await itemsOn(router, shard, offer.items)) infos.set(it.itemId, it);
      for (const id of offer.items) {
        const it = infos.get(id);
        if (!it || it.userId !== user) throw new RiftError("TRADE_REJECTED", `item ${id} is not owned by user ${user}`);
      }
    }
    const plan = planTrade(spec, { a: shardA, b: shardB }, infos);
    const tradeId = randomUUID().replaceAll("-", "");
    const shards = plan.map((w) => w.shard);

    const { rowCount } = await router.query(
      globalScope,
      `INSERT INTO trades (id, state, participants, shards, spec)
       SELECT $1, 'preparing', $2::jsonb, $3::text[], $4::jsonb
       WHERE NOT EXISTS (SELECT 1 FROM shard_moves WHERE user_id = ANY($5::bigint[]))`,
      [tradeId, JSON.stringify({ a: { user: spec.a, shard: shardA }, b: { user: spec.b, shard: shardB } }), shards, JSON.stringify(spec), [spec.a, spec.b]],
    );
    if (rowCount === 0) throw new RiftError("TRADE_REJECTED", "a participant is being moved between shards; try again");
    await this.step("before_prepare", tradeId);

    const prepared: string[] = [];
    try {
      for (const w of plan) {
        await this.prepareOn(tradeId, w);
        prepared.push(w.shard);
        await this.step(prepared.length === 1 ? "after_prepare_1" : "after_prepare_2", tradeId);
      }
    } catch (err) {
      const reason = err instanceof CheckFailed ? err.message : `prepare failed: ${errText(err)}`;
      await this.abort(tradeId, shards, reason);
      throw new RiftError("TRADE_REJECTED", reason, { cause: err });
    }

    // 3. the commit point
    let decided: boolean;
    try {
      // refused when a move of either user started meanwhile (journal row, or mapping changed)
      const r = await router.query(
        globalScope,
        `UPDATE trades SET state = 'committing', decided_at = now()
         WHERE id = $1 AND state = 'preparing'
           AND NOT EXISTS (SELECT 1 FROM shard_moves WHERE user_id IN ($2, $4))
           AND (SELECT count(*) FROM shard_map WHERE (user_id = $2 AND shard = $3) OR (user_id = $4 AND shard = $5)) = 2`,
        [tradeId, spec.a, shardA, spec.b, shardB],
      );
      decided = r.rowCount === 1;
    } catch (err) {
      throw new RiftError("TRADE_IN_DOUBT", `trade ${tradeId}: recording the decision failed (${errText(err)})`, { cause: err });
    }
    if (!decided) {
      // recovery presumed us dead and aborted the trade first, or a participant is being moved
      const reason = "aborted before the decision (abandoned, or a participant is being moved between shards)";
      await this.abort(tradeId, shards, reason);
      throw new RiftError("TRADE_REJECTED", `trade ${tradeId} ${reason}`);
    }
    await this.step("after_decision", tradeId);

    const unfinished: string[] = [];
    let n = 0;
    for (const shard of shards) {
      try {
        await this.finishOn(shard, tradeId, "commit");
      } catch (err) {
        unfinished.push(shard);
        this.log.warn({ tradeId, shard, err: errText(err) }, "COMMIT PREPARED failed; recovery will finish it");
      }
      n++;
      await this.step(n === 1 ? "after_commit_1" : "after_commit_2", tradeId);
    }
    if (unfinished.length === 0) {
      await router
        .query(globalScope, "UPDATE trades SET state = 'done', outcome = 'committed', done_at = now() WHERE id = $1 AND state = 'committing'", [tradeId], { idempotent: true })
        .catch((err: unknown) => this.log.warn({ tradeId, err: errText(err) }, "marking trade done failed; recovery will"));
    }
    return { tradeId, outcome: "committed", unfinished };
  }

  /**
   * Resolve in-doubt trades and stray prepared transactions (see the file comment).
   * `abandonAfterMs` overrides the option for this pass (0: every undecided trade is
   * abandoned — only when no other coordinator can be running).
   */
  async recover(opts: { abandonAfterMs?: number } = {}): Promise<RecoveryReport> {
    const abandonAfterMs = opts.abandonAfterMs ?? this.abandonAfterMs;
    const { router, globalScope } = this.opts;
    const report: RecoveryReport = { committed: 0, aborted: 0, orphansCommitted: 0, orphansRolledBack: 0, waiting: 0, anomalies: [], errors: 0 };
    const { rows } = await router.query<TradeRow>(
      globalScope,
      `SELECT id, state, outcome, shards, (extract(epoch FROM now() - created_at) * 1000)::float8 AS age_ms
       FROM trades WHERE state <> 'done' ORDER BY created_at`,
      [],
      { idempotent: true },
    );
    for (const t of rows) {
      try {
        await this.recoverTrade(t, abandonAfterMs, report);
      } catch (err) {
        // e.g. a shard unreachable, or a prepared xact "busy" being finished by its coordinator: next pass
        report.errors++;
        this.log.warn({ tradeId: t.id, err: errText(err) }, "recovering a trade failed; will retry on the next pass");
      }
    }

    // orphan pass: prepared transactions of this database named rift_trade_%
    const shards = await this.opts.shardMap.shards();
    for (const shard of shards) {
      try {
        await this.recoverPrepared(shard, report);
      } catch (err) {
        report.errors++;
        this.log.warn({ shard, err: errText(err) }, "checking prepared transactions failed; will retry on the next pass");
      }
    }
    if (report.committed || report.aborted || report.orphansCommitted || report.orphansRolledBack || report.anomalies.length || report.errors) {
      this.log.info({ ...report, anomalies: report.anomalies.length }, "trade recovery pass");
    }
    return report;
  }

  private async recoverTrade(t: TradeRow, abandonAfterMs: number, report: RecoveryReport): Promise<void> {
    const { router, globalScope } = this.opts;
    const action = recoveryAction(t.state, t.age_ms, abandonAfterMs);
    if (action === "wait") report.waiting++;
    if (action === "commit") {
      let ok = true;
      for (const shard of t.shards) {
        const r = await this.finishOn(shard, t.id, "commit");
        if (r === "missing") {
          ok = false;
          report.anomalies.push(`${t.id}@${shard}`);
          this.log.error({ tradeId: t.id, shard }, "decided trade is neither prepared nor applied on a shard");
        }
      }
      if (ok) {
        await router.query(globalScope, "UPDATE trades SET state = 'done', outcome = 'committed', done_at = now() WHERE id = $1 AND state = 'committing'", [t.id], { idempotent: true });
        report.committed++;
      }
    } else if (action === "abort") {
      if (await this.abort(t.id, t.shards, "abandoned; rolled back by recovery", true)) report.aborted++;
    }
  }

  private async recoverPrepared(shard: string, report: RecoveryReport): Promise<void> {
    const { router, globalScope } = this.opts;
    const { rows: px } = await router.query<{ gid: string }>(
      shard,
      "SELECT gid FROM pg_prepared_xacts WHERE database = current_database() AND gid LIKE 'rift\\_trade\\_%'",
      [],
      { idempotent: true },
    );
    const parsed = px.map((r) => parseTradeGid(r.gid)).filter((p): p is { tradeId: string; shard: string } => p !== undefined && p.shard === shard);
    if (parsed.length === 0) return;
    const { rows: trs } = await router.query<{ id: string; state: TradeState; outcome: TradeOutcome | null }>(
      globalScope,
      "SELECT id, state, outcome FROM trades WHERE id = ANY($1::text[])",
      [parsed.map((p) => p.tradeId)],
      { idempotent: true },
    );
    const byId = new Map(trs.map((r) => [r.id, r]));
    for (const p of parsed) {
      const action = preparedAction(byId.get(p.tradeId));
      if (action === "leave") continue;
      const r = await this.finishOn(shard, p.tradeId, action === "commit" ? "commit" : "rollback");
      if (r === "done") {
        if (action === "commit") report.orphansCommitted++;
        else report.orphansRolledBack++;
      }
    }
  }

  /** One shard's part: lock, check, apply, ledger, PREPARE. Throws CheckFailed when a rule fails. */
  private async prepareOn(tradeId: string, w: ShardWork): Promise<void> {
    const gid = tradeGid(tradeId, w.shard);
    await this.opts.router.withClient(w.shard, async (c) => {
      await c.query(`BEGIN; SET LOCAL lock_timeout = '${this.lockTimeoutMs}ms'`);
      try {
        await applyWork(c, tradeId, w);
        await c.query(`PREPARE TRANSACTION '${gid}'`);
      } catch (err) {
        await c.query("ROLLBACK").catch(() => undefined);
        if (sqlState(err) === "55P03") throw new CheckFailed(`busy: lock timeout on shard ${w.shard}`);
        if (sqlState(err) === "40P01") throw new CheckFailed(`busy: deadlock on shard ${w.shard}`);
        // an arriving item already exists here: the offer was built from a stale view (the PK is the safety net)
        if (sqlState(err) === "23505") throw new CheckFailed(`an offered item is already on shard ${w.shard} (stale offer)`);
        throw err;
      }
    });
  }

  /**
   * Record 'aborting' (unless already decided otherwise), roll back every prepared part, mark
   * done/aborted. Returns false when the trade turned out to be decided 'committing' (then
   * nothing is rolled back). Failures after the decision are left to recovery.
   */
  private async abort(tradeId: string, shards: string[], reason: string, rethrow = false): Promise<boolean> {
    const { router, globalScope } = this.opts;
    try {
      const { rowCount } = await router.query(
        globalScope,
        `UPDATE trades SET state = 'aborting', decided_at = coalesce(decided_at, now()), reason = coalesce(reason, $2)
         WHERE id = $1 AND state IN ('preparing', 'aborting')`,
        [tradeId, reason.slice(0, 500)],
        { idempotent: true },
      );
      if (rowCount === 0) return false;
      for (const shard of shards) await this.finishOn(shard, tradeId, "rollback");
      await router.query(globalScope, "UPDATE trades SET state = 'done', outcome = 'aborted', done_at = now() WHERE id = $1 AND state = 'aborting'", [tradeId], { idempotent: true });
      return true;
    } catch (err) {
      if (rethrow) throw err;
      // undecided or decided-abort: either way recovery rolls it back
      this.log.warn({ tradeId, err: errText(err) }, "aborting trade failed; recovery will finish it");
      return true;
    }
  }

  /**
   * COMMIT/ROLLBACK PREPARED the trade's gid on `shard` if it is prepared. Returns 'done' when
   * this call finished it, 'already' when it is not prepared and the shard's state agrees with
   * `how` (committed: `trade_applied` marker present; rollback: marker absent), 'missing' when a
   * commit is asked but the part is neither prepared nor applied.
   */
  private async finishOn(shard: string, tradeId: string, how: "commit" | "rollback"): Promise<"done" | "already" | "missing"> {
    const gid = tradeGid(tradeId, shard);
    const { router } = this.opts;
    const { rowCount } = await router.query(shard, "SELECT 1 FROM pg_prepared_xacts WHERE gid = $1 AND database = current_database()", [gid], { idempotent: true });
    if (rowCount) {
      try {
        await router.query(shard, `${how === "commit" ? "COMMIT" : "ROLLBACK"} PREPARED '${gid}'`, [], { idempotent: true });
        return "done";
      } catch (err) {
        // 42704: finished meanwhile by someone else (coordinator or another recovery pass)
        if (sqlState(err) !== "42704") throw err;
      }
    }
    if (how === "rollback") return "already";
    const { rowCount: applied } = await router.query(shard, "SELECT 1 FROM trade_applied WHERE trade_id = $1", [tradeId], { idempotent: true });
    return applied ? "already" : "missing";
  }

  private async step(step: TradeStep, tradeId: string): Promise<void> {
    if (this.opts.hook) await this.opts.hook(step, tradeId);
  }
}

/** The statements of one shard's part, inside the caller's open transaction. */
async function applyWork(c: Queryable, tradeId: string, w: ShardWork): Promise<void> {
  if (w.check.length > 0) {
    const ids = w.check.map((i) => i.itemId);
    const { rows } = await c.query<{ item_id: string; user_id: string; kind: string; qty: number }>(
      "SELECT item_id, user_id, kind, qty FROM inventory WHERE item_id = ANY($1::bigint[]) ORDER BY item_id FOR UPDATE",
      [ids],
    );
    const have = new Map(rows.map((r) => [Number(r.item_id), r]));
    for (const want of w.check) {
      const r = have.get(want.itemId);
      if (!r || Number(r.user_id) !== want.userId) throw new CheckFailed(`item ${want.itemId} is not owned by user ${want.userId}`);
      if (r.kind !== want.kind || r.qty !== want.qty) throw new CheckFailed(`item ${want.itemId} changed during the trade`);
    }
  }
  const walletUsers = [...new Set([...w.debit.map((d) => d.userId), ...w.credit.map((d) => d.userId)])].sort((x, y) => x - y);
  if (walletUsers.length > 0) {
    // lock the wallets in user order first (credits create missing wallets)
    await c.query("INSERT INTO wallets (user_id, currency) SELECT unnest($1::bigint[]), 0 ON CONFLICT (user_id) DO NOTHING", [w.credit.map((d) => d.userId)]);
    await c.query("SELECT user_id FROM wallets WHERE user_id = ANY($1::bigint[]) ORDER BY user_id FOR UPDATE", [walletUsers]);
  }
  const ledger: Record<string, unknown>[] = [];
  if (w.reassign.length > 0) {
    await c.query("UPDATE inventory SET user_id = t.to_user FROM unnest($1::bigint[], $2::bigint[]) AS t(id, to_user) WHERE item_id = t.id", [w.reassign.map((r) => r.itemId), w.reassign.map((r) => r.to)]);
    for (const r of w.reassign) ledger.push({ op: "trade_move", item_id: r.itemId, from_user: r.from, to_user: r.to });
  }
  if (w.remove.length > 0) {
    await c.query("DELETE FROM inventory WHERE item_id = ANY($1::bigint[])", [w.remove.map((r) => r.itemId)]);
    for (const r of w.remove) ledger.push({ op: "trade_out", item_id: r.itemId, from_user: r.from, to_user: r.to });
  }
  if (w.insert.length > 0) {
    await c.query("INSERT INTO inventory (item_id, user_id, kind, qty) SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::int[])", [
      w.insert.map((r) => r.itemId),
      w.insert.map((r) => r.to),
      w.insert.map((r) => r.kind),
      w.insert.map((r) => r.qty),
    ]);
    for (const r of w.insert) ledger.push({ op: "trade_in", item_id: r.itemId, kind: r.kind, qty: r.qty, from_user: r.from, to_user: r.to });
  }
  for (const d of w.debit) {
    const { rowCount } = await c.query("UPDATE wallets SET currency = currency - $2, updated_at = now() WHERE user_id = $1 AND currency >= $2", [d.userId, d.amount]);
    if (rowCount !== 1) throw new CheckFailed(`insufficient currency: user ${d.userId} cannot pay ${d.amount}`);
    ledger.push({ op: "trade_debit", currency: d.amount, from_user: d.userId, to_user: d.to });
  }
  if (w.credit.length > 0) {
    await c.query("UPDATE wallets SET currency = wallets.currency + t.amount, updated_at = now() FROM unnest($1::bigint[], $2::bigint[]) AS t(uid, amount) WHERE user_id = t.uid", [
      w.credit.map((d) => d.userId),
      w.credit.map((d) => d.amount),
    ]);
    for (const d of w.credit) ledger.push({ op: "trade_credit", currency: d.amount, from_user: d.from, to_user: d.userId });
  }
  await c.query(
    `WITH l AS (
       INSERT INTO item_ledger (op, item_id, kind, qty, currency, from_user, to_user, trade_id)
       SELECT op, item_id, kind, qty, currency, from_user, to_user, $2 FROM json_to_recordset($1::json)
         AS t(op text, item_id bigint, kind text, qty int, currency bigint, from_user bigint, to_user bigint)
     )
     INSERT INTO trade_applied (trade_id) VALUES ($2)`,
    [JSON.stringify(ledger), tradeId],
  );
}

/** Run `recover()` now and every `intervalMs` (errors are logged). Returns the stopper. */
export function startTradeRecovery(coordinator: TradeCoordinator, log: Logger, intervalMs = 10_000): { first: Promise<RecoveryReport | undefined>; stop(): void } {
  const run = () =>
    coordinator.recover().catch((err: unknown) => {
      log.warn({ err: errText(err) }, "trade recovery pass failed");
      return undefined;
    });
  const first = run();
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    void run().finally(() => (busy = false));
  }, intervalMs);
  timer.unref();
  return { first, stop: () => clearInterval(timer) };
}

function errText(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === "string" ? `${code} ${err.message}` : err.message;
  }
  return String(err);
}

/**
 * Online user move between shards (issue #6 item 4), for one user or in bulk, while the users
 * play. Per batch of users going from shard S to shard T:
 *
 *   a. journal   global: shard_moves(user, S, T, 'copying', moveId)  — a user in the journal is
 *                being moved by someone (a second mover skips it)
 *   b. hold      each owning game server writes the users' current state, then holds their
 *                writes (OwnerControl → ops API POST /shard/hold; gameplay goes on in memory)
 *   c. fence     S: owner_epoch + 1 for the users (any write still carrying the old epoch is
 *                rejected from now on), rows read back
 *   d. copy      T: the rows of every per-user table (SHARD_USER_TABLES), all columns
 *   e. flip      global, one transaction: shard_map → T and journal → 'flipped'
 *   f. announce  drop the mapping from this process's cache, publish on the MappingBus, and
 *                release the holds with the new epoch (owners drop their cache entry first)
 *   g. clean     S: delete the old rows (only if still at the fenced epoch); journal row gone
 *
 * Failure before the flip rolls the batch back (target rows deleted, holds released with the
 * bumped epoch — the mapping still names S, so the owners' writes land there). After the flip
 * the move is done; a failed clean-up leaves 'flipped' journal rows that `recover()` (run by
 * `shard rebalance`, or `opsctl shard recover`) finishes. A mover that dies mid-way leaves
 * 'copying' rows that `recover()` rolls back; the owners' holds expire by themselves.
 *
 * Known limit: a user who changes game server (zone travel / re-login elsewhere) during the
 * ~100 ms of its own move can be fenced once (kicked with PERSIST_REJECTED, reloads from the
 * DB); the DB never diverges because every write is conditional on the epoch.
 */
import { randomUUID } from "node:crypto";
import { RiftError } from "../core/errors.js";
import type { Logger } from "../core/log.js";
import type { MappingBus } from "./mapping-bus.js";
import type { Queryable, ShardRouter } from "./router.js";
import type { PgShardMap } from "./shard-map.js";

/** Tables on a shard that hold per-user rows keyed by `user_id` (moved together). */
export const SHARD_USER_TABLES = ["players", "inventory", "wallets"] as const;

/** Talks to the game server that owns users (real: ops API over HTTP; tests: doubles). */
export interface OwnerControl {
  /**
   * Ask `owner` (a node id) to write the users' state and hold their writes. Users it does not
   * own come back in `notOwned`; an owner that is not a live cluster member owns nobody
   * (resolve with every user in `notOwned`). `busy`: users the owner is attaching right now
   * (not held; skipped this time). Rejects when a live owner fails or refuses.
   */
  hold(owner: string, moveId: string, users: number[]): Promise<{ held: { userId: number; epoch: number }[]; notOwned: number[]; busy?: number[] }>;
  /** End the hold; users with `epoch` now write under it (and re-read their mapping). */
  release(owner: string, moveId: string, users: { userId: number; epoch?: number }[]): Promise<void>;
}

export interface UserMoverOptions {
  router: ShardRouter;
  shardMap: PgShardMap;
  globalScope: string;
  owners: OwnerControl;
  bus: MappingBus | undefined;
  log: Logger;
  /** Users per batch (default 200). */
  batchSize?: number;
}

export interface MoveProgress {
  done: number;
  total: number;
  moved: number;
  skipped: number;
}

export interface MoveReport {
  moveId: string;
  moved: number[];
  skipped: { userId: number; reason: string }[];
  /** Seconds the whole move took. */
  seconds: number;
}

interface Fenced {
  /** user → owner epoch after the bump (the epoch the user continues under). */
  epochs: Map<number, number>;
  rowsByTable: Map<string, unknown[]>;
}

interface PlayerRowJson {
  user_id: number | string;
  owner: string | null;
  owner_epoch: number | string;
}

export class UserMover {
  private readonly log: Logger;

  constructor(private readonly opts: UserMoverOptions) {
    this.log = opts.log.child({ component: "user-mover" });
  }

  /** Move `userIds` to shard `target` (users already there are skipped). */
  async moveUsers(userIds: readonly number[], target: string, onProgress?: (p: MoveProgress) => void): Promise<MoveReport> {
    const t0 = performance.now();
    const moveId = randomUUID();
    await this.requireShard(target);
    const ids = [...new Set(userIds)];
    const report: MoveReport = { moveId, moved: [], skipped: [], seconds: 0 };
    const size = this.opts.batchSize ?? 200;
    for (let i = 0; i < ids.length; i += size) {
      const chunk = ids.slice(i, i + size);
      const mapping = await this.opts.shardMap.readMappings(chunk);
      const bySource = new Map<string, number[]>();
      for (const u of chunk) {
        const s = mapping.get(u);
        if (s === undefined) report.skipped.push({ userId: u, reason: "unknown user" });
        else if (s === target) report.skipped.push({ userId: u, reason: `already on ${target}` });
        else {
          let l = bySource.get(s);
          if (!l) bySource.set(s, (l = []));
          l.push(u);
        }
      }
      for (const [source, users] of bySource) {
        const r = await this.moveBatch(moveId, users, source, target);
        report.moved.push(...r.moved);
        report.skipped.push(...r.skipped);
      }
      onProgress?.({ done: Math.min(i + size, ids.length), total: ids.length, moved: report.moved.length, skipped: report.skipped.length });
    }
    report.seconds = (performance.now() - t0) / 1000;
    this.log.info({ moveId, target, moved: report.moved.length, skipped: report.skipped.length, seconds: report.seconds }, "user move finished");
    return report;
  }

  /**
   * Finish or roll back moves left by a mover that died (journal rows older than `minAgeMs`,
   * so live movers are not disturbed). Returns how many users were completed / rolled back.
   */
  async recover(minAgeMs = 60_000): Promise<{ completed: number; rolledBack: number }> {
    const g = this.opts.globalScope;
    const { rows } = await this.opts.router.query<{ user_id: string; from_shard: string; to_shard: string; state: string }>(
      g,
      "SELECT user_id, from_shard, to_shard, state FROM shard_moves WHERE started_at < now() - make_interval(secs => $1::double precision)",
      [minAgeMs / 1000],
      { idempotent: true },
    );
    let completed = 0;
    let rolledBack = 0;
    for (const r of rows) {
      const u = Number(r.user_id);
      const mapped = (await this.opts.shardMap.readMappings([u])).get(u);
      if (mapped === r.to_shard) {
        await this.deleteRows(r.from_shard, [u]); // orphan copy on the source
        completed++;
      } else {
        await this.deleteRows(r.to_shard, [u]); // unfinished copy on the target
        rolledBack++;
      }
      await this.opts.router.query(g, "DELETE FROM shard_moves WHERE user_id = $1", [u], { idempotent: true });
      this.opts.shardMap.invalidate(u);
    }
    if (rows.length > 0) {
      await this.publish(rows.map((r) => Number(r.user_id)));
      this.log.warn({ completed, rolledBack }, "recovered unfinished user moves");
    }
    return { completed, rolledBack };
  }

  private async requireShard(name: string): Promise<void> {
    const shards = await this.opts.shardMap.listShards();
    if (!shards.some((s) => s.name === name)) throw new RiftError("SHARD_UNKNOWN", `'${name}' (known: ${shards.map((s) => s.name).join(", ") || "none"})`);
  }

  private async moveBatch(moveId: string, candidates: number[], source: string, target: string): Promise<{ moved: number[]; skipped: { userId: number; reason: string }[] }> {
    const { router, globalScope: g } = this.opts;
    const skipped: { userId: number; reason: string }[] = [];
    // a. journal (users someone else is moving are skipped)
    const { rows: claimed } = await router.query<{ user_id: string }>(
      g,
      `INSERT INTO shard_moves (user_id, from_shard, to_shard, state, move_id)
       SELECT u, $2, $3, 'copying', $4 FROM unnest($1::bigint[]) AS u
       ON CONFLICT (user_id) DO NOTHING RETURNING user_id`,
      [candidates, source, target, moveId],
      { idempotent: false },
    );
    const users = claimed.map((r) => Number(r.user_id));
    const claimedSet = new Set(users);
    for (const u of candidates) if (!claimedSet.has(u)) skipped.push({ userId: u, reason: "another move of this user is in progress" });
    if (users.length === 0) return { moved: [], skipped };

    // b. hold at the owners
    const held = new Map<string, number[]>(); // owner → users held there
    let movable = users;
    try {
      const { rows: owners } = await router.query<{ user_id: string; owner: string | null }>(source, "SELECT user_id, owner FROM players WHERE user_id = ANY($1::bigint[])", [users], { idempotent: true });
      const byOwner = new Map<string, number[]>();
      for (const r of owners) {
        if (!r.owner) continue;
        let l = byOwner.get(r.owner);
        if (!l) byOwner.set(r.owner, (l = []));
        l.push(Number(r.user_id));
      }
      const failed = new Set<number>();
      const busy = new Set<number>();
      await Promise.all(
        [...byOwner].map(async ([owner, list]) => {
          try {
            const r = await this.opts.owners.hold(owner, moveId, list);
            if (r.held.length > 0) held.set(owner, r.held.map((h) => h.userId));
            for (const u of r.busy ?? []) busy.add(u);
          } catch (e) {
            for (const u of list) failed.add(u);
            this.log.warn({ owner, users: list.length, err: e instanceof Error ? e.message : String(e) }, "owner could not hold users; they are skipped");
          }
        }),
      );
      for (const u of busy) failed.add(u);
      if (failed.size > 0) {
        for (const u of failed) skipped.push({ userId: u, reason: busy.has(u) ? "user is logging in right now; try again" : "owning server did not hold the user's writes" });
        await router.query(g, "DELETE FROM shard_moves WHERE move_id = $1 AND user_id = ANY($2::bigint[])", [moveId, [...failed]], { idempotent: true });
        movable = users.filter((u) => !failed.has(u));
      }
    } catch (e) {
      await this.rollback(moveId, users, held, undefined, target);
      throw this.failed("hold", e);
    }
    if (movable.length === 0) return { moved: [], skipped };

    // c + d. fence on the source, copy to the target
    let fenced: Fenced;
    try {
      fenced = await this.fence(movable, source);
    } catch (e) {
      await this.rollback(moveId, movable, held, undefined, target);
      throw this.failed("fence", e);
    }
    const epochs = fenced.epochs;
    try {
      await this.copy(movable, fenced, target);
    } catch (e) {
      await this.rollback(moveId, movable, held, epochs, target);
      throw this.failed("copy", e);
    }

    // e. flip the mapping and the journal together
    try {
      await router.transaction(
        g,
        async (tx) => {
          await tx.query("UPDATE shard_map SET shard = $3, updated_at = now() WHERE user_id = ANY($1::bigint[]) AND shard = $2", [movable, source, target]);
          await tx.query("UPDATE shard_moves SET state = 'flipped' WHERE move_id = $1 AND user_id = ANY($2::bigint[])", [moveId, movable]);
        },
        { idempotent: true },
      );
    } catch (e) {
      const now = await this.opts.shardMap.readMappings(movable).catch(() => undefined);
      if (!now || movable.some((u) => now.get(u) !== target)) {
        await this.rollback(moveId, movable, held, epochs, target);
        throw this.failed("flip", e);
      }
      // the commit went through; only its acknowledgement was lost
    }

    // f. announce: our cache, every process's cache, then the owners
    for (const u of movable) this.opts.shardMap.invalidate(u);
    await this.publish(movable);
    await this.releaseAll(moveId, held, epochs);

    // g. clean up the source (a failure leaves 'flipped' rows for recover())
    try {
      await router.transaction(
        source,
        async (tx) => {
          // the player row goes only if still at the fenced epoch; the user's other rows with it
          const { rows } = await tx.query<{ user_id: string }>(
            `DELETE FROM players p USING unnest($1::bigint[], $2::bigint[]) AS v(id, epoch)
              WHERE p.user_id = v.id AND p.owner_epoch = v.epoch RETURNING p.user_id`,
            [[...epochs.keys()], [...epochs.values()]],
          );
          const gone = rows.map((r) => Number(r.user_id));
          for (const table of SHARD_USER_TABLES) {
            if (table !== "players" && gone.length > 0) await tx.query(`DELETE FROM ${table} WHERE user_id = ANY($1::bigint[])`, [gone]);
          }
        },
        { idempotent: true },
      );
      await router.query(g, "DELETE FROM shard_moves WHERE move_id = $1 AND user_id = ANY($2::bigint[])", [moveId, movable], { idempotent: true });
    } catch (e) {
      this.log.warn({ moveId, source, users: movable.length, err: e instanceof Error ? e.message : String(e) }, "moved, but the source clean-up failed (recover() finishes it)");
    }
    return { moved: movable, skipped };
  }

  /** c: bump the epochs on the source and read every per-user table's rows. */
  private async fence(users: number[], source: string): Promise<Fenced> {
    const epochs = new Map<number, number>();
    const rowsByTable = new Map<string, unknown[]>();
    await this.opts.router.transaction(source, async (tx) => {
      const { rows } = await tx.query<{ r: PlayerRowJson }>(
        "UPDATE players p SET owner_epoch = owner_epoch + 1 WHERE user_id = ANY($1::bigint[]) RETURNING row_to_json(p) AS r",
        [users],
      );
      rowsByTable.set("players", rows.map((x) => x.r));
      for (const x of rows) epochs.set(Number(x.r.user_id), Number(x.r.owner_epoch));
      for (const table of SHARD_USER_TABLES) {
        if (table === "players") continue;
        const { rows: more } = await tx.query<{ r: unknown }>(`SELECT row_to_json(t) AS r FROM ${table} t WHERE user_id = ANY($1::bigint[])`, [users]);
        rowsByTable.set(table, more.map((x) => x.r));
      }
    });
    return { epochs, rowsByTable };
  }

  /** d: replace the users' rows on the target with the fenced copies (all columns). */
  private async copy(users: number[], fenced: Fenced, target: string): Promise<void> {
    await this.opts.router.transaction(
      target,
      async (tx) => {
        for (const table of SHARD_USER_TABLES) {
          await tx.query(`DELETE FROM ${table} WHERE user_id = ANY($1::bigint[])`, [users]);
          const rows = fenced.rowsByTable.get(table) ?? [];
          if (rows.length > 0) await tx.query(`INSERT INTO ${table} SELECT * FROM json_populate_recordset(NULL::${table}, $1::json)`, [JSON.stringify(rows)]);
        }
      },
      { idempotent: true },
    );
  }

  private async rollback(moveId: string, users: number[], held: Map<string, number[]>, epochs: Map<number, number> | undefined, target: string): Promise<void> {
    try {
      await this.deleteRows(target, users);
      await this.opts.router.query(this.opts.globalScope, "DELETE FROM shard_moves WHERE move_id = $1 AND user_id = ANY($2::bigint[])", [moveId, users], { idempotent: true });
    } catch (e) {
      this.log.error({ moveId, err: e instanceof Error ? e.message : String(e) }, "rollback of a failed move failed (recover() finishes it)");
    }
    // the mapping still names the source; the owners go on there (under the bumped epoch if it was bumped)
    await this.releaseAll(moveId, held, epochs ?? new Map());
  }

  private async deleteRows(shard: string, users: number[]): Promise<void> {
    await this.opts.router.transaction(
      shard,
      async (tx: Queryable) => {
        for (const table of SHARD_USER_TABLES) await tx.query(`DELETE FROM ${table} WHERE user_id = ANY($1::bigint[])`, [users]);
      },
      { idempotent: true },
    );
  }

  private async releaseAll(moveId: string, held: Map<string, number[]>, epochs: Map<number, number>): Promise<void> {
    await Promise.all(
      [...held].map(async ([owner, list]) => {
        const items = list.map((userId) => {
          const epoch = epochs.get(userId);
          return epoch === undefined ? { userId } : { userId, epoch };
        });
        for (let attempt = 1; ; attempt++) {
          try {
            await this.opts.owners.release(owner, moveId, items);
            return;
          } catch (e) {
            if (attempt >= 3) {
              this.log.error({ owner, users: list.length, err: e instanceof Error ? e.message : String(e) }, "could not release held users (their hold expires by itself; they may be kicked once)");
              return;
            }
            await new Promise((r) => setTimeout(r, 200 * attempt));
          }
        }
      }),
    );
  }

  private async publish(users: number[]): Promise<void> {
    if (!this.opts.bus) return;
    try {
      await this.opts.bus.publish({ kind: "users", users });
    } catch (e) {
      // not fatal: owners were told directly; other processes re-read on a miss
      this.log.warn({ users: users.length, err: e instanceof Error ? e.message : String(e) }, "could not announce mapping change on the bus");
    }
  }

  private failed(step: string, e: unknown): RiftError {
    return new RiftError("SHARD_MOVE_FAILED", `${step}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
}

/**
 * PgPlayerRepository: player rows on the user's shard (found through the ShardMap), with
 * owner-epoch fencing (DESIGN "Ownership and fencing"):
 * - `takeOwnership` bumps `owner_epoch` and records the owner in one UPDATE … RETURNING.
 * - `save` / `saveMany` update only rows whose epoch still equals the writer's, so a paused or
 *   partitioned former owner can never overwrite newer state.
 * All of these are safe to retry across a failover: re-running a save with the same epoch
 * writes the same values; re-running a takeover bumps the epoch once more and returns the
 * newest epoch, which the (same) caller then holds.
 *
 * `saveMany` sends one UPDATE … FROM unnest(…) per shard (chunks of `batchSize` rows), the
 * shards in parallel. Duplicate user ids in one batch keep the last item. Users without a
 * mapping are reported as rejected. If a shard stays unreachable past the router's retry
 * deadline the call rejects (DEPENDENCY_UNAVAILABLE) after all shards finished; re-sending
 * the whole batch is harmless.
 */
import { RiftError } from "../core/errors.js";
import { assertEpoch, assertPlayerState, latestValidItems } from "./player-state.js";
import type { ShardRouter } from "./router.js";
import type { OwnedPlayer, PlayerRepository, PlayerState, ShardMap } from "./types.js";

export interface PgPlayerRepositoryOptions {
  router: ShardRouter;
  shardMap: ShardMap;
  /** Rows per saveMany statement (default 5000). */
  batchSize?: number;
}

interface Row {
  user_id: string;
  name: string;
  zone: string;
  x: number;
  y: number;
  hp: number;
  owner_epoch: string;
  owner: string | null;
}

const COLUMNS = "user_id, name, zone, x, y, hp, owner_epoch, owner";

function toState(r: Row): PlayerState {
  return { userId: Number(r.user_id), name: r.name, zone: r.zone, x: r.x, y: r.y, hp: r.hp };
}

const SAVE_MANY_SQL = `
  UPDATE players AS p
     SET name = v.name, zone = v.zone, x = v.x, y = v.y, hp = v.hp, updated_at = now()
    FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::real[], $6::real[], $7::int[])
         AS v(id, epoch, name, zone, x, y, hp)
   WHERE p.user_id = v.id AND p.owner_epoch = v.epoch
  RETURNING p.user_id`;

export class PgPlayerRepository implements PlayerRepository {
  constructor(private readonly opts: PgPlayerRepositoryOptions) {}

  async ensure(initial: PlayerState): Promise<void> {
    assertPlayerState(initial);
    const shard = (await this.opts.shardMap.shardOf(initial.userId)) ?? (await this.opts.shardMap.assign(initial.userId));
    await this.opts.router.query(
      shard,
      `INSERT INTO players (user_id, name, zone, x, y, hp) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (user_id) DO NOTHING`,
      [initial.userId, initial.name, initial.zone, initial.x, initial.y, initial.hp],
      { idempotent: true },
    );
  }

  async takeOwnership(userId: number, owner: string): Promise<OwnedPlayer | undefined> {
    const r = await this.onUserShard(userId, (shard) =>
      this.opts.router
        .query<Row>(
          shard,
          `UPDATE players SET owner_epoch = owner_epoch + 1, owner = $2, updated_at = now()
            WHERE user_id = $1 RETURNING ${COLUMNS}`,
          [userId, owner],
          { idempotent: true },
        )
        .then((res) => res.rows[0]),
    );
    return r ? { state: toState(r), epoch: Number(r.owner_epoch) } : undefined;
  }

  /**
   * Run `fn` on the user's shard. When it finds no row there, the cached mapping may be stale
   * (the user was moved to another shard and the bus message has not arrived): drop the cache
   * entry and, if the mapping now names another shard, run `fn` there once.
   */
  private async onUserShard<T>(userId: number, fn: (shard: string) => Promise<T | undefined>): Promise<T | undefined> {
    const shard = await this.opts.shardMap.shardOf(userId);
    if (!shard) return undefined;
    const out = await fn(shard);
    if (out !== undefined) return out;
    this.opts.shardMap.invalidate(userId);
    const fresh = await this.opts.shardMap.shardOf(userId);
    return fresh && fresh !== shard ? fn(fresh) : undefined;
  }

  async save(state: PlayerState, epoch: number): Promise<boolean> {
    assertPlayerState(state);
    assertEpoch(epoch);
    const shard = await this.opts.shardMap.shardOf(state.userId);
    if (!shard) return false;
    const { rowCount } = await this.opts.router.query(
      shard,
      `UPDATE players SET name = $2, zone = $3, x = $4, y = $5, hp = $6, updated_at = now()
        WHERE user_id = $1 AND owner_epoch = $7`,
      [state.userId, state.name, state.zone, state.x, state.y, state.hp, epoch],
      { idempotent: true },
    );
    return rowCount === 1;
  }

  async saveMany(items: { state: PlayerState; epoch: number }[]): Promise<number[]> {
    const latest = latestValidItems(items);
    const rejected: number[] = [];
    const byShard = new Map<string, { state: PlayerState; epoch: number }[]>();
    const shards = await Promise.all([...latest.keys()].map((id) => this.opts.shardMap.shardOf(id)));
    let i = 0;
    for (const it of latest.values()) {
      const shard = shards[i++];
      if (!shard) {
        rejected.push(it.state.userId);
        continue;
      }
      let list = byShard.get(shard);
      if (!list) byShard.set(shard, (list = []));
      list.push(it);
    }
    const size = this.opts.batchSize ?? 5000;
    const jobs: Promise<void>[] = [];
    for (const [shard, list] of byShard) {
      for (let from = 0; from < list.length; from += size) {
        const chunk = list.slice(from, from + size);
        jobs.push(this.saveChunk(shard, chunk).then((r) => void rejected.push(...r)));
      }
    }
    const results = await Promise.allSettled(jobs);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) {
      throw failed.reason instanceof RiftError ? failed.reason : new RiftError("DEPENDENCY_UNAVAILABLE", `saveMany: ${String(failed.reason)}`, { cause: failed.reason });
    }
    return rejected;
  }

  private async saveChunk(shard: string, chunk: { state: PlayerState; epoch: number }[]): Promise<number[]> {
    const { rows } = await this.opts.router.query<{ user_id: string }>(
      shard,
      SAVE_MANY_SQL,
      [
        chunk.map((c) => c.state.userId),
        chunk.map((c) => c.epoch),
        chunk.map((c) => c.state.name),
        chunk.map((c) => c.state.zone),
        chunk.map((c) => c.state.x),
        chunk.map((c) => c.state.y),
        chunk.map((c) => c.state.hp),
      ],
      { idempotent: true },
    );
    const saved = new Set(rows.map((r) => Number(r.user_id)));
    return chunk.filter((c) => !saved.has(c.state.userId)).map((c) => c.state.userId);
  }

  async load(userId: number): Promise<{ state: PlayerState; epoch: number; owner: string | null } | undefined> {
    const r = await this.onUserShard(userId, (shard) =>
      this.opts.router.query<Row>(shard, `SELECT ${COLUMNS} FROM players WHERE user_id = $1`, [userId], { idempotent: true }).then((res) => res.rows[0]),
    );
    return r ? { state: toState(r), epoch: Number(r.owner_epoch), owner: r.owner } : undefined;
  }
}

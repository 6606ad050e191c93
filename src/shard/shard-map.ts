/**
 * PgShardMap: the mapping table user → shard in the global database (DESIGN "Shard by mapping
 * table with caching"), with a bounded in-process LRU cache. Lookups hit the cache; a miss
 * reads `shard_map`. Mapping changes made elsewhere (the online user mover, mover.ts) reach
 * every process through the MappingBus (`follow(bus)`, Redis pub/sub — see mapping-bus.ts for
 * why, and for why correctness never depends on a message arriving).
 *
 * New users are assigned by `pickWeighted` over the `shards` rows in state `active`: a
 * deterministic choice by a hash of the user id, so the same id over the same shard set
 * always lands on the same shard. The active shard list is cached briefly (`shardsTtlMs`);
 * `setShard` in this process drops that cache at once.
 */
import { RiftError } from "../core/errors.js";
import type { Queryable, ShardRouter } from "./router.js";
import type { ShardAdmin, ShardInfo, ShardMap } from "./types.js";
import type { MappingBus, MappingChange } from "./mapping-bus.js";
import { LruCache, pickWeighted, type ShardWeight } from "./weighted.js";

export interface PgShardMapOptions {
  router: ShardRouter;
  /** Patroni scope of the global database. */
  globalScope: string;
  /** Entries kept in the mapping cache (default 100k). */
  cacheSize?: number;
  /** How long the active-shard list used for assignment is reused (default 5 s). */
  shardsTtlMs?: number;
}

export const SHARD_STATE_ACTIVE = "active";

const ASSIGN_SQL = `
  INSERT INTO shard_map (user_id, shard) VALUES ($1, $2)
  ON CONFLICT (user_id) DO UPDATE SET user_id = shard_map.user_id
  RETURNING shard`;

export function assertUserId(userId: number): void {
  if (!Number.isSafeInteger(userId) || userId <= 0) throw new RiftError("INTERNAL", `invalid user id ${String(userId)}`);
}

export class PgShardMap implements ShardMap, ShardAdmin {
  private readonly cache: LruCache<number, string>;
  private active: { at: number; shards: ShardWeight[] } | undefined;

  constructor(private readonly opts: PgShardMapOptions) {
    this.cache = new LruCache(opts.cacheSize ?? 100_000);
  }

  private get scope(): string {
    return this.opts.globalScope;
  }

  async shardOf(userId: number): Promise<string | undefined> {
    const hit = this.cache.get(userId);
    if (hit !== undefined) return hit;
    if (!Number.isSafeInteger(userId)) return undefined;
    const { rows } = await this.opts.router.query<{ shard: string }>(this.scope, "SELECT shard FROM shard_map WHERE user_id = $1", [userId], { idempotent: true });
    const shard = rows[0]?.shard;
    if (shard !== undefined) this.cache.set(userId, shard);
    return shard;
  }

  async assign(userId: number): Promise<string> {
    const cached = this.cache.get(userId);
    if (cached !== undefined) return cached;
    return this.opts.router.withClient(this.scope, (c) => this.assignWithin(c, userId), { idempotent: true });
  }

  /**
   * Assign through `q` (e.g. inside the registration transaction). Idempotent: an existing
   * mapping is returned unchanged.
   */
  async assignWithin(q: Queryable, userId: number): Promise<string> {
    assertUserId(userId);
    const shard = pickWeighted(userId, await this.activeShards(q));
    if (!shard) throw new RiftError("DEPENDENCY_UNAVAILABLE", "no active shard with a positive weight to place a new user on");
    const { rows } = await q.query<{ shard: string }>(ASSIGN_SQL, [userId, shard]);
    const got = rows[0]?.shard ?? shard;
    this.cache.set(userId, got);
    return got;
  }

  invalidate(userId: number): void {
    this.cache.delete(userId);
  }

  /** The cached shard of a user, without reading the DB (inspection). */
  cached(userId: number): string | undefined {
    return this.cache.peek(userId);
  }

  /** Apply a change announced on the mapping bus. */
  apply(change: MappingChange): void {
    if (change.kind === "users") for (const u of change.users) this.cache.delete(u);
    else if (change.kind === "all") {
      this.cache.clear();
      this.active = undefined;
    } else this.active = undefined;
  }

  /** Keep this cache in step with the cluster's mapping changes. Returns the unsubscribe. */
  follow(bus: MappingBus): () => void {
    return bus.subscribe((c) => this.apply(c));
  }

  /** Mapping rows read straight from the global DB (no cache): the truth for movers and checks. */
  async readMappings(userIds: readonly number[]): Promise<Map<number, string>> {
    const { rows } = await this.opts.router.query<{ user_id: string; shard: string }>(
      this.scope,
      "SELECT user_id, shard FROM shard_map WHERE user_id = ANY($1::bigint[])",
      [userIds],
      { idempotent: true },
    );
    return new Map(rows.map((r) => [Number(r.user_id), r.shard]));
  }

  async shards(): Promise<string[]> {
    return (await this.listShards()).map((s) => s.name);
  }

  async listShards(): Promise<ShardInfo[]> {
    const { rows } = await this.opts.router.query<ShardInfo>(this.scope, "SELECT name, weight, state FROM shards ORDER BY name", [], { idempotent: true });
    return rows;
  }

  async setShard(info: ShardInfo): Promise<void> {
    if (!Number.isInteger(info.weight) || info.weight < 0) throw new RiftError("INTERNAL", `invalid shard weight ${info.weight}`);
    await this.opts.router.query(
      this.scope,
      `INSERT INTO shards (name, weight, state) VALUES ($1, $2, $3)
       ON CONFLICT (name) DO UPDATE SET weight = EXCLUDED.weight, state = EXCLUDED.state`,
      [info.name, info.weight, info.state],
      { idempotent: true },
    );
    this.active = undefined;
  }

  /** Insert a row (weight 1, active) for each named shard that has none. Start-up seeding. */
  async seed(names: readonly string[]): Promise<void> {
    await this.opts.router.query(this.scope, "INSERT INTO shards (name) SELECT unnest($1::text[]) ON CONFLICT (name) DO NOTHING", [names], { idempotent: true });
    this.active = undefined;
  }

  private async activeShards(q: Queryable): Promise<ShardWeight[]> {
    const ttl = this.opts.shardsTtlMs ?? 5000;
    if (this.active && Date.now() - this.active.at < ttl) return this.active.shards;
    const { rows } = await q.query<ShardWeight>("SELECT name, weight FROM shards WHERE state = $1 AND weight > 0", [SHARD_STATE_ACTIVE]);
    this.active = { at: Date.now(), shards: rows };
    return rows;
  }
}

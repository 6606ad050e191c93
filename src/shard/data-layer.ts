/**
 * Wiring of the real data layer for a role's main.ts:
 *   ZooKeeper DCS reader → PatroniLocator → ShardRouter → ShardMap / AccountStore /
 *   PlayerRepository, plus migrations. Nothing here holds module-level state.
 *
 * `migrate()` creates the database on each cluster if missing, applies the global and shard
 * migrations (advisory-locked, so concurrent start-ups are safe) and seeds a `shards` row
 * (weight 1, active) for every configured shard scope that has none.
 */
import type { Config } from "../core/config.js";
import type { Logger } from "../core/log.js";
import type { Registry } from "../core/metrics.js";
import type { ProcessContext } from "../core/runtime.js";
import { PgAccountStore } from "./accounts.js";
import { ZkDcsReader, type DcsReader } from "./dcs.js";
import { RedisMappingBus, type MappingBus } from "./mapping-bus.js";
import { applyMigrations, ensureDatabase, GLOBAL_MIGRATIONS, SHARD_MIGRATIONS, type MigrationSet } from "./migrations.js";
import { PatroniLocator } from "./patroni-locator.js";
import { PgPlayerRepository } from "./players.js";
import type { ScryptParams } from "./passwords.js";
import { ShardRouter } from "./router.js";
import { PgShardMap } from "./shard-map.js";
import { HmacTokenService } from "./tokens.js";
import type { DataLayer } from "./types.js";

export interface CreateDataLayerOptions {
  config: Config;
  log: Logger;
  /** Database name on every cluster (default `config.db.database`; tests pass their own). */
  database?: string;
  /** Who connects (the node id): Postgres `application_name` is `<client>/<scope>`. */
  client?: string;
  metrics?: Registry;
  /** DCS reader to use (default: a new ZooKeeper session on `cluster.zookeeper.connect`). Owned: closed by close(). */
  dcs?: DcsReader;
  /** Mapping-change bus the shard map follows (cluster-wide cache invalidation). Owned: closed by close(). */
  bus?: MappingBus;
  /** Token clock (ms), for tests. */
  now?: () => number;
  /** scrypt parameters for NEW hashes (tests use cheaper ones). */
  scrypt?: ScryptParams;
  /** How long a call waits for a primary / retries across a failover (defaults 15 s / 20 s). */
  primaryWaitMs?: number;
  retryDeadlineMs?: number;
}

export interface PgDataLayer extends DataLayer {
  shardMap: PgShardMap;
  router: ShardRouter;
  locator: PatroniLocator;
  bus: MappingBus | undefined;
  /** Create the database and apply the shard migrations on one shard cluster (added at runtime). */
  migrateShard(scope: string): Promise<void>;
}

export function createDataLayer(opts: CreateDataLayerOptions): PgDataLayer {
  const { config, log } = opts;
  const db = config.db;
  const database = opts.database ?? db.database;
  const dcs =
    opts.dcs ??
    new ZkDcsReader({ connect: db.dcsConnect || config.cluster.zookeeper.connect, sessionTimeoutMs: config.cluster.zookeeper.sessionTimeoutMs, log });
  const locator = new PatroniLocator({ dcs, namespace: db.patroniNamespace, log, waitMs: opts.primaryWaitMs ?? 15_000 });
  const scopes = [db.globalScope, ...db.shardScopes];
  for (const s of scopes) locator.track(s);
  const routerOpts: ConstructorParameters<typeof ShardRouter>[0] = { locator, database, user: db.user, poolSize: db.poolSize, log, retryDeadlineMs: opts.retryDeadlineMs ?? 20_000, client: opts.client ?? "rift" };
  if (opts.metrics) routerOpts.metrics = opts.metrics;
  const router = new ShardRouter(routerOpts);
  const shardMap = new PgShardMap({ router, globalScope: db.globalScope });
  const unfollow = opts.bus ? shardMap.follow(opts.bus) : () => {};
  const accountOpts: ConstructorParameters<typeof PgAccountStore>[0] = { router, shardMap, globalScope: db.globalScope };
  if (opts.scrypt) accountOpts.scrypt = opts.scrypt;
  const tokenOpts: ConstructorParameters<typeof HmacTokenService>[0] = { secret: config.auth.tokenSecret, ttlSec: config.auth.tokenTtlSec };
  if (opts.now) tokenOpts.now = opts.now;
  const migrateLog = log.child({ component: "migrations" });

  async function migrateScope(scope: string, ms: MigrationSet): Promise<void> {
    await ensureDatabase(await router.adminConnection(scope, "postgres"), database, migrateLog);
    const applied = await router.transaction(scope, (tx) => applyMigrations(tx, ms, migrateLog), { idempotent: true });
    migrateLog.info({ scope, database, applied }, applied.length ? "migrations applied" : "schema up to date");
  }

  return {
    accounts: new PgAccountStore(accountOpts),
    tokens: new HmacTokenService(tokenOpts),
    shardMap,
    players: new PgPlayerRepository({ router, shardMap }),
    router,
    locator,
    bus: opts.bus,
    migrateShard: (scope) => migrateScope(scope, SHARD_MIGRATIONS),
    async migrate() {
      await Promise.all([migrateScope(db.globalScope, GLOBAL_MIGRATIONS), ...db.shardScopes.map((s) => migrateScope(s, SHARD_MIGRATIONS))]);
      await shardMap.seed(db.shardScopes);
      // shards added at runtime (opsctl shard add) are not in this process's config
      const extra = (await shardMap.shards()).filter((s) => !db.shardScopes.includes(s));
      await Promise.all(extra.map((s) => migrateScope(s, SHARD_MIGRATIONS)));
    },
    async close() {
      unfollow();
      await opts.bus?.close();
      await router.close();
      await locator.close();
    },
  };
}

/** Role wiring: create the data layer for this process, close it on shutdown, migrate. */
export async function openDataLayer(ctx: ProcessContext): Promise<PgDataLayer> {
  const log = ctx.log.child({ component: "data" });
  const bus = new RedisMappingBus({ url: ctx.config.cluster.redis.url, keyPrefix: ctx.config.cluster.redis.keyPrefix, log });
  const data = createDataLayer({ config: ctx.config, log, metrics: ctx.metrics, client: ctx.nodeId, bus });
  ctx.lifecycle.onShutdown("data-layer", () => data.close());
  await data.migrate();
  return data;
}

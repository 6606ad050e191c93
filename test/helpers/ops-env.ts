/**
 * The common set-up of tests that talk to the global database and Redis directly (ops plane):
 * fresh databases with the GLOBAL migrations applied, a pool on the global one, a Redis key
 * prefix of their own and an admin Redis connection. `dispose()` releases all of it.
 */
import { Redis } from "ioredis";
import pg from "pg";
import { silentLogger } from "../../src/core/log.js";
import { applyMigrations, GLOBAL_MIGRATIONS } from "../../src/shard/migrations.js";
import { getInfra } from "./infra.js";
import { freshDatabases, redisPrefix, type FreshDatabases, type RedisPrefix } from "./isolation.js";

export interface OpsTestEnv {
  ns: RedisPrefix;
  dbs: FreshDatabases;
  db: pg.Pool;
  admin: Redis;
  dispose(): Promise<void>;
}

export async function opsTestEnv(poolSize = 3): Promise<OpsTestEnv> {
  const ns = await redisPrefix(getInfra());
  const dbs = await freshDatabases(getInfra());
  const db = new pg.Pool({ connectionString: dbs.global.url, max: poolSize });
  db.on("error", () => undefined);
  const c = await db.connect();
  try {
    await c.query("BEGIN");
    await applyMigrations(c, GLOBAL_MIGRATIONS, silentLogger());
    await c.query("COMMIT");
  } finally {
    c.release();
  }
  const admin = new Redis(ns.url, { maxRetriesPerRequest: 2 });
  admin.on("error", () => undefined);
  return {
    ns,
    dbs,
    db,
    admin,
    async dispose() {
      admin.disconnect();
      await db.end().catch(() => undefined);
      await dbs.dispose();
      await ns.dispose();
    },
  };
}

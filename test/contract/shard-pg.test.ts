/**
 * The data-layer contract suite against the real implementation: PatroniLocator over the
 * shared test ZooKeeper, pools on the Patroni primaries, a fresh database per test file.
 * Plus what only the real implementation has: migrations (concurrent, idempotent, creating a
 * missing database).
 */
import { afterAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../src/core/log.js";
import { createDataLayer, type PgDataLayer } from "../../src/shard/data-layer.js";
import { GLOBAL_MIGRATIONS, SHARD_MIGRATIONS } from "../../src/shard/migrations.js";
import { TEST_SCRYPT } from "../../src/shard/passwords.js";
import { findPrimary } from "../../src/tools/infra/patroni.js";
import { quoteIdent, withDatabase, withPg } from "../../src/tools/infra/pg.js";
import { connectZk } from "../../src/tools/infra/zk.js";
import { getInfra, infraTestConfig, type InfraState } from "../helpers/infra.js";
import { freshDatabases, uniqueId } from "../helpers/isolation.js";
import { describeShardContract } from "./shard-contract.js";

const testConfig = (infra: InfraState, database: string) => infraTestConfig(infra, database, 8);

describeShardContract(
  "postgres via patroni",
  async (clock) => {
    const infra = getInfra();
    const dbs = await freshDatabases(infra);
    const config = testConfig(infra, dbs.name);
    const layer = createDataLayer({ config, log: silentLogger(), database: dbs.name, now: () => clock.ms, scrypt: TEST_SCRYPT });
    try {
      await layer.migrate();
    } catch (e) {
      await layer.close();
      await dbs.dispose();
      throw e;
    }
    return {
      layer,
      shardNames: config.db.shardScopes,
      setMapping: async (userId, shard) => {
        await layer.router.query(
          config.db.globalScope,
          `INSERT INTO shard_map (user_id, shard) VALUES ($1, $2)
           ON CONFLICT (user_id) DO UPDATE SET shard = EXCLUDED.shard, updated_at = now()`,
          [userId, shard],
        );
      },
      close: async () => {
        await layer.close();
        await dbs.dispose();
      },
    };
  },
  { timeoutMs: 60_000 },
);

describe("migrations on real clusters", () => {
  const layers: PgDataLayer[] = [];
  let database: string | undefined;

  afterAll(async () => {
    for (const l of layers) await l.close().catch(() => undefined);
    if (!database) return;
    // Drop the database this test created, on the primary of every cluster.
    const infra = getInfra();
    const zk = await connectZk(infra.zookeeper.connect);
    try {
      for (const c of infra.patroni.clusters) {
        const p = await findPrimary(zk, c.scope, infra.patroni.namespace);
        await withPg(withDatabase(p.connUrl, "postgres"), (pg) => pg.query(`DROP DATABASE IF EXISTS ${quoteIdent(database!)} WITH (FORCE)`));
      }
    } finally {
      zk.close();
    }
  });

  it("creates a missing database, applies everything once under concurrency, and is idempotent", { timeout: 60_000 }, async () => {
    const infra = getInfra();
    database = `rift_t_${uniqueId()}_mig`;
    const config = testConfig(infra, database);
    for (let i = 0; i < 2; i++) layers.push(createDataLayer({ config, log: silentLogger(), database }));
    const [a, b] = layers as [PgDataLayer, PgDataLayer];
    await Promise.all([a.migrate(), b.migrate()]);
    await a.migrate();
    const { rows } = await a.router.query<{ set_name: string; version: number }>(config.db.globalScope, "SELECT set_name, version FROM schema_migrations ORDER BY 1, 2");
    expect(rows).toEqual(GLOBAL_MIGRATIONS.list.map((m) => ({ set_name: "global", version: m.version })));
    for (const shard of config.db.shardScopes) {
      const r = await a.router.query<{ set_name: string; version: number }>(shard, "SELECT set_name, version FROM schema_migrations ORDER BY 1, 2");
      expect(r.rows).toEqual(SHARD_MIGRATIONS.list.map((m) => ({ set_name: "shard", version: m.version })));
    }
    expect((await a.shardMap.listShards()).map((s) => [s.name, s.weight, s.state])).toEqual(config.db.shardScopes.map((s) => [s, 1, "active"]));
  });
});

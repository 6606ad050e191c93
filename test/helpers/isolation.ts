/**
 * Per-test isolation on the shared infrastructure: every test file gets its own ZooKeeper
 * subtree, Redis key prefix and databases, so files can run in parallel against one infra.
 *
 * Each helper creates its resource and returns an object with `dispose()` that removes it.
 * Typical use (one set per test file):
 *
 *   import { getInfra } from "../helpers/infra.js";
 *   import { freshDatabases, redisPrefix, zkRoot, type FreshDatabases, type ZkRoot } from "../helpers/isolation.js";
 *
 *   let zk: ZkRoot;
 *   let dbs: FreshDatabases;
 *   beforeAll(async () => {
 *     zk = await zkRoot(getInfra());          // zk.path = "/rift-test/<id>", zk.connect = chrooted connect string
 *     dbs = await freshDatabases(getInfra()); // dbs.global.url, dbs.shards[k].url (current primaries)
 *   });
 *   afterAll(async () => {
 *     await dbs?.dispose();
 *     await zk?.dispose();
 *   });
 *
 * Or `const scope = await isolated(getInfra())` for all three with one `scope.dispose()`.
 */
import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import type { InfraState } from "../../src/tools/infra/infra.js";
import { findPrimary } from "../../src/tools/infra/patroni.js";
import { quoteIdent, withDatabase, withPg } from "../../src/tools/infra/pg.js";
import { connectZk, zkMkdirp, zkRemoveTree, withZk } from "../../src/tools/infra/zk.js";

/** Short unique lower-case id: usable in znode paths, Redis keys and SQL identifiers. */
export function uniqueId(): string {
  return `${Date.now().toString(36)}${randomBytes(4).toString("hex")}`;
}

export interface ZkRoot {
  /** Absolute znode path owned by this test, e.g. "/rift-test/lz3k9a1b2c3d4". */
  path: string;
  /** Connect string chrooted at `path` ("127.0.0.1:p/rift-test/…"), for code that takes one. */
  connect: string;
  dispose(): Promise<void>;
}

/** Creates a unique znode subtree under `base`; `dispose()` removes it recursively. */
export async function zkRoot(infra: InfraState, base = "/rift-test"): Promise<ZkRoot> {
  const path = `${base}/${uniqueId()}`;
  const connect = infra.zookeeper.connect;
  await withZk(connect, (c) => zkMkdirp(c, path));
  return {
    path,
    connect: `${connect}${path}`,
    dispose: () => withZk(connect, (c) => zkRemoveTree(c, path)),
  };
}

export interface RedisPrefix {
  /** Key prefix owned by this test, e.g. "rift-t:lz3k9a1b2c3d4:". */
  prefix: string;
  url: string;
  /** Deletes every key starting with `prefix`. */
  dispose(): Promise<void>;
}

export async function redisPrefix(infra: InfraState): Promise<RedisPrefix> {
  const prefix = `rift-t:${uniqueId()}:`;
  const url = infra.redis.url;
  return {
    prefix,
    url,
    dispose: async () => {
      const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 2 });
      r.on("error", () => {});
      try {
        await r.connect();
        let cursor = "0";
        do {
          const [next, keys] = await r.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 500);
          cursor = next;
          if (keys.length > 0) await r.del(...keys);
        } while (cursor !== "0");
      } finally {
        r.disconnect();
      }
    },
  };
}

export interface DbInfo {
  /** Patroni scope: "global", "shard0", ... */
  scope: string;
  database: string;
  /** URL of the database on the cluster's primary at creation time (user postgres). */
  url: string;
  /** Member that was primary at creation time. */
  member: string;
}

export interface FreshDatabases {
  /** The database name, the same on every cluster: "rift_t_<id>". */
  name: string;
  global: DbInfo;
  shards: DbInfo[];
  /** global first, then the shards. */
  all: DbInfo[];
  /** Rolls back prepared transactions left in them, then drops them (terminating backends). */
  dispose(): Promise<void>;
}

/** Creates `rift_t_<id>` on the primary of every cluster (global + shards). */
export async function freshDatabases(infra: InfraState): Promise<FreshDatabases> {
  const name = `rift_t_${uniqueId()}`;
  const zk = await connectZk(infra.zookeeper.connect);
  try {
    const all = await Promise.all(
      infra.patroni.clusters.map(async (c): Promise<DbInfo> => {
        const p = await findPrimary(zk, c.scope, infra.patroni.namespace);
        await withPg(withDatabase(p.connUrl, "postgres"), (pg) => pg.query(`CREATE DATABASE ${quoteIdent(name)}`));
        return { scope: c.scope, database: name, url: withDatabase(p.connUrl, name), member: p.member };
      }),
    );
    return { name, global: all[0]!, shards: all.slice(1), all, dispose: () => dropDatabases(infra, name) };
  } finally {
    zk.close();
  }
}

async function dropDatabases(infra: InfraState, name: string): Promise<void> {
  const zk = await connectZk(infra.zookeeper.connect);
  try {
    await Promise.all(
      infra.patroni.clusters.map(async (c) => {
        const p = await findPrimary(zk, c.scope, infra.patroni.namespace);
        const exists = await withPg(withDatabase(p.connUrl, "postgres"), async (pg) => (await pg.query("SELECT 1 FROM pg_database WHERE datname = $1", [name])).rowCount);
        if (!exists) return;
        // A prepared transaction keeps the database busy even for DROP ... WITH (FORCE).
        await withPg(withDatabase(p.connUrl, name), async (pg) => {
          const { rows } = await pg.query<{ gid: string }>("SELECT gid FROM pg_prepared_xacts WHERE database = current_database()");
          for (const r of rows) await pg.query(`ROLLBACK PREPARED '${r.gid.replaceAll("'", "''")}'`);
        });
        await withPg(withDatabase(p.connUrl, "postgres"), (pg) => pg.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`));
      }),
    );
  } finally {
    zk.close();
  }
}

export interface Isolated {
  zk: ZkRoot;
  redis: RedisPrefix;
  dbs: FreshDatabases;
  dispose(): Promise<void>;
}

/** All three at once; `dispose()` disposes each (all are attempted; the first error is rethrown). */
export async function isolated(infra: InfraState): Promise<Isolated> {
  const made = await Promise.allSettled([zkRoot(infra), redisPrefix(infra), freshDatabases(infra)]);
  const [zkR, redisR, dbsR] = made;
  if (zkR.status === "rejected" || redisR.status === "rejected" || dbsR.status === "rejected") {
    // Undo what was created, then report the first failure.
    await Promise.allSettled(made.map((r) => (r.status === "fulfilled" ? r.value.dispose() : null)));
    throw made.find((r): r is PromiseRejectedResult => r.status === "rejected")!.reason;
  }
  const [zk, redis, dbs] = [zkR.value, redisR.value, dbsR.value];
  return {
    zk,
    redis,
    dbs,
    dispose: async () => {
      const results = await Promise.allSettled([dbs.dispose(), redis.dispose(), zk.dispose()]);
      const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
      if (failed) throw failed.reason;
    },
  };
}

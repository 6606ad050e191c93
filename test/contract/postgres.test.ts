/**
 * Contract: the Patroni clusters of the shared infra — replication reaches the standby, the
 * leader znode names the member that really is primary, synchronous replication is on, and
 * two-phase commit works (cross-shard trades depend on it).
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { findPrimary, patroniRest } from "../../src/tools/infra/patroni.js";
import { pgUrl, withPg } from "../../src/tools/infra/pg.js";
import { getInfra } from "../helpers/infra.js";
import { freshDatabases, uniqueId, type FreshDatabases } from "../helpers/isolation.js";
import { waitFor } from "../helpers/processes.js";

describe("Patroni/Postgres contract", () => {
  const infra = getInfra();
  const clusters = infra.patroni.clusters;
  let dbs: FreshDatabases;

  beforeAll(async () => {
    dbs = await freshDatabases(infra);
  });
  afterAll(async () => {
    await dbs?.dispose();
  });

  test("the state lists the global cluster first, then the shards, each with two members", () => {
    expect(clusters.map((c) => c.scope)).toEqual(["global", ...clusters.slice(1).map((_, i) => `shard${i}`)]);
    expect(clusters.length).toBeGreaterThanOrEqual(2);
    for (const c of clusters) expect(c.members).toHaveLength(2);
  });

  test.each(clusters.map((c) => [c.scope, c] as const))("%s: the leader znode names the member that is really primary", async (scope, cluster) => {
    const primary = await findPrimary(infra.zookeeper.connect, scope);
    expect(cluster.members.map((m) => m.name)).toContain(primary.member);
    for (const m of cluster.members) {
      const inRecovery = await withPg(pgUrl(m.pgPort), async (c) => (await c.query<{ r: boolean }>("SELECT pg_is_in_recovery() AS r")).rows[0]!.r);
      expect(inRecovery, `${scope}/${m.name} pg_is_in_recovery()`).toBe(m.name !== primary.member);
      expect((await patroniRest(m.restPort, "/primary")).status, `${scope}/${m.name} REST /primary`).toBe(m.name === primary.member ? 200 : 503);
    }
    expect(new URL(primary.connUrl).port).toBe(String(cluster.members.find((m) => m.name === primary.member)!.pgPort));
  });

  test.each(clusters.map((c) => [c.scope, c] as const))("%s: a row written on the primary becomes visible on the synchronous standby", async (scope, cluster) => {
    const primary = await findPrimary(infra.zookeeper.connect, scope);
    const standby = cluster.members.find((m) => m.name !== primary.member)!;
    const db = dbs.all.find((d) => d.scope === scope)!;
    const marker = uniqueId();
    await withPg(db.url, async (c) => {
      await c.query("CREATE TABLE IF NOT EXISTS contract_rows (id serial PRIMARY KEY, marker text NOT NULL)");
      await c.query("INSERT INTO contract_rows (marker) VALUES ($1)", [marker]);
      const rep = await c.query<{ application_name: string; state: string; sync_state: string }>(
        "SELECT application_name, state, sync_state FROM pg_stat_replication",
      );
      expect(rep.rows).toContainEqual({ application_name: standby.name, state: "streaming", sync_state: "sync" });
    });
    const standbyUrl = pgUrl(standby.pgPort, db.database);
    await waitFor(
      () => withPg(standbyUrl, async (c) => (await c.query("SELECT 1 FROM contract_rows WHERE marker = $1", [marker])).rowCount === 1),
      { timeoutMs: 10_000, what: `row ${marker} on ${scope} standby ${standby.name}` },
    );
  });

  test.each(clusters.map((c) => [c.scope] as const))("%s: two-phase commit is enabled (PREPARE TRANSACTION + COMMIT PREPARED)", async (scope) => {
    const db = dbs.all.find((d) => d.scope === scope)!;
    const gid = `contract-${uniqueId()}`;
    await withPg(db.url, async (c) => {
      expect((await c.query<{ max_prepared_transactions: string }>("SHOW max_prepared_transactions")).rows[0]!.max_prepared_transactions).toBe("64");
      await c.query("CREATE TABLE IF NOT EXISTS contract_2pc (gid text PRIMARY KEY)");
      await c.query("BEGIN");
      await c.query("INSERT INTO contract_2pc (gid) VALUES ($1)", [gid]);
      await c.query(`PREPARE TRANSACTION '${gid}'`);
      const prepared = await c.query("SELECT 1 FROM pg_prepared_xacts WHERE gid = $1", [gid]);
      expect(prepared.rowCount).toBe(1);
      // Not visible before the commit...
      expect((await c.query("SELECT 1 FROM contract_2pc WHERE gid = $1", [gid])).rowCount).toBe(0);
      await c.query(`COMMIT PREPARED '${gid}'`);
      expect((await c.query("SELECT 1 FROM contract_2pc WHERE gid = $1", [gid])).rowCount).toBe(1);
      expect((await c.query("SELECT 1 FROM pg_prepared_xacts WHERE gid = $1", [gid])).rowCount).toBe(0);
    });
  });

  test("every cluster has the database 'rift'", async () => {
    for (const c of clusters) {
      const primary = await findPrimary(infra.zookeeper.connect, c.scope);
      const port = Number(new URL(primary.connUrl).port);
      const n = await withPg(pgUrl(port), async (pg) => (await pg.query("SELECT 1 FROM pg_database WHERE datname = 'rift'")).rowCount);
      expect(n, `${c.scope} has database rift`).toBe(1);
    }
  });
});

/** Migration runner logic with a recording fake connection. */
import { describe, expect, it } from "vitest";
import { silentLogger } from "../../src/core/log.js";
import { applyMigrations, checksum, GLOBAL_MIGRATIONS, nonAdditiveStatements, SHARD_MIGRATIONS, validateMigrations, type MigrationSet } from "../../src/shard/migrations.js";
import type { Queryable } from "../../src/shard/router.js";

function fakeDb(existing: { version: number; checksum: string }[]): Queryable & { sql: string[] } {
  const sql: string[] = [];
  return {
    sql,
    async query(text: string) {
      sql.push(text.trim().split(/\s+/).slice(0, 3).join(" "));
      const rows = text.includes("SELECT version, checksum") ? existing : [];
      return { rows, rowCount: rows.length, command: "", oid: 0, fields: [] } as never;
    },
  };
}

describe("migrations", () => {
  it("ships well-formed, additive-only lists", () => {
    for (const ms of [GLOBAL_MIGRATIONS, SHARD_MIGRATIONS]) {
      validateMigrations(ms.list);
      for (const m of ms.list) if (!m.contract) expect(nonAdditiveStatements(m.sql), `${ms.set} v${m.version} ${m.name}`).toEqual([]);
    }
    expect(() => validateMigrations([{ version: 2, name: "x", sql: "" }])).toThrow();
  });

  it("finds DROP, RENAME and type-changing ALTER, and refuses them unless marked as a contract step", () => {
    const bad = [
      "DROP TABLE players",
      "ALTER TABLE players DROP COLUMN hp",
      "ALTER TABLE players RENAME COLUMN hp TO health",
      "ALTER TABLE players RENAME TO avatars",
      "ALTER TABLE players ALTER COLUMN hp TYPE bigint",
      "ALTER TABLE players ALTER COLUMN hp SET DATA TYPE bigint",
      "ALTER TABLE players ALTER COLUMN zone SET NOT NULL",
      "TRUNCATE players",
    ];
    for (const sql of bad) {
      expect(nonAdditiveStatements(`CREATE TABLE t (a int); ${sql};`), sql).toHaveLength(1);
      expect(() => validateMigrations([{ version: 1, name: "x", sql }]), sql).toThrow(/not additive/);
      expect(() => validateMigrations([{ version: 1, name: "x", sql, contract: true }])).not.toThrow();
    }
    const ok = [
      "CREATE TABLE t (a int)",
      "ALTER TABLE players ADD COLUMN level int NOT NULL DEFAULT 1",
      "CREATE INDEX players_zone_idx ON players (zone)",
      "ALTER TABLE players ALTER COLUMN hp SET DEFAULT 100",
      "-- we never DROP anything here\nCREATE TABLE dropped_items (id bigint)",
    ];
    for (const sql of ok) expect(nonAdditiveStatements(sql), sql).toEqual([]);
  });

  it("takes the advisory lock first and applies only what is missing", async () => {
    const set: MigrationSet = {
      set: "t",
      list: [
        { version: 1, name: "one", sql: "CREATE TABLE one ()" },
        { version: 2, name: "two", sql: "CREATE TABLE two ()" },
      ],
    };
    const fresh = fakeDb([]);
    expect(await applyMigrations(fresh, set, silentLogger())).toEqual([1, 2]);
    expect(fresh.sql[0]).toMatch(/^SELECT pg_advisory_xact_lock/);
    expect(fresh.sql.filter((s) => s.startsWith("CREATE TABLE one") || s.startsWith("CREATE TABLE two"))).toHaveLength(2);

    const half = fakeDb([{ version: 1, checksum: checksum(set.list[0]!) }]);
    expect(await applyMigrations(half, set, silentLogger())).toEqual([2]);
    expect(half.sql.some((s) => s.startsWith("CREATE TABLE one"))).toBe(false);
  });
});

/** Migration runner logic with a recording fake connection. */
import { describe, expect, it } from "vitest";
import { silentLogger } from "../../src/core/log.js";
import { applyMigrations, checksum, GLOBAL_MIGRATIONS, SHARD_MIGRATIONS, validateMigrations, type MigrationSet } from "../../src/shard/migrations.js";
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
      for (const m of ms.list) expect(m.sql).not.toMatch(/\bDROP\b|\bRENAME\b|ALTER\s+COLUMN/i);
    }
    expect(() => validateMigrations([{ version: 2, name: "x", sql: "" }])).toThrow();
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

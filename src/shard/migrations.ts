/**
 * Versioned schema migrations, kept as SQL in TypeScript (no folder scanning).
 *
 * Rules:
 * - Additive only (new tables, new nullable/defaulted columns, new indexes): old binaries keep
 *   working during a rolling deploy. A DROP / RENAME / retyping ALTER is refused unless the
 *   migration is marked `contract: true` (see `nonAdditiveStatements`). Never edit or renumber
 *   an applied migration; add one.
 * - Each database records what it has in `schema_migrations(version, name, checksum, applied_at)`.
 * - `applyMigrations` runs in ONE transaction holding a transaction-scoped advisory lock, so
 *   processes starting together do not race: the first applies, the others wait, then find
 *   nothing to do. Postgres DDL is transactional, so a failure leaves nothing half-applied.
 * - `ensureDatabase` creates the configured database on a cluster if it is missing (first
 *   start of a fresh cluster); concurrent creators are tolerated.
 */
import { createHash } from "node:crypto";
import pg from "pg";
import type { Logger } from "../core/log.js";
import type { Queryable } from "./router.js";
import { sqlState } from "./pg-errors.js";

export interface Migration {
  /** Position in its list, from 1. */
  version: number;
  name: string;
  sql: string;
  /**
   * A CONTRACT step (expand/contract): removes, renames or retypes something old binaries may
   * still use. Allowed only when marked, and only once no running binary needs the old shape;
   * unmarked migrations must be additive (`nonAdditiveStatements` finds nothing).
   */
  contract?: true;
}

/**
 * The non-additive statements in a migration's SQL (pure): DROP …, RENAME, ALTER COLUMN …
 * TYPE / SET DATA TYPE, SET NOT NULL, TRUNCATE. Comments are ignored. An unmarked migration
 * with any of these fails the migration test (test/unit/shard-migrations.test.ts) and is
 * refused by `validateMigrations`.
 */
export function nonAdditiveStatements(sql: string): string[] {
  const code = sql.replace(/--[^\n]*/g, " ").replace(/\/\*[\s\S]*?\*\//g, " ");
  const patterns = [
    /\bDROP\s+(TABLE|COLUMN|INDEX|SCHEMA|VIEW|TYPE|CONSTRAINT|FUNCTION|SEQUENCE|DEFAULT)\b/i,
    /\bRENAME\b/i,
    /\bALTER\s+COLUMN\s+\S+\s+(SET\s+DATA\s+)?TYPE\b/i,
    /\bSET\s+NOT\s+NULL\b/i,
    /\bTRUNCATE\b/i,
  ];
  return code
    .split(";")
    .map((st) => st.trim().replace(/\s+/g, " "))
    .filter((st) => st !== "" && patterns.some((p) => p.test(st)));
}

export interface MigrationSet {
  /** Name recorded with each version, so several sets can share one database (e.g. a dev
   * setup whose global scope is also a shard). */
  set: string;
  list: readonly Migration[];
}

/** Global database: accounts and the user → shard mapping table. */
export const GLOBAL_MIGRATIONS: MigrationSet = { set: "global", list: [
  {
    version: 1,
    name: "users, shards, shard_map",
    sql: `
      CREATE TABLE users (
        id         bigserial PRIMARY KEY,
        name       text UNIQUE NOT NULL,
        pass_hash  text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE TABLE shards (
        name   text PRIMARY KEY,
        weight int  NOT NULL DEFAULT 1 CHECK (weight >= 0),
        state  text NOT NULL DEFAULT 'active'
      );
      CREATE TABLE shard_map (
        user_id    bigint PRIMARY KEY,
        shard      text NOT NULL REFERENCES shards(name),
        updated_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX shard_map_shard_idx ON shard_map (shard);
    `,
  },
  {
    version: 2,
    name: "shard_moves journal (online user moves)",
    sql: `
      CREATE TABLE shard_moves (
        user_id    bigint PRIMARY KEY,
        from_shard text NOT NULL,
        to_shard   text NOT NULL,
        state      text NOT NULL CHECK (state IN ('copying', 'flipped')),
        move_id    text NOT NULL,
        started_at timestamptz NOT NULL DEFAULT now()
      );
    `,
  },
  {
    version: 3,
    name: "ops_switches, ops_flags (feature switches and flags, issue #9)",
    sql: `
      CREATE TABLE ops_switches (
        name       text PRIMARY KEY,
        enabled    boolean NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE TABLE ops_flags (
        name       text NOT NULL,
        scope      text NOT NULL,
        value      text NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (name, scope)
      );
    `,
  },
  {
    version: 4,
    name: "game_log (daily range partitions) and analytics_events (issue #9)",
    sql: `
      -- partitions game_log_YYYYMMDD are created ahead / dropped by retention at runtime
      -- (src/core/ops/game-log.ts maintainPartitions), not by migrations
      CREATE TABLE game_log (
        id      bigserial,
        at      timestamptz NOT NULL,
        kind    text NOT NULL,
        user_id bigint NOT NULL DEFAULT 0,
        node    text NOT NULL,
        detail  jsonb NOT NULL DEFAULT '{}'
      ) PARTITION BY RANGE (at);
      CREATE INDEX game_log_user_at_idx ON game_log (user_id, at);
      CREATE INDEX game_log_at_idx ON game_log (at);
      CREATE TABLE analytics_events (
        stream_id   text PRIMARY KEY,
        user_id     bigint NOT NULL,
        name        text NOT NULL,
        props       jsonb NOT NULL DEFAULT '{}',
        client_at   timestamptz,
        received_at timestamptz NOT NULL,
        stored_at   timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX analytics_events_name_idx ON analytics_events (name, received_at);
    `,
  },
  {
    version: 5,
    name: "trades (two-phase-commit records) and item_id_blocks (global item ids, issue #7)",
    sql: `
      -- one row per trade; state 'committing'/'aborting' is the 2PC decision (the commit point)
      CREATE TABLE trades (
        id           text PRIMARY KEY,
        state        text NOT NULL CHECK (state IN ('preparing', 'committing', 'aborting', 'done')),
        outcome      text CHECK (outcome IN ('committed', 'aborted')),
        participants jsonb NOT NULL,
        shards       text[] NOT NULL,
        spec         jsonb NOT NULL,
        reason       text,
        created_at   timestamptz NOT NULL DEFAULT now(),
        decided_at   timestamptz,
        done_at      timestamptz
      );
      CREATE INDEX trades_open_idx ON trades (created_at) WHERE state <> 'done';
      -- item ids are handed out in blocks of 1000 (one nextval per block)
      CREATE SEQUENCE item_id_blocks START 1 INCREMENT BY 1000;
    `,
  },
] };

/** Every player shard. */
export const SHARD_MIGRATIONS: MigrationSet = { set: "shard", list: [
  {
    version: 1,
    name: "players",
    sql: `
      CREATE TABLE players (
        user_id     bigint PRIMARY KEY,
        name        text   NOT NULL,
        zone        text   NOT NULL,
        x           real   NOT NULL,
        y           real   NOT NULL,
        hp          int    NOT NULL,
        owner_epoch bigint NOT NULL DEFAULT 0,
        owner       text,
        updated_at  timestamptz NOT NULL DEFAULT now()
      );
    `,
  },
  {
    version: 2,
    name: "inventory, wallets, item_ledger, trade_applied (issue #7)",
    sql: `
      CREATE TABLE inventory (
        item_id    bigint PRIMARY KEY,
        user_id    bigint NOT NULL,
        kind       text   NOT NULL,
        qty        int    NOT NULL CHECK (qty > 0),
        created_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX inventory_user_idx ON inventory (user_id);
      CREATE TABLE wallets (
        user_id    bigint PRIMARY KEY,
        currency   bigint NOT NULL DEFAULT 0 CHECK (currency >= 0),
        updated_at timestamptz NOT NULL DEFAULT now()
      );
      -- every item creation / move / deletion and every currency change on this shard
      CREATE TABLE item_ledger (
        id        bigserial PRIMARY KEY,
        op        text   NOT NULL,
        item_id   bigint,
        kind      text,
        qty       int,
        currency  bigint,
        from_user bigint,
        to_user   bigint,
        trade_id  text,
        at        timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX item_ledger_item_idx ON item_ledger (item_id);
      CREATE INDEX item_ledger_trade_idx ON item_ledger (trade_id);
      -- written inside each trade's prepared transaction: "this trade's part here is committed"
      CREATE TABLE trade_applied (
        trade_id   text PRIMARY KEY,
        applied_at timestamptz NOT NULL DEFAULT now()
      );
    `,
  },
] };

/** Advisory lock key of the migration runner ("RIFTMIGR" as an int8). */
const MIGRATION_LOCK = 0x524946544d494752n.toString();

export function checksum(m: Migration): string {
  return createHash("sha256").update(m.sql).digest("hex").slice(0, 16);
}

/** Check a migration list is well-formed (strictly increasing versions from 1). Pure. */
export function validateMigrations(list: readonly Migration[]): void {
  list.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`migration #${i} has version ${m.version}, expected ${i + 1}`);
    const bad = m.contract ? [] : nonAdditiveStatements(m.sql);
    if (bad.length > 0) throw new Error(`migration ${m.version} '${m.name}' is not additive (${bad[0]}); mark it \`contract: true\` only if no running binary needs the old shape`);
  });
}

/**
 * Apply the missing migrations of `ms` through `tx`, which must be a connection INSIDE a
 * transaction (e.g. `router.transaction(scope, (c) => applyMigrations(c, SHARD_MIGRATIONS, log))`).
 * Returns the versions applied now (empty when up to date).
 */
export async function applyMigrations(tx: Queryable, ms: MigrationSet, log: Logger): Promise<number[]> {
  const { set, list } = ms;
  validateMigrations(list);
  await tx.query(`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`);
  await tx.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      set_name   text NOT NULL,
      version    int  NOT NULL,
      name       text NOT NULL,
      checksum   text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (set_name, version)
    )`);
  const { rows } = await tx.query<{ version: number; checksum: string }>("SELECT version, checksum FROM schema_migrations WHERE set_name = $1 ORDER BY version", [set]);
  const have = new Map(rows.map((r) => [r.version, r.checksum]));
  const applied: number[] = [];
  for (const m of list) {
    const sum = checksum(m);
    const existing = have.get(m.version);
    if (existing !== undefined) {
      if (existing !== sum) log.warn({ set, version: m.version, name: m.name }, "applied migration differs from this build's (migrations must never be edited)");
      continue;
    }
    await tx.query(m.sql);
    await tx.query("INSERT INTO schema_migrations (set_name, version, name, checksum) VALUES ($1, $2, $3, $4)", [set, m.version, m.name, sum]);
    applied.push(m.version);
  }
  const newest = Math.max(0, ...have.keys());
  if (newest > list.length) log.info({ set, dbVersion: newest, buildVersion: list.length }, "database schema is newer than this build (fine: migrations are additive)");
  return applied;
}

/**
 * Create `database` on the server described by `conn` (connected through its `postgres`
 * database) unless it exists. Safe when several processes try at once.
 */
export async function ensureDatabase(conn: pg.ClientConfig, database: string, log: Logger): Promise<boolean> {
  if (!/^[a-z_][a-z0-9_]*$/.test(database)) throw new Error(`refusing to create database with name '${database}'`);
  const client = new pg.Client({ ...conn, database: "postgres", connectionTimeoutMillis: 5000 });
  client.on("error", (err) => log.warn({ err: err.message }, "admin connection failed"));
  await client.connect();
  try {
    const { rowCount } = await client.query("SELECT 1 FROM pg_database WHERE datname = $1", [database]);
    if (rowCount) return false;
    try {
      await client.query(`CREATE DATABASE "${database}"`);
      log.info({ database, host: conn.host, port: conn.port }, "database created");
      return true;
    } catch (err) {
      // Another process created it between our check and our CREATE.
      if (sqlState(err) === "42P04" || sqlState(err) === "23505") return false;
      throw err;
    }
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * Items and trades on the shared Patroni clusters (own databases): item grants with globally
 * unique ids and ledger rows, a cross-shard and a same-shard trade, rejected trades that
 * change nothing, and recovery of trades interrupted at a step (hook throws) in-process.
 * The crash-at-every-step test with a real child process is test/fault/trade-crash.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Config } from "../../src/core/config.js";
import { isRiftError } from "../../src/core/errors.js";
import { silentLogger } from "../../src/core/log.js";
import { createDataLayer, type PgDataLayer } from "../../src/shard/data-layer.js";
import { PgItemRepository } from "../../src/shard/items.js";
import { TradeCoordinator, type TradeStep } from "../../src/shard/trades.js";
import { getInfra, infraTestConfig, type InfraState } from "../helpers/infra.js";
import { freshDatabases, type FreshDatabases } from "../helpers/isolation.js";

const testConfig = (infra: InfraState, database: string) => infraTestConfig(infra, database, 4);

describe("items and two-phase-commit trades", { timeout: 120_000 }, () => {
  let dbs: FreshDatabases | undefined;
  let data: PgDataLayer;
  let config: Config;
  let items: PgItemRepository;
  let s0: string;
  let s1: string;
  let g: string;
  let nextUser = 500;

  beforeAll(async () => {
    dbs = await freshDatabases(getInfra());
    config = testConfig(getInfra(), dbs.name);
    data = createDataLayer({ config, log: silentLogger(), database: dbs.name, client: "trade-it" });
    await data.migrate();
    [s0, s1] = config.db.shardScopes as [string, string];
    g = config.db.globalScope;
    items = new PgItemRepository({ router: data.router, shardMap: data.shardMap, globalScope: g });
  }, 90_000);

  afterAll(async () => {
    await data?.close();
    await dbs?.dispose();
  });

  async function user(shard: string, currency: number, kinds: string[]): Promise<{ id: number; items: number[] }> {
    const id = ++nextUser;
    await data.router.query(g, "INSERT INTO shard_map (user_id, shard) VALUES ($1, $2)", [id, shard]);
    const ids = await items.grantItems(id, kinds.map((kind) => ({ kind, qty: 1 })));
    if (currency > 0) await items.grantCurrency(id, currency);
    return { id, items: ids };
  }

  const coordinator = (hook?: (step: TradeStep) => void) =>
    new TradeCoordinator({ router: data.router, shardMap: data.shardMap, globalScope: g, log: silentLogger(), ...(hook ? { hook: (s: TradeStep) => hook(s) } : {}) });

  async function prepared(): Promise<string[]> {
    const out: string[] = [];
    for (const s of [s0, s1]) {
      const { rows } = await data.router.query<{ gid: string }>(s, "SELECT gid FROM pg_prepared_xacts WHERE database = current_database()");
      out.push(...rows.map((r) => r.gid));
    }
    return out;
  }

  async function snapshot(users: number[]) {
    return Promise.all(users.map(async (u) => ({ u, inv: (await items.inventory(u)).map((i) => i.itemId), bal: await items.balance(u) })));
  }

  async function tradeRow(id: string) {
    const { rows } = await data.router.query<{ state: string; outcome: string | null; reason: string | null }>(g, "SELECT state, outcome, reason FROM trades WHERE id = $1", [id]);
    return rows[0];
  }

  it("grants items with globally unique ids and writes the ledger", async () => {
    const other = new PgItemRepository({ router: data.router, shardMap: data.shardMap, globalScope: g });
    const a = await user(s0, 0, ["a", "b"]);
    await data.router.query(g, "INSERT INTO shard_map (user_id, shard) VALUES ($1, $2)", [++nextUser, s1]);
    const fromOther = await other.grantItems(nextUser, [{ kind: "c", qty: 3 }]);
    expect(new Set([...a.items, ...fromOther]).size).toBe(3);
    expect(await items.inventory(a.id)).toEqual([
      { itemId: a.items[0], userId: a.id, kind: "a", qty: 1 },
      { itemId: a.items[1], userId: a.id, kind: "b", qty: 1 },
    ]);
    expect(await items.destroyItem(a.id, a.items[0]!)).toBe(true);
    expect(await items.destroyItem(a.id, a.items[0]!)).toBe(false);
    const { rows } = await data.router.query<{ op: string }>(s0, "SELECT op FROM item_ledger WHERE item_id = $1 ORDER BY id", [a.items[0]]);
    expect(rows.map((r) => r.op)).toEqual(["create", "delete"]);
    expect(await items.balance(a.id)).toBe(0);
    expect(await items.grantCurrency(a.id, 70)).toBe(70);
  });

  it("cross-shard trade: items and currency move atomically, ledger on both shards, nothing left prepared", async () => {
    const a = await user(s0, 500, ["sword", "shield"]);
    const b = await user(s1, 100, ["potion"]);
    const r = await coordinator().trade({ a: a.id, b: b.id, aGives: { items: [a.items[0]!], currency: 120 }, bGives: { items: [b.items[0]!], currency: 30 } });
    expect(r.outcome).toBe("committed");
    expect(r.unfinished).toEqual([]);
    expect(await snapshot([a.id, b.id])).toEqual([
      { u: a.id, inv: [a.items[1], b.items[0]], bal: 500 - 120 + 30 },
      { u: b.id, inv: [a.items[0]], bal: 100 - 30 + 120 },
    ]);
    expect(await tradeRow(r.tradeId)).toMatchObject({ state: "done", outcome: "committed" });
    const l0 = await data.router.query<{ op: string }>(s0, "SELECT op FROM item_ledger WHERE trade_id = $1 ORDER BY op", [r.tradeId]);
    const l1 = await data.router.query<{ op: string }>(s1, "SELECT op FROM item_ledger WHERE trade_id = $1 ORDER BY op", [r.tradeId]);
    expect(l0.rows.map((x) => x.op)).toEqual(["trade_credit", "trade_debit", "trade_in", "trade_out"]);
    expect(l1.rows.map((x) => x.op)).toEqual(["trade_credit", "trade_debit", "trade_in", "trade_out"]);
    expect(await prepared()).toEqual([]);
  });

  it("same-shard trade reassigns in one prepared transaction", async () => {
    const a = await user(s1, 50, ["gem"]);
    const b = await user(s1, 0, []);
    const r = await coordinator().trade({ a: a.id, b: b.id, aGives: { items: a.items, currency: 50 }, bGives: { items: [], currency: 0 } });
    expect(await snapshot([a.id, b.id])).toEqual([
      { u: a.id, inv: [], bal: 0 },
      { u: b.id, inv: a.items, bal: 50 },
    ]);
    const { rows } = await data.router.query<{ op: string }>(s1, "SELECT op FROM item_ledger WHERE trade_id = $1 ORDER BY op", [r.tradeId]);
    expect(rows.map((x) => x.op)).toEqual(["trade_credit", "trade_debit", "trade_move"]);
  });

  it("insufficient currency: TRADE_REJECTED, trade aborted, nothing changed on either shard", async () => {
    const a = await user(s0, 10, ["ring"]);
    const b = await user(s1, 5, ["amulet"]);
    const before = await snapshot([a.id, b.id]);
    let err: unknown;
    await coordinator()
      .trade({ a: a.id, b: b.id, aGives: { items: a.items, currency: 5 }, bGives: { items: b.items, currency: 6 } })
      .catch((e: unknown) => (err = e));
    expect(isRiftError(err, "TRADE_REJECTED")).toBe(true);
    expect(String((err as Error).message)).toMatch(/insufficient currency/);
    expect(await snapshot([a.id, b.id])).toEqual(before);
    const { rows } = await data.router.query<{ state: string; outcome: string }>(g, "SELECT state, outcome FROM trades WHERE participants->'a'->>'user' = $1", [String(a.id)]);
    expect(rows).toEqual([{ state: "done", outcome: "aborted" }]);
    for (const s of [s0, s1]) {
      const { rowCount } = await data.router.query(s, "SELECT 1 FROM item_ledger WHERE (from_user = $1 OR to_user = $1) AND trade_id IS NOT NULL", [a.id]);
      expect(rowCount).toBe(0);
    }
    expect(await prepared()).toEqual([]);
  });

  it("items not owned: rejected before anything is recorded", async () => {
    const a = await user(s0, 10, ["x"]);
    const b = await user(s1, 10, ["y"]);
    await expect(coordinator().trade({ a: a.id, b: b.id, aGives: { items: b.items, currency: 0 }, bGives: { items: [], currency: 0 } })).rejects.toMatchObject({ key: "TRADE_REJECTED" });
    await expect(coordinator().trade({ a: a.id, b: a.id, aGives: { items: a.items, currency: 0 }, bGives: { items: [], currency: 0 } })).rejects.toMatchObject({ key: "TRADE_REJECTED" });
  });

  it.each([
    ["after_prepare_1", "aborted"],
    ["after_prepare_2", "aborted"],
    ["after_decision", "committed"],
    ["after_commit_1", "committed"],
  ] as const)("interrupted %s: recovery settles it %s (young undecided trades wait for the abandon timeout)", async (step, outcome) => {
    const a = await user(s0, 100, ["p", "q"]);
    const b = await user(s1, 100, ["r"]);
    const before = await snapshot([a.id, b.id]);
    const c = coordinator((s) => {
      if (s === step) throw new Error(`stop at ${s}`);
    });
    const spec = { a: a.id, b: b.id, aGives: { items: [a.items[0]!], currency: 40 }, bGives: { items: b.items, currency: 0 } };
    if (step === "after_prepare_1" || step === "after_prepare_2") {
      // before the decision a failure is handled like a failed prepare: the coordinator aborts at once
      await expect(c.trade(spec)).rejects.toMatchObject({ key: "TRADE_REJECTED" });
      expect(await snapshot([a.id, b.id])).toEqual(before);
      expect(await prepared()).toEqual([]);
      return;
    }
    await expect(c.trade(spec)).rejects.toThrow(`stop at ${step}`);
    expect((await prepared()).length).toBeGreaterThan(0);
    const rep = await coordinator().recover({ abandonAfterMs: 30_000 });
    expect(rep.committed).toBe(1);
    expect(rep.anomalies).toEqual([]);
    expect(await prepared()).toEqual([]);
    const after = await snapshot([a.id, b.id]);
    expect(outcome).toBe("committed");
    expect(after[0]!.bal).toBe(60);
    expect(after[1]!.bal).toBe(140);
    expect(after[1]!.inv).toEqual([a.items[0]]);
    // a second pass finds nothing to do
    const again = await coordinator().recover({ abandonAfterMs: 0 });
    expect(again).toMatchObject({ committed: 0, aborted: 0, orphansCommitted: 0, orphansRolledBack: 0 });
  });

  it("a user move journalled during the prepares makes the commit decision fail: aborted, nothing changed", async () => {
    const a = await user(s0, 100, ["m"]);
    const b = await user(s1, 100, ["n"]);
    const before = await snapshot([a.id, b.id]);
    const c = new TradeCoordinator({
      router: data.router,
      shardMap: data.shardMap,
      globalScope: g,
      log: silentLogger(),
      hook: async (step) => {
        if (step === "after_prepare_2") {
          await data.router.query(g, "INSERT INTO shard_moves (user_id, from_shard, to_shard, state, move_id) VALUES ($1, $2, $3, 'copying', 'm1')", [a.id, s0, s1]);
        }
      },
    });
    await expect(c.trade({ a: a.id, b: b.id, aGives: { items: a.items, currency: 10 }, bGives: { items: b.items, currency: 0 } })).rejects.toMatchObject({ key: "TRADE_REJECTED" });
    expect(await snapshot([a.id, b.id])).toEqual(before);
    expect(await prepared()).toEqual([]);
    // and a new trade is refused up front while the journal row exists
    await expect(coordinator().trade({ a: a.id, b: b.id, aGives: { items: a.items, currency: 0 }, bGives: { items: [], currency: 0 } })).rejects.toThrow(/being moved/);
    await data.router.query(g, "DELETE FROM shard_moves WHERE user_id = $1", [a.id]);
  });

  it("recovery: an undecided trade waits while young, is aborted when abandoned; orphan prepared transactions are rolled back", async () => {
    const a = await user(s0, 100, ["u"]);
    const b = await user(s1, 100, ["v"]);
    const before = await snapshot([a.id, b.id]);
    // leave a trade 'preparing' with both parts prepared, as a coordinator killed after its prepares would
    const tradeId = "abcdefabcdefabcdefabcdefabcdef01";
    await data.router.query(g, "INSERT INTO trades (id, state, participants, shards, spec) VALUES ($1, 'preparing', '{}', $2, '{}')", [tradeId, [s0, s1]]);
    await data.router.withClient(s0, async (c) => {
      await c.query("BEGIN");
      await c.query("UPDATE wallets SET currency = currency - 1 WHERE user_id = $1", [a.id]);
      await c.query(`PREPARE TRANSACTION 'rift_trade_${tradeId}_${s0}'`);
    });
    // an orphan: prepared, no trade row
    const orphan = "abcdefabcdefabcdefabcdefabcdef02";
    await data.router.withClient(s1, async (c) => {
      await c.query("BEGIN");
      await c.query("UPDATE wallets SET currency = currency - 1 WHERE user_id = $1", [b.id]);
      await c.query(`PREPARE TRANSACTION 'rift_trade_${orphan}_${s1}'`);
    });
    const first = await coordinator().recover({ abandonAfterMs: 60_000 });
    expect(first).toMatchObject({ waiting: 1, aborted: 0, orphansRolledBack: 1 });
    expect(await prepared()).toEqual([`rift_trade_${tradeId}_${s0}`]);
    const second = await coordinator().recover({ abandonAfterMs: 0 });
    expect(second).toMatchObject({ waiting: 0, aborted: 1 });
    expect(await prepared()).toEqual([]);
    expect(await tradeRow(tradeId)).toMatchObject({ state: "done", outcome: "aborted" });
    expect(await snapshot([a.id, b.id])).toEqual(before);
  });
});

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  MAX_TRADE_ITEMS,
  parseTradeGid,
  planTrade,
  preparedAction,
  recoveryAction,
  tradeGid,
  tradeSpecProblem,
  type ItemInfo,
  type TradeSpec,
} from "../../src/game/trade-rules.js";

const spec = (over: Partial<TradeSpec> = {}): TradeSpec => ({ a: 1, b: 2, aGives: { items: [10], currency: 5 }, bGives: { items: [20], currency: 0 }, ...over });
const infos = (list: [number, number][]): Map<number, ItemInfo> => new Map(list.map(([id, u]) => [id, { itemId: id, userId: u, kind: "sword", qty: 1 }]));

describe("tradeSpecProblem", () => {
  it("accepts a well-formed trade", () => {
    expect(tradeSpecProblem(spec())).toBeUndefined();
    expect(tradeSpecProblem(spec({ aGives: { items: [], currency: 1 }, bGives: { items: [], currency: 0 } }))).toBeUndefined();
  });
  it("rejects self-trades, bad ids, negative or fractional currency, duplicates, empty and oversized trades", () => {
    expect(tradeSpecProblem(spec({ b: 1 }))).toMatch(/themself/);
    expect(tradeSpecProblem(spec({ a: 0 }))).toMatch(/bad user/);
    expect(tradeSpecProblem(spec({ aGives: { items: [10], currency: -1 } }))).toMatch(/currency/);
    expect(tradeSpecProblem(spec({ aGives: { items: [10], currency: 1.5 } }))).toMatch(/currency/);
    expect(tradeSpecProblem(spec({ bGives: { items: [10], currency: 0 } }))).toMatch(/twice/);
    expect(tradeSpecProblem(spec({ aGives: { items: [-3], currency: 0 } }))).toMatch(/bad item/);
    expect(tradeSpecProblem(spec({ aGives: { items: [], currency: 0 }, bGives: { items: [], currency: 0 } }))).toMatch(/empty/);
    const many = Array.from({ length: MAX_TRADE_ITEMS + 1 }, (_, i) => i + 1);
    expect(tradeSpecProblem(spec({ aGives: { items: many, currency: 0 }, bGives: { items: [], currency: 0 } }))).toMatch(/more than/);
  });
});

describe("planTrade", () => {
  it("cross-shard: the giver's shard removes and debits, the receiver's shard inserts and credits", () => {
    const plan = planTrade(spec(), { a: "shard1", b: "shard0" }, infos([[10, 1], [20, 2]]));
    expect(plan.map((w) => w.shard)).toEqual(["shard0", "shard1"]);
    const [s0, s1] = plan;
    expect(s1!.check.map((c) => c.itemId)).toEqual([10]);
    expect(s1!.remove).toEqual([{ itemId: 10, from: 1, to: 2 }]);
    expect(s1!.insert).toEqual([{ itemId: 20, from: 2, to: 1, kind: "sword", qty: 1 }]);
    expect(s1!.debit).toEqual([{ userId: 1, amount: 5, to: 2 }]);
    expect(s0!.credit).toEqual([{ userId: 2, amount: 5, from: 1 }]);
    expect(s0!.remove).toEqual([{ itemId: 20, from: 2, to: 1 }]);
    expect(s0!.reassign).toEqual([]);
  });
  it("same shard: one unit of work that reassigns", () => {
    const plan = planTrade(spec(), { a: "s", b: "s" }, infos([[10, 1], [20, 2]]));
    expect(plan).toHaveLength(1);
    expect(plan[0]!.reassign).toEqual([
      { itemId: 10, from: 1, to: 2 },
      { itemId: 20, from: 2, to: 1 },
    ]);
    expect(plan[0]!.remove).toEqual([]);
    expect(plan[0]!.insert).toEqual([]);
  });
  it("involves both shards even when only one side gives", () => {
    const plan = planTrade(spec({ bGives: { items: [], currency: 0 } }), { a: "x", b: "y" }, infos([[10, 1]]));
    expect(plan.map((w) => w.shard)).toEqual(["x", "y"]);
  });
  it("throws without item info", () => {
    expect(() => planTrade(spec(), { a: "x", b: "y" }, infos([[10, 1]]))).toThrow(/no info/);
  });
  it("conserves items and currency and locks in a fixed order (property)", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 1, max: 1000 }), { maxLength: 20 }),
        fc.nat(20),
        fc.nat(100),
        fc.nat(100),
        fc.boolean(),
        (ids, split, ca, cb, sameShard) => {
          const k = Math.min(split, ids.length);
          const s: TradeSpec = { a: 1, b: 2, aGives: { items: ids.slice(0, k), currency: ca }, bGives: { items: ids.slice(k), currency: cb } };
          const info = infos([...ids.slice(0, k).map((i) => [i, 1] as [number, number]), ...ids.slice(k).map((i) => [i, 2] as [number, number])]);
          const plan = planTrade(s, sameShard ? { a: "p", b: "p" } : { a: "p", b: "q" }, info);
          const removed = plan.flatMap((w) => w.remove.map((r) => r.itemId)).sort();
          const inserted = plan.flatMap((w) => w.insert.map((r) => r.itemId)).sort();
          expect(removed).toEqual(inserted);
          const moved = plan.flatMap((w) => [...w.reassign.map((r) => r.itemId), ...w.insert.map((r) => r.itemId)]).sort();
          expect(moved).toEqual([...ids].sort());
          const debit = plan.flatMap((w) => w.debit).reduce((x, d) => x + d.amount, 0);
          const credit = plan.flatMap((w) => w.credit).reduce((x, d) => x + d.amount, 0);
          expect(debit).toBe(credit);
          expect(debit).toBe(ca + cb);
          for (const w of plan) expect(w.check.map((c) => c.itemId)).toEqual([...w.check.map((c) => c.itemId)].sort((x, y) => x - y));
        },
      ),
    );
  });
});

describe("gids", () => {
  it("round-trips and rejects foreign gids", () => {
    const id = "0123456789abcdef0123456789abcdef";
    expect(tradeGid(id, "shard_0")).toBe(`rift_trade_${id}_shard_0`);
    expect(parseTradeGid(tradeGid(id, "shard_0"))).toEqual({ tradeId: id, shard: "shard_0" });
    expect(parseTradeGid("rift_move_x")).toBeUndefined();
    expect(() => tradeGid("x'; DROP", "s")).toThrow();
    expect(() => tradeGid(id, "s'; DROP")).toThrow();
  });
});

describe("recovery decisions", () => {
  it("commits decided commits, aborts decided aborts and abandoned undecided trades, waits for young ones", () => {
    expect(recoveryAction("committing", 0, 30_000)).toBe("commit");
    expect(recoveryAction("aborting", 0, 30_000)).toBe("abort");
    expect(recoveryAction("preparing", 31_000, 30_000)).toBe("abort");
    expect(recoveryAction("preparing", 1_000, 30_000)).toBe("wait");
    expect(recoveryAction("preparing", 0, 0)).toBe("abort");
    expect(recoveryAction("done", 0, 0)).toBe("none");
  });
  it("prepared transactions: orphans and aborted roll back, decided commits commit, in-flight stay", () => {
    expect(preparedAction(undefined)).toBe("rollback");
    expect(preparedAction({ state: "aborting", outcome: null })).toBe("rollback");
    expect(preparedAction({ state: "done", outcome: "aborted" })).toBe("rollback");
    expect(preparedAction({ state: "committing", outcome: null })).toBe("commit");
    expect(preparedAction({ state: "done", outcome: "committed" })).toBe("commit");
    expect(preparedAction({ state: "preparing", outcome: null })).toBe("leave");
  });
});

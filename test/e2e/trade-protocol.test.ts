/**
 * Player trades through the client protocol (issue #7 item 4) on real processes: coordinator,
 * 1 gateway, TWO field servers (z1 and z2). Player A plays in z1 (field 0), player B in z2
 * (field 1), and they live on different shards, so the two halves meet only in Redis and the
 * trade is a cross-shard two-phase commit.
 * 1. A gives an item for B's currency: A waits, B is offered the mirrored terms, B accepts,
 *    both hear `committed` with the same trade id; inventories, wallets, the ledgers on both
 *    shards and the global trade row agree.
 * 2. Non-mirroring proposals do not trade (each side sees the other's terms as an offer);
 *    cancelling tells both sides.
 * 3. A offers an item it does not own: the matched trade is aborted for both with a
 *    RIFT_TRADE_REJECTED reason, and nothing changed.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RiftClient } from "../../src/client/rift-client.js";
import { loadConfig } from "../../src/core/config.js";
import type { ServerBody } from "../../src/core/protocol/messages.js";
import { infraEnv } from "../../src/tools/infra/infra.js";
import { PgItemRepository } from "../../src/shard/items.js";
import { TestCluster } from "../helpers/cluster.js";
import { getInfra } from "../helpers/infra.js";

type Status = ServerBody<"tradeStatus">;
const T = 20_000;

describe("trades through the client protocol, across field servers and shards", { timeout: 300_000 }, () => {
  let cluster: TestCluster | undefined;
  let items: PgItemRepository;
  let A: { c: RiftClient; id: number; shard: string };
  let B: { c: RiftClient; id: number; shard: string };
  let C: number;

  beforeAll(async () => {
    cluster = await TestCluster.start({ fields: [{ zones: ["z1"] }, { zones: ["z2"] }] });
    const c = cluster;
    const globalScope = loadConfig({ env: infraEnv(getInfra()) }).db.globalScope;
    items = new PgItemRepository({ router: c.data.router, shardMap: c.data.shardMap, globalScope });
    // accounts land on shards by weighted hashing: pick two on different shards
    const names = Array.from({ length: 8 }, (_, i) => `tr${i}_${c.uid}`);
    const accounts = await c.seedAccounts(names);
    const shards = await Promise.all(accounts.map(async (a) => (await c.data.shardMap.shardOf(a.userId))!));
    const ai = 0;
    const bi = shards.findIndex((s) => s !== shards[0]);
    expect(bi, "two accounts on different shards").toBeGreaterThan(0);
    const ci = accounts.findIndex((_, i) => i !== ai && i !== bi);
    await c.data.players.ensure({ userId: accounts[ai]!.userId, name: accounts[ai]!.name, zone: "z1", x: 100, y: 100, hp: 100 });
    await c.data.players.ensure({ userId: accounts[bi]!.userId, name: accounts[bi]!.name, zone: "z2", x: 100, y: 100, hp: 100 });
    const [ca, cb] = await Promise.all([c.player(accounts[ai]!.name), c.player(accounts[bi]!.name)]);
    A = { c: ca, id: accounts[ai]!.userId, shard: shards[ai]! };
    B = { c: cb, id: accounts[bi]!.userId, shard: shards[bi]! };
    C = accounts[ci]!.userId;
    expect(ca.zone).toBe("z1");
    expect(cb.zone).toBe("z2");
  }, 180_000);

  afterAll(async () => {
    await cluster?.stop();
  });

  const status = (p: { c: RiftClient }, pred: (s: Status) => boolean) => p.c.waitForEvent("tradeStatus", pred, T);
  const snapshot = async () => {
    const [ia, ib, ba, bb] = await Promise.all([items.inventory(A.id), items.inventory(B.id), items.balance(A.id), items.balance(B.id)]);
    return { a: ia.map((i) => i.itemId), b: ib.map((i) => i.itemId), balA: ba, balB: bb };
  };

  it("A (z1, one shard) trades an item for B's (z2, other shard) currency; both sides and the shards agree", async () => {
    const c = cluster!;
    const [sword] = await items.grantItems(A.id, [{ kind: "sword", qty: 1 }]);
    await items.grantCurrency(B.id, 100);
    const before = await snapshot();

    const waiting = status(A, (s) => s.with === B.id && s.state === "waiting");
    const offered = status(B, (s) => s.with === A.id && s.state === "offered");
    A.c.trade(B.id, { items: [sword!], currency: 0 }, { items: [], currency: 40 });
    expect(await waiting).toEqual({ with: B.id, state: "waiting", give: { items: [sword], currency: 0 }, get: { items: [], currency: 40 } });
    expect(await offered).toEqual({ with: A.id, state: "offered", give: { items: [], currency: 40 }, get: { items: [sword], currency: 0 } });

    const doneA = status(A, (s) => s.with === B.id && s.state !== "waiting" && s.state !== "offered");
    const doneB = status(B, (s) => s.with === A.id && s.state !== "waiting" && s.state !== "offered");
    B.c.trade(A.id, { items: [], currency: 40 }, { items: [sword!], currency: 0 });
    const [ra, rb] = await Promise.all([doneA, doneB]);
    expect(ra.state).toBe("committed");
    expect(rb.state).toBe("committed");
    expect(ra.trade).toMatch(/^[0-9a-f]{32}$/);
    expect(rb.trade).toBe(ra.trade);
    expect(rb).toMatchObject({ give: { items: [], currency: 40 }, get: { items: [sword], currency: 0 } });

    // the shards: the item moved from A's shard to B's, the currency the other way
    const after = await snapshot();
    expect(after.a).toEqual(before.a.filter((i) => i !== sword));
    expect(after.b).toEqual([...before.b, sword!].sort((x, y) => x - y));
    expect(after.balA).toBe(before.balA + 40);
    expect(after.balB).toBe(before.balB - 40);
    // what the clients are told agrees
    expect((await A.c.inventory()).currency).toBe(after.balA);
    expect((await B.c.inventory()).items.map((i) => i.id)).toContain(sword);
    // ledgers on both shards, and the global trade record
    const ledger = async (shard: string) =>
      (await c.data.router.query<{ op: string; item_id: string | null; currency: string | null }>(shard, "SELECT op, item_id, currency FROM item_ledger WHERE trade_id = $1 ORDER BY op", [ra.trade], { idempotent: true })).rows.map((r) => ({ op: r.op, item: r.item_id === null ? null : Number(r.item_id), currency: r.currency === null ? null : Number(r.currency) }));
    expect(await ledger(A.shard)).toEqual([
      { op: "trade_credit", item: null, currency: 40 },
      { op: "trade_out", item: sword, currency: null },
    ]);
    expect(await ledger(B.shard)).toEqual([
      { op: "trade_debit", item: null, currency: 40 },
      { op: "trade_in", item: sword, currency: null },
    ]);
    const g = loadConfig({ env: infraEnv(getInfra()) }).db.globalScope;
    const { rows } = await c.data.router.query<{ state: string; outcome: string }>(g, "SELECT state, outcome FROM trades WHERE id = $1", [ra.trade], { idempotent: true });
    expect(rows).toEqual([{ state: "done", outcome: "committed" }]);
  });

  it("non-mirroring proposals do not trade; cancelling tells both", async () => {
    const [gem] = await items.grantItems(A.id, [{ kind: "gem", qty: 1 }]);
    const before = await snapshot();
    const aWaits = status(A, (s) => s.with === B.id && s.state === "waiting");
    const bOffered = status(B, (s) => s.with === A.id && s.state === "offered");
    A.c.trade(B.id, { items: [gem!], currency: 0 }, { items: [], currency: 30 });
    await Promise.all([aWaits, bOffered]);
    // B counters with less currency: stored as B's own proposal, shown to A as an offer
    const bWaits = status(B, (s) => s.with === A.id && s.state === "waiting");
    const aOffered = status(A, (s) => s.with === B.id && s.state === "offered");
    B.c.trade(A.id, { items: [], currency: 20 }, { items: [gem!], currency: 0 });
    expect(await bWaits).toMatchObject({ state: "waiting", give: { items: [], currency: 20 } });
    expect(await aOffered).toMatchObject({ state: "offered", give: { items: [gem], currency: 0 }, get: { items: [], currency: 20 } });
    expect(await snapshot()).toEqual(before);

    const cancelA = status(A, (s) => s.with === B.id && s.state === "cancelled");
    const cancelB = status(B, (s) => s.with === A.id && s.state === "cancelled");
    A.c.cancelTrade(B.id);
    expect(await cancelB).toMatchObject({ give: { items: [], currency: 30 }, get: { items: [gem], currency: 0 } });
    expect((await cancelA).reason).toMatch(/withdrawn/);
    // B's counter-offer is still open; withdraw it too
    const cancelB2 = status(B, (s) => s.with === A.id && s.state === "cancelled");
    B.c.cancelTrade(A.id);
    await cancelB2;
    expect(await snapshot()).toEqual(before);
  });

  it("a trade of an item A does not own is aborted for both with a reason and changes nothing", async () => {
    const [foreign] = await items.grantItems(C, [{ kind: "crown", qty: 1 }]);
    const before = await snapshot();
    const cBefore = (await items.inventory(C)).map((i) => i.itemId);
    const offered = status(B, (s) => s.with === A.id && s.state === "offered");
    A.c.trade(B.id, { items: [foreign!], currency: 0 }, { items: [], currency: 10 });
    await offered;
    const endA = status(A, (s) => s.with === B.id && ["committed", "aborted", "inDoubt"].includes(s.state));
    const endB = status(B, (s) => s.with === A.id && ["committed", "aborted", "inDoubt"].includes(s.state));
    B.c.trade(A.id, { items: [], currency: 10 }, { items: [foreign!], currency: 0 });
    const [ra, rb] = await Promise.all([endA, endB]);
    for (const r of [ra, rb]) {
      expect(r.state).toBe("aborted");
      expect(r.reason).toMatch(new RegExp(`^RIFT_TRADE_REJECTED: .*item ${foreign} is not owned by user ${A.id}`));
      expect(r.trade).toBeUndefined();
    }
    expect(await snapshot()).toEqual(before);
    expect((await items.inventory(C)).map((i) => i.itemId)).toEqual(cBefore);
  });
});

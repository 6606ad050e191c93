/**
 * RedisTradeBook and RedisTradeNotifier on the shared Redis (own key prefix): concurrent
 * mirrored proposals from both sides match exactly once, non-mirrored ones never match, an
 * offer past its lifetime is not matched and the key expires, withdraw honours the proposal
 * id, and notices reach every subscriber (malformed ones dropped).
 */
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../src/core/log.js";
import { RedisTradeBook, RedisTradeNotifier, tradeKey, type TradeHalf, type TradeStatusBody } from "../../src/core/scene/trade-book.js";
import { getInfra } from "../helpers/infra.js";
import { redisPrefix, type RedisPrefix } from "../helpers/isolation.js";
import { waitFor } from "../helpers/processes.js";

describe("RedisTradeBook", () => {
  let ns: RedisPrefix;
  let admin: Redis;
  const closers: { close(): Promise<void> }[] = [];
  const book = (o: { lifetimeMs?: number; graceMs?: number } = {}) => {
    const b = new RedisTradeBook({ url: ns.url, keyPrefix: ns.prefix, log: silentLogger(), ...o });
    closers.push(b);
    return b;
  };
  let n = 0;
  const half = (user: number, other: number, give: TradeHalf["give"], get: TradeHalf["get"]): TradeHalf => ({ user, with: other, give, get, id: `p${++n}` });

  beforeAll(async () => {
    ns = await redisPrefix(getInfra());
    admin = new Redis(ns.url, { maxRetriesPerRequest: 2 });
    admin.on("error", () => {});
  });
  afterAll(async () => {
    for (const c of closers) await c.close();
    admin?.disconnect();
    await ns?.dispose();
  });

  it("concurrent mirrored proposals from both sides (two servers) match exactly once", async () => {
    const [b1, b2] = [book(), book()];
    for (let round = 0; round < 50; round++) {
      const [u, v] = [1000 + 2 * round, 1001 + 2 * round];
      const mine = half(u, v, { items: [round + 1, round + 100], currency: 0 }, { items: [], currency: 7 });
      const theirs = half(v, u, { items: [], currency: 7 }, { items: [round + 100, round + 1], currency: 0 });
      const [r1, r2] = await Promise.all([b1.propose(mine), b2.propose(theirs)]);
      const matched = [r1, r2].filter((r) => r !== undefined);
      expect(matched).toHaveLength(1);
      // the one that matched got the OTHER half back; the pair's key is gone
      expect(r1 ? r1.id : r2!.id).toBe(r1 ? theirs.id : mine.id);
      expect(await admin.exists(tradeKey(ns.prefix, u, v))).toBe(0);
    }
  });

  it("does not match proposals that do not mirror; a later mirrored one does", async () => {
    const b = book();
    expect(await b.propose(half(1, 2, { items: [5], currency: 0 }, { items: [], currency: 10 }))).toBeUndefined();
    expect(await b.propose(half(2, 1, { items: [], currency: 9 }, { items: [5], currency: 0 }))).toBeUndefined();
    expect(await b.propose(half(2, 1, { items: [], currency: 10 }, { items: [5, 6], currency: 0 }))).toBeUndefined();
    expect(await b.propose(half(2, 1, { items: [], currency: 10 }, { items: [], currency: 0 }))).toBeUndefined();
    const key = tradeKey(ns.prefix, 1, 2);
    expect(await admin.hget(key, "1:terms")).toBe("5;0|;10");
    const pttl = await admin.pttl(key);
    expect(pttl).toBeGreaterThan(60_000);
    expect(pttl).toBeLessThanOrEqual(90_000);
    const m = await b.propose(half(2, 1, { items: [], currency: 10 }, { items: [5], currency: 0 }));
    expect(m).toMatchObject({ user: 1, with: 2, give: { items: [5], currency: 0 }, get: { items: [], currency: 10 } });
  });

  it("an offer past its lifetime does not match, and the key expires", async () => {
    const b = book({ lifetimeMs: 150, graceMs: 150 });
    await b.propose(half(10, 11, { items: [1], currency: 0 }, { items: [], currency: 1 }));
    const key = tradeKey(ns.prefix, 10, 11);
    // wait until the offer is older than its lifetime on Redis' clock
    await waitFor(async () => {
      const [[, t], at] = await Promise.all([admin.multi().time().exec().then((r) => r![0]!), admin.hget(key, "10:at")]);
      const [sec, usec] = t as [string, string];
      return Number(sec) * 1000 + Math.floor(Number(usec) / 1000) - Number(at) >= 150 ? true : undefined;
    }, { timeoutMs: 5000, intervalMs: 20, what: "the offer to age" });
    expect(await b.propose(half(11, 10, { items: [], currency: 1 }, { items: [1], currency: 0 }))).toBeUndefined();
    // the late accept refreshed the key; nobody writes again → it expires
    await waitFor(async () => ((await admin.exists(key)) === 0 ? true : undefined), { timeoutMs: 5000, intervalMs: 20, what: "the key to expire" });
  });

  it("withdraw removes only the user's current proposal and returns it", async () => {
    const b = book();
    const old = half(20, 21, { items: [1], currency: 0 }, { items: [], currency: 1 });
    const cur = half(20, 21, { items: [1], currency: 0 }, { items: [], currency: 2 });
    await b.propose(old);
    await b.propose(cur);
    await b.propose(half(21, 20, { items: [], currency: 3 }, { items: [1], currency: 0 }));
    expect(await b.withdraw(20, 21, old.id)).toBeUndefined();
    expect(await b.withdraw(20, 21, cur.id)).toEqual(cur);
    expect(await b.withdraw(20, 21)).toBeUndefined();
    expect(await admin.hkeys(tradeKey(ns.prefix, 20, 21))).toEqual(expect.arrayContaining(["21", "21:terms", "21:at", "21:id"]));
    expect(await admin.hlen(tradeKey(ns.prefix, 20, 21))).toBe(4);
    expect(await b.withdraw(21, 20)).toMatchObject({ user: 21, with: 20 });
    expect(await admin.exists(tradeKey(ns.prefix, 20, 21))).toBe(0);
  });
});

describe("RedisTradeNotifier", () => {
  let ns: RedisPrefix;
  let admin: Redis;
  const notifiers: RedisTradeNotifier[] = [];

  beforeAll(async () => {
    ns = await redisPrefix(getInfra());
    admin = new Redis(ns.url, { maxRetriesPerRequest: 2 });
    admin.on("error", () => {});
  });
  afterAll(async () => {
    for (const x of notifiers) await x.close();
    admin?.disconnect();
    await ns?.dispose();
  });

  it("delivers notices to every subscriber and drops malformed ones", async () => {
    const mk = () => {
      const x = new RedisTradeNotifier({ url: ns.url, keyPrefix: ns.prefix, log: silentLogger() });
      notifiers.push(x);
      return x;
    };
    const [pub, s1, s2] = [mk(), mk(), mk()];
    const got: { to: number; body: TradeStatusBody }[][] = [[], []];
    [s1, s2].forEach((s, i) => s.subscribe((to, body) => got[i]!.push({ to, body })));
    await Promise.all([s1.ready(), s2.ready()]);
    await admin.publish(pub.channel, JSON.stringify({ to: 5, body: { with: 1, state: "bogus" } }));
    const body: TradeStatusBody = { with: 1, state: "offered", give: { items: [], currency: 3 }, get: { items: [9], currency: 0 } };
    await pub.send(5, body);
    await waitFor(() => (got.every((g) => g.length >= 1) ? true : undefined), { timeoutMs: 5000, intervalMs: 20, what: "the notice at both subscribers" });
    for (const g of got) expect(g).toEqual([{ to: 5, body }]);
  });
});

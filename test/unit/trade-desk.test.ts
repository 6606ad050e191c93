/**
 * TradeDesk with doubles: two game servers (two FakeScenes, one desk each) sharing an in-memory
 * trade book and notice hub; a fake trade executor. Covers consent matching across servers,
 * mismatch, validation, outcomes (committed / aborted / inDoubt), cancel, expiry, game log.
 */
import { describe, expect, it } from "vitest";
import { RiftError } from "../../src/core/errors.js";
import { silentLogger } from "../../src/core/log.js";
import type { GameLogKind } from "../../src/core/ops/game-log.js";
import { MemoryTradeBook, MemoryTradeHub, mirrors, type TradeStatusBody } from "../../src/core/scene/trade-book.js";
import { TradeDesk } from "../../src/core/scene/trade-desk.js";
import type { TradeSpec } from "../../src/game/trade-rules.js";
import { FakeScene } from "../helpers/scene-context.js";

const LIFETIME = 60_000;

async function flush(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}

function setup() {
  const clock = { t: 0 };
  const book = new MemoryTradeBook({ lifetimeMs: LIFETIME, now: () => clock.t });
  const hub = new MemoryTradeHub();
  const specs: TradeSpec[] = [];
  let outcome: () => Promise<{ tradeId: string }> = async () => ({ tradeId: `t${specs.length}` });
  const trades = { trade: (spec: TradeSpec) => (specs.push(structuredClone(spec)), outcome()) };
  const logged: { kind: GameLogKind; user: number; detail: Record<string, unknown> | undefined }[] = [];
  const gameLog = { log: (kind: GameLogKind, user: number, detail?: Record<string, unknown>) => void logged.push({ kind, user, detail }) };
  let id = 0;
  const server = (nodeId: string) => {
    const desk = new TradeDesk({ book, notifier: hub.notifier(), trades, nodeId, log: silentLogger(), gameLog, lifetimeMs: LIFETIME, newId: () => `p${++id}` });
    const ctx = new FakeScene({ nodeId, hooks: desk.hooks });
    return { desk, ctx };
  };
  const s1 = server("field-1");
  const s2 = server("field-2");
  s1.ctx.attach(1, "z1");
  s2.ctx.attach(2, "z2");
  /** Let async work settle, then run a tick on both servers (inbound notices, expiry). */
  const settle = async (now?: number) => {
    await flush();
    if (now !== undefined) clock.t = now;
    s1.ctx.tick(now);
    s2.ctx.tick(now);
    await flush();
    s1.ctx.tick(now);
    s2.ctx.tick(now);
  };
  const status = (ctx: FakeScene, user: number) => ctx.repliesOf(user, "tradeStatus").map((r) => r.body as TradeStatusBody);
  return { clock, book, hub, specs, logged, s1, s2, settle, status, setOutcome: (f: typeof outcome) => (outcome = f) };
}

const offer = (items: number[], currency = 0) => ({ items, currency });

describe("TradeDesk", () => {
  it("matches mirrored proposals from users on two servers and runs the trade once; both hear committed", async () => {
    const env = setup();
    const { s1, s2 } = env;
    s1.desk.handlers.trade!(s1.ctx, s1.ctx.session(1)!, { with: 2, give: offer([11, 10]), get: offer([], 50) });
    await env.settle(1);
    expect(env.status(s1.ctx, 1)).toEqual([{ with: 2, state: "waiting", give: offer([11, 10]), get: offer([], 50) }]);
    // user 2 is on the other server: the offer reached it through the notice hub
    expect(env.status(s2.ctx, 2)).toEqual([{ with: 1, state: "offered", give: offer([], 50), get: offer([11, 10]) }]);
    expect(env.status(s1.ctx, 2)).toEqual([]); // not served there: ignored

    // accept with the items in another order
    s2.desk.handlers.trade!(s2.ctx, s2.ctx.session(2)!, { with: 1, give: offer([], 50), get: offer([10, 11]) });
    await env.settle(2);
    expect(env.specs).toEqual([{ a: 1, b: 2, aGives: offer([11, 10]), bGives: offer([], 50) }]);
    const c1 = env.status(s1.ctx, 1).at(-1)!;
    const c2 = env.status(s2.ctx, 2).at(-1)!;
    expect(c1).toEqual({ with: 2, state: "committed", give: offer([11, 10]), get: offer([], 50), trade: "t1" });
    expect(c2).toEqual({ with: 1, state: "committed", give: offer([], 50), get: offer([10, 11]), trade: "t1" });
    expect(env.book.size).toBe(0);
    expect(env.logged.map((l) => [l.kind, l.user, l.detail?.outcome, l.detail?.trade, l.detail?.server])).toEqual([
      ["trade", 1, "committed", "t1", "field-2"],
      ["trade", 2, "committed", "t1", "field-2"],
    ]);
    // the matched proposal is not expired later
    await env.settle(LIFETIME + 10);
    expect(env.status(s1.ctx, 1).filter((b) => b.state === "cancelled")).toEqual([]);
    expect(env.status(s2.ctx, 2).filter((b) => b.state === "cancelled")).toEqual([]);
  });

  it("does not trade on terms that do not mirror; a counter-offer reaches the proposer", async () => {
    const env = setup();
    const { s1, s2 } = env;
    s1.desk.handlers.trade!(s1.ctx, s1.ctx.session(1)!, { with: 2, give: offer([10]), get: offer([], 50) });
    await env.settle(1);
    s2.desk.handlers.trade!(s2.ctx, s2.ctx.session(2)!, { with: 1, give: offer([], 40), get: offer([10]) });
    await env.settle(2);
    expect(env.specs).toEqual([]);
    expect(env.book.size).toBe(2);
    expect(env.status(s2.ctx, 2).map((b) => b.state)).toEqual(["offered", "waiting"]);
    expect(env.status(s1.ctx, 1).at(-1)).toEqual({ with: 2, state: "offered", give: offer([10]), get: offer([], 40) });
    // user 1 accepts the counter-offer
    s1.desk.handlers.trade!(s1.ctx, s1.ctx.session(1)!, { with: 2, give: offer([10]), get: offer([], 40) });
    await env.settle(3);
    expect(env.specs).toEqual([{ a: 1, b: 2, aGives: offer([10]), bGives: offer([], 40) }]);
  });

  it("rejects proposals with yourself and malformed specs without storing anything", async () => {
    const env = setup();
    const { s1 } = env;
    const s = s1.ctx.session(1)!;
    s1.desk.handlers.trade!(s1.ctx, s, { with: 1, give: offer([10]), get: offer([]) });
    s1.desk.handlers.trade!(s1.ctx, s, { with: 2, give: offer([10, 10]), get: offer([]) });
    s1.desk.handlers.trade!(s1.ctx, s, { with: 2, give: offer([10]), get: offer([10]) });
    s1.desk.handlers.trade!(s1.ctx, s, { with: 2, give: offer([]), get: offer([]) });
    await env.settle(1);
    expect(s1.ctx.errorsOf(1).map((e) => e.code)).toEqual(Array(4).fill("RIFT_TRADE_REJECTED"));
    expect(s1.ctx.errorsOf(1)[0]!.detail).toMatch(/yourself/);
    expect(env.book.size).toBe(0);
    expect(env.status(s1.ctx, 1)).toEqual([]);
  });

  it("tells both aborted (with the catalog reason) or inDoubt when the trade does not commit", async () => {
    const env = setup();
    const { s1, s2 } = env;
    env.setOutcome(async () => {
      throw new RiftError("TRADE_REJECTED", "item 10 is not owned by user 1");
    });
    s1.desk.handlers.trade!(s1.ctx, s1.ctx.session(1)!, { with: 2, give: offer([10]), get: offer([], 5) });
    await env.settle(1);
    s2.desk.handlers.trade!(s2.ctx, s2.ctx.session(2)!, { with: 1, give: offer([], 5), get: offer([10]) });
    await env.settle(2);
    for (const [ctx, u] of [[s1.ctx, 1], [s2.ctx, 2]] as const) {
      const last = env.status(ctx, u).at(-1)!;
      expect(last.state).toBe("aborted");
      expect(last.reason).toMatch(/^RIFT_TRADE_REJECTED: .*item 10 is not owned by user 1/);
    }
    expect(env.logged.map((l) => l.detail?.outcome)).toEqual(["aborted", "aborted"]);

    env.setOutcome(async () => {
      throw new RiftError("TRADE_IN_DOUBT", "decision not recorded");
    });
    s1.desk.handlers.trade!(s1.ctx, s1.ctx.session(1)!, { with: 2, give: offer([10]), get: offer([], 5) });
    await env.settle(3);
    s2.desk.handlers.trade!(s2.ctx, s2.ctx.session(2)!, { with: 1, give: offer([], 5), get: offer([10]) });
    await env.settle(4);
    expect(env.status(s1.ctx, 1).at(-1)!.state).toBe("inDoubt");
    expect(env.status(s2.ctx, 2).at(-1)!.reason).toMatch(/^RIFT_TRADE_IN_DOUBT/);
  });

  it("withdraws on tradeCancel (both hear cancelled); nothing open → error", async () => {
    const env = setup();
    const { s1, s2 } = env;
    s1.desk.handlers.tradeCancel!(s1.ctx, s1.ctx.session(1)!, { with: 2 });
    await env.settle(1);
    expect(s1.ctx.errorsOf(1).map((e) => e.code)).toEqual(["RIFT_TRADE_REJECTED"]);

    s1.desk.handlers.trade!(s1.ctx, s1.ctx.session(1)!, { with: 2, give: offer([10]), get: offer([], 50) });
    await env.settle(2);
    s1.desk.handlers.tradeCancel!(s1.ctx, s1.ctx.session(1)!, { with: 2 });
    await env.settle(3);
    expect(env.book.size).toBe(0);
    expect(env.status(s1.ctx, 1).at(-1)).toMatchObject({ with: 2, state: "cancelled", give: offer([10]), get: offer([], 50) });
    expect(env.status(s2.ctx, 2).at(-1)).toMatchObject({ with: 1, state: "cancelled", give: offer([], 50), get: offer([10]) });
    // accepting now only stores user 2's own proposal
    s2.desk.handlers.trade!(s2.ctx, s2.ctx.session(2)!, { with: 1, give: offer([], 50), get: offer([10]) });
    await env.settle(4);
    expect(env.specs).toEqual([]);
    expect(env.status(s2.ctx, 2).at(-1)!.state).toBe("waiting");
  });

  it("expires an unanswered proposal after its lifetime (both hear cancelled: expired); a late accept does not trade", async () => {
    const env = setup();
    const { s1, s2 } = env;
    await env.settle(1000);
    s1.desk.handlers.trade!(s1.ctx, s1.ctx.session(1)!, { with: 2, give: offer([10]), get: offer([], 50) });
    await env.settle(1000);
    expect(s1.desk.pending).toBe(1);
    await env.settle(1000 + LIFETIME - 1);
    expect(env.status(s1.ctx, 1).map((b) => b.state)).toEqual(["waiting"]);
    await env.settle(1000 + LIFETIME);
    expect(s1.desk.pending).toBe(0);
    expect(env.book.size).toBe(0);
    expect(env.status(s1.ctx, 1).at(-1)).toMatchObject({ state: "cancelled", reason: "expired" });
    expect(env.status(s2.ctx, 2).at(-1)).toMatchObject({ state: "cancelled", reason: "expired" });
    s2.desk.handlers.trade!(s2.ctx, s2.ctx.session(2)!, { with: 1, give: offer([], 50), get: offer([10]) });
    await env.settle(1000 + LIFETIME + 1);
    expect(env.specs).toEqual([]);
  });

  it("delivers notices only to users the server serves; a user who moved servers gets them at the new one", async () => {
    const env = setup();
    const { s1, s2 } = env;
    s1.desk.handlers.trade!(s1.ctx, s1.ctx.session(1)!, { with: 2, give: offer([10]), get: offer([], 50) });
    s2.ctx.detach(2);
    s1.ctx.attach(2, "z1"); // user 2 is on server 1 now
    await env.settle(1);
    expect(env.status(s1.ctx, 2)).toEqual([{ with: 1, state: "offered", give: offer([], 50), get: offer([10]) }]);
    expect(env.hub.sent).toEqual([]); // both local: direct replies, no notice
    expect(env.status(s2.ctx, 2)).toEqual([]);
  });
});

describe("trade terms", () => {
  it("mirror when give/get swap, item lists compared as sets", () => {
    expect(mirrors({ give: offer([2, 1]), get: offer([], 5) }, { give: offer([], 5), get: offer([1, 2]) })).toBe(true);
    expect(mirrors({ give: offer([2, 1]), get: offer([], 5) }, { give: offer([], 5), get: offer([1]) })).toBe(false);
    expect(mirrors({ give: offer([1]), get: offer([], 5) }, { give: offer([], 6), get: offer([1]) })).toBe(false);
    expect(mirrors({ give: offer([1]), get: offer([]) }, { give: offer([1]), get: offer([]) })).toBe(false);
  });
});

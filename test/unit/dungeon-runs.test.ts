import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ErrorCatalog, RiftError } from "../../src/core/errors.js";
import { hash32 } from "../../src/core/hash.js";
import { silentLogger } from "../../src/core/log.js";
import { Registry } from "../../src/core/metrics.js";
import type { InstanceRequest } from "../../src/core/cluster/instances.js";
import type { Session } from "../../src/core/scene/sessions.js";
import { DungeonRuns, type InstanceSource } from "../../src/dungeon-server/runs.js";
import { DEFAULT_COMBAT, DUNGEON_KINDS, dropIndex } from "../../src/game/dungeon.js";
import { FakeScene } from "../helpers/scene-context.js";

const KEY = "d0000000001@z1";
const CRYPT = DUNGEON_KINDS.crypt!;
const SPAWN = CRYPT.spawn;
const SAFE = { x: 500, y: 500 };
const ENTRY_TIMEOUT = 30_000;
const IDLE = 300_000;

function request(users: number[], kind = "crypt"): InstanceRequest {
  return { kind, home: "z1", party: users.map((user) => ({ user, x: 100 + user, y: 200 + user })), requestedBy: "field-1", requestedAt: 0 };
}

interface GrantCall {
  user: number;
  reward: { items: { kind: string; qty: number }[]; currency: number };
  epoch: number | undefined;
}

/** Resolves every pending microtask chain of the in-memory doubles (they never wait on timers). */
async function flush(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}

function setup(opts: { grantAttempts?: number } = {}) {
  const requests = new Map<string, InstanceRequest>();
  const reads: string[] = [];
  const removed: string[] = [];
  const instances: InstanceSource = {
    read: async (key) => {
      reads.push(key);
      return requests.get(key);
    },
    remove: async (key) => {
      removed.push(key);
      requests.delete(key);
    },
  };
  const grants: GrantCall[] = [];
  /** Per user: what the next grant attempts do ("fenced" / "fail"), consumed in order; then success. */
  const failures = new Map<number, ("fenced" | "fail")[]>();
  let nextItem = 1000;
  const items = {
    grantReward: async (user: number, reward: GrantCall["reward"], epoch?: number) => {
      grants.push({ user, reward, epoch });
      const f = failures.get(user)?.shift();
      if (f === "fenced") throw new RiftError("PERSIST_REJECTED", `user ${user}: stale epoch`);
      if (f === "fail") throw new Error("connection reset");
      return { itemIds: reward.items.map(() => nextItem++), balance: 40 + reward.currency };
    },
  };
  const registry = new Registry();
  const runs = new DungeonRuns({
    instances,
    items,
    safeSpot: () => SAFE,
    entryTimeoutMs: ENTRY_TIMEOUT,
    idleMs: IDLE,
    log: silentLogger(),
    registry,
    ...(opts.grantAttempts !== undefined ? { grantAttempts: opts.grantAttempts } : {}),
  });
  const ctx = new FakeScene({ nodeId: "dungeon-1", hooks: runs.hooks });
  const metric = async (name: string, labels: Record<string, string> = {}): Promise<number> => {
    const m = await registry.getSingleMetric(name)?.get();
    const v = m?.values.find((x) => Object.entries(labels).every(([k, val]) => x.labels[k] === val));
    return v?.value ?? 0;
  };
  return { requests, reads, removed, grants, failures, runs, ctx, metric };
}

type Env = ReturnType<typeof setup>;

/** Kill every crypt monster (9 hits of 10 hp), the attackers taking turns; ctx.now steps past the cooldown. */
function clearCrypt(env: Env, attackers: Session[]): void {
  let i = 0;
  for (const m of [1, 2, 3]) {
    for (let h = 0; h < 3; h++) {
      env.ctx.now += DEFAULT_COMBAT.attackCooldownMs;
      env.runs.handlers.attack!(env.ctx, attackers[i++ % attackers.length]!, { target: m });
    }
  }
  expect(env.ctx.errors).toEqual([]);
}

function expectedDrop(user: number) {
  return CRYPT.drops[dropIndex(hash32(KEY), user, CRYPT.drops.length)]!;
}

/** An instance with `users` as its party, loaded, and these members attached at the spawn. */
async function ready(env: Env, party: number[], present: number[] = party): Promise<Session[]> {
  env.requests.set(KEY, request(party));
  env.runs.placed([KEY]);
  await flush();
  return present.map((u) => env.ctx.attach(u, KEY, SPAWN));
}

describe("DungeonRuns (dungeon instances on the scene host)", () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ["performance", "setTimeout", "clearTimeout"] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("placed() loads instance keys only, and a member entering gets the dungeon state", async () => {
    const env = setup();
    env.requests.set(KEY, request([1, 2]));
    env.runs.placed([KEY, "z1", "z1#2"]);
    expect(env.runs.keys()).toEqual([KEY]);
    expect(env.runs.count).toBe(1);
    await flush();
    expect(env.reads).toEqual([KEY]);
    env.ctx.attach(1, KEY, SPAWN);
    const states = env.ctx.repliesOf(1, "dungeon");
    expect(states).toHaveLength(1);
    expect(states[0]!.body).toEqual({
      instance: KEY,
      kind: "crypt",
      monsters: CRYPT.monsters.map((m, i) => ({ id: i + 1, name: m.name, hp: m.hp, maxHp: m.hp, x: m.x, y: m.y })),
      party: [
        { id: 1, hp: 100 },
        { id: 2, hp: 0 }, // not in yet
      ],
      cleared: false,
    });
    expect(env.ctx.errors).toEqual([]);
    expect(env.ctx.travels).toEqual([]);
    expect(await env.metric("rift_dungeon_instances")).toBe(1);
    expect(await env.metric("rift_dungeon_instance_events_total", { event: "created" })).toBe(1);
  });

  it("the first member's arrival loads the request (placement not seen yet); members get the state once it is loaded", async () => {
    const env = setup();
    env.requests.set(KEY, request([1, 2]));
    env.ctx.attach(1, KEY, SPAWN);
    env.ctx.attach(2, KEY, SPAWN);
    expect(env.ctx.replies).toEqual([]); // still loading
    expect(env.reads).toEqual([KEY]); // one read for both arrivals
    await flush();
    expect(env.ctx.repliesOf(1, "dungeon")).toHaveLength(1);
    expect(env.ctx.repliesOf(2, "dungeon")).toHaveLength(1);
    expect(env.runs.count).toBe(1);
  });

  it("a user who is not in the party is refused and sent home (the home zone's safe spot)", async () => {
    const env = setup();
    await ready(env, [1, 2], [1]);
    env.ctx.attach(9, KEY, SPAWN);
    expect(env.ctx.errorsOf(9).map((e) => e.code)).toEqual([ErrorCatalog.DUNGEON_ACTION.code]);
    expect(env.ctx.travelsOf(9)).toEqual([{ user: 9, from: KEY, zone: "z1", pos: SAFE }]);
    expect(env.ctx.session(9)).toBeUndefined();
    expect(env.ctx.repliesOf(9, "dungeon")).toEqual([]);
    expect(env.ctx.session(1)?.zone).toBe(KEY); // the member stays
  });

  it("a request that is gone: the users in it are sent home and the instance is destroyed", async () => {
    const env = setup();
    env.ctx.attach(1, KEY, SPAWN); // no request for KEY
    await flush();
    expect(env.ctx.travelsOf(1)).toEqual([{ user: 1, from: KEY, zone: "z1", pos: SAFE }]);
    expect(env.ctx.repliesOf(1, "dungeon")).toEqual([]);
    expect(env.removed).toEqual([KEY]);
    expect(await env.metric("rift_dungeon_instance_events_total", { event: "not-found" })).toBe(1);
    env.ctx.tick();
    expect(env.ctx.droppedWorlds).toEqual([KEY]);
    expect(env.runs.count).toBe(0);
    expect(await env.metric("rift_dungeon_instances")).toBe(0);
  });

  it("an unknown dungeon kind in the request closes the instance like a missing one", async () => {
    const env = setup();
    env.requests.set(KEY, request([1], "nosuchkind"));
    env.ctx.attach(1, KEY, SPAWN);
    await flush();
    expect(env.ctx.travelsOf(1).map((t) => t.zone)).toEqual(["z1"]);
    expect(env.removed).toEqual([KEY]);
  });

  it("attack: a hit changes the monsters (state on the next tick); refusals answer RIFT_DUNGEON_ACTION", async () => {
    const env = setup();
    await ready(env, [1], []);
    const far = env.ctx.attach(1, KEY, { x: 150, y: 150 });

    env.runs.handlers.attack!(env.ctx, far, { target: 1 });
    env.runs.handlers.attack!(env.ctx, far, { target: 99 });
    expect(env.ctx.errorsOf(1)).toEqual([
      { user: 1, key: "DUNGEON_ACTION", code: ErrorCatalog.DUNGEON_ACTION.code, detail: "out-of-range" },
      { user: 1, key: "DUNGEON_ACTION", code: ErrorCatalog.DUNGEON_ACTION.code, detail: "unknown-target" },
    ]);

    env.ctx.detach(1);
    const near = env.ctx.attach(1, KEY, SPAWN);
    env.ctx.errors.length = 0;
    env.ctx.tick(0); // consumes the initial "changed" flag
    env.ctx.replies.length = 0;
    env.ctx.now = 1;
    env.runs.handlers.attack!(env.ctx, near, { target: 1 });
    env.runs.handlers.attack!(env.ctx, near, { target: 1 }); // within the cooldown
    expect(env.ctx.errorsOf(1).map((e) => [e.code, e.detail])).toEqual([[ErrorCatalog.DUNGEON_ACTION.code, "cooldown"]]);
    env.ctx.tick(2);
    const state = env.ctx.repliesOf(1, "dungeon").at(-1)?.body as { monsters: { id: number; hp: number }[] } | undefined;
    expect(state?.monsters.find((m) => m.id === 1)?.hp).toBe(CRYPT.monsters[0]!.hp - DEFAULT_COMBAT.attackDamage);
  });

  it("attack before the instance is loaded is refused", async () => {
    const env = setup();
    env.requests.set(KEY, request([1]));
    const s = env.ctx.attach(1, KEY, SPAWN); // load in flight
    env.runs.handlers.attack!(env.ctx, s, { target: 1 });
    expect(env.ctx.errorsOf(1).map((e) => e.code)).toEqual([ErrorCatalog.DUNGEON_ACTION.code]);
  });

  it("clearing grants each present member its reward exactly once, fenced by its owner epoch, then heals and answers reward", async () => {
    const env = setup();
    env.ctx.epochs.set(1, 7).set(2, 9);
    const [s1, s2] = await ready(env, [1, 2]);
    env.ctx.setHp(s1!, 50);
    env.ctx.setHp(s2!, 95);
    clearCrypt(env, [s1!, s2!]);
    await flush();

    expect(env.grants.map((g) => [g.user, g.epoch]).sort()).toEqual([
      [1, 7],
      [2, 9],
    ]);
    for (const g of env.grants) expect(g.reward).toEqual({ items: [{ ...expectedDrop(g.user) }], currency: CRYPT.currency });
    const r1 = env.ctx.repliesOf(1, "reward");
    const r2 = env.ctx.repliesOf(2, "reward");
    expect(r1).toHaveLength(1);
    expect(r2).toHaveLength(1);
    const body1 = r1[0]!.body as { items: { id: number; kind: string; qty: number }[]; currency: number; balance: number; hp: number };
    expect(body1.items).toHaveLength(1);
    expect(body1.items[0]!.kind).toBe(expectedDrop(1).kind);
    expect(body1.items[0]!.qty).toBe(expectedDrop(1).qty);
    const ids = [body1.items[0]!.id, (r2[0]!.body as { items: { id: number }[] }).items[0]!.id].sort();
    expect(ids).toEqual([1000, 1001]); // the ids the repository returned
    expect(body1).toMatchObject({ currency: CRYPT.currency, balance: 40 + CRYPT.currency, hp: 50 + CRYPT.heal });
    expect(r2[0]!.body).toMatchObject({ hp: DEFAULT_COMBAT.maxHp }); // heal capped
    expect(s1!.hp).toBe(50 + CRYPT.heal);
    expect(env.ctx.hpChanges).toContainEqual({ user: 1, hp: 60 });
    expect(await env.metric("rift_dungeon_rewards_total", { result: "granted" })).toBe(2);

    // never twice: attacking on, leaving and coming back
    env.ctx.now += 1000;
    env.runs.handlers.attack!(env.ctx, s1!, { target: 1 });
    expect(env.ctx.errorsOf(1).map((e) => e.detail)).toEqual(["cleared"]);
    env.ctx.detach(2);
    env.ctx.attach(2, KEY, SPAWN);
    await flush();
    expect(env.grants).toHaveLength(2);
    expect(env.ctx.repliesOf(2, "reward")).toHaveLength(1);
  });

  it("a member arriving after the clear gets its reward on entry", async () => {
    const env = setup();
    env.ctx.epochs.set(1, 3).set(2, 4);
    const [s1] = await ready(env, [1, 2], [1]);
    clearCrypt(env, [s1!]);
    await flush();
    expect(env.grants.map((g) => g.user)).toEqual([1]);

    env.ctx.attach(2, KEY, SPAWN);
    expect((env.ctx.repliesOf(2, "dungeon")[0]?.body as { cleared: boolean } | undefined)?.cleared).toBe(true);
    await flush();
    expect(env.grants.map((g) => [g.user, g.epoch])).toEqual([
      [1, 3],
      [2, 4],
    ]);
    expect(env.ctx.repliesOf(2, "reward")).toHaveLength(1);
  });

  it("a fenced grant (another server owns the user) gives no reward: RIFT_ITEMS_UNAVAILABLE, counted fenced, not retried", async () => {
    const env = setup();
    env.failures.set(1, ["fenced"]);
    const [s1, s2] = await ready(env, [1, 2]);
    clearCrypt(env, [s1!, s2!]);
    await flush();
    await vi.advanceTimersByTimeAsync(10_000); // no retry pending
    expect(env.grants.filter((g) => g.user === 1)).toHaveLength(1);
    expect(env.ctx.repliesOf(1, "reward")).toEqual([]);
    expect(env.ctx.errorsOf(1).map((e) => e.code)).toEqual([ErrorCatalog.ITEMS_UNAVAILABLE.code]);
    expect(env.ctx.repliesOf(2, "reward")).toHaveLength(1);
    expect(await env.metric("rift_dungeon_rewards_total", { result: "fenced" })).toBe(1);
    expect(await env.metric("rift_dungeon_rewards_total", { result: "granted" })).toBe(1);
  });

  it("a transient grant failure is retried (200 ms, then doubling) and then succeeds", async () => {
    const env = setup();
    env.failures.set(1, ["fail", "fail"]);
    const [s1] = await ready(env, [1]);
    clearCrypt(env, [s1!]);
    await flush();
    expect(env.grants).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(200);
    expect(env.grants).toHaveLength(2);
    expect(env.ctx.repliesOf(1, "reward")).toEqual([]);
    await vi.advanceTimersByTimeAsync(400);
    expect(env.grants).toHaveLength(3);
    await flush();
    expect(env.ctx.repliesOf(1, "reward")).toHaveLength(1);
    expect(env.ctx.errorsOf(1)).toEqual([]);
    expect(await env.metric("rift_dungeon_rewards_total", { result: "granted" })).toBe(1);
  });

  it("a grant failing on every attempt is reported (RIFT_ITEMS_UNAVAILABLE, counted failed) after grantAttempts tries", async () => {
    const env = setup({ grantAttempts: 2 });
    env.failures.set(1, ["fail", "fail", "fail"]);
    const [s1] = await ready(env, [1]);
    clearCrypt(env, [s1!]);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(env.grants).toHaveLength(2);
    expect(env.ctx.repliesOf(1, "reward")).toEqual([]);
    expect(env.ctx.errorsOf(1).map((e) => e.code)).toEqual([ErrorCatalog.ITEMS_UNAVAILABLE.code]);
    expect(await env.metric("rift_dungeon_rewards_total", { result: "failed" })).toBe(1);
  });

  it("leaveDungeon sends the member home to the spot it entered from", async () => {
    const env = setup();
    const [s1, s2] = await ready(env, [1, 2]);
    env.runs.handlers.leaveDungeon!(env.ctx, s2!, {});
    env.runs.handlers.leaveDungeon!(env.ctx, s1!, {});
    expect(env.ctx.travels).toEqual([
      { user: 2, from: KEY, zone: "z1", pos: { x: 102, y: 202 } },
      { user: 1, from: KEY, zone: "z1", pos: { x: 101, y: 201 } },
    ]);
  });

  it("monsters strike on the tick (hp through setHp, state to the party); a member at 0 is sent home with full hp", async () => {
    const env = setup();
    const [s1] = await ready(env, [1]);
    env.ctx.tick(0); // starts the monsters' cooldowns
    env.ctx.replies.length = 0;
    env.ctx.tick(DEFAULT_COMBAT.monsterCooldownMs);
    const damage = CRYPT.monsters.reduce((a, m) => a + m.damage, 0); // every monster is in range of the spawn
    expect(s1!.hp).toBe(100 - damage);
    expect(env.ctx.hpChanges.map((h) => h.hp)).toEqual([98, 96, 94]);
    const state = env.ctx.repliesOf(1, "dungeon").at(-1)?.body as { party: { id: number; hp: number }[] } | undefined;
    expect(state?.party).toEqual([{ id: 1, hp: 100 - damage }]);
    expect(env.ctx.travels).toEqual([]);

    env.ctx.setHp(s1!, 3);
    env.ctx.hpChanges.length = 0;
    env.ctx.tick(2 * DEFAULT_COMBAT.monsterCooldownMs);
    expect(env.ctx.hpChanges).toEqual([
      { user: 1, hp: 1 },
      { user: 1, hp: 0 },
      { user: 1, hp: DEFAULT_COMBAT.maxHp },
    ]);
    expect(env.ctx.travels).toEqual([{ user: 1, from: KEY, zone: "z1", pos: { x: 101, y: 201 } }]);
    expect(s1!.hp).toBe(DEFAULT_COMBAT.maxHp);
    expect(await env.metric("rift_dungeon_instance_events_total", { event: "defeated" })).toBe(1);
  });

  it("is destroyed once every member has been in and left: request removed, world dropped", async () => {
    const env = setup();
    const [s1, s2] = await ready(env, [1, 2]);
    env.runs.handlers.leaveDungeon!(env.ctx, s1!, {});
    env.ctx.tick();
    env.ctx.tick();
    expect(env.removed).toEqual([]); // member 2 is still in
    expect(env.runs.count).toBe(1);

    env.runs.handlers.leaveDungeon!(env.ctx, s2!, {});
    env.ctx.tick();
    await flush();
    expect(env.removed).toEqual([KEY]);
    env.ctx.tick();
    expect(env.ctx.droppedWorlds).toEqual([KEY]);
    expect(env.runs.count).toBe(0);
    expect(await env.metric("rift_dungeon_instances")).toBe(0);
    expect(await env.metric("rift_dungeon_instance_events_total", { event: "destroyed" })).toBe(1);
  });

  it("a member who left early does not end the instance while the others may still come", async () => {
    const env = setup();
    const [s1] = await ready(env, [1, 2], [1]);
    env.runs.handlers.leaveDungeon!(env.ctx, s1!, {});
    env.ctx.tick();
    env.ctx.tick();
    await flush();
    expect(env.removed).toEqual([]); // member 2 is on its way
    env.ctx.attach(2, KEY, SPAWN);
    await flush();
    expect(env.ctx.repliesOf(2, "dungeon").length).toBe(1);
    expect(env.ctx.travelsOf(2)).toEqual([]);
  });

  it("walking counts as activity for the idle timeout", async () => {
    const env = setup();
    const [s1] = await ready(env, [1]);
    vi.advanceTimersByTime(IDLE - 10);
    env.runs.handlers.move!(env.ctx, s1!, { seq: 1, x: SPAWN.x + 1, y: SPAWN.y });
    vi.advanceTimersByTime(20);
    env.ctx.tick();
    expect(env.ctx.travels).toEqual([]);
    vi.advanceTimersByTime(IDLE);
    env.ctx.tick();
    expect(env.ctx.travelsOf(1).map((t) => t.zone)).toEqual(["z1"]);
  });

  it("a member arriving at a destroyed instance is sent home", async () => {
    const env = setup();
    const [s1] = await ready(env, [1, 2], [1]);
    env.runs.handlers.leaveDungeon!(env.ctx, s1!, {});
    vi.advanceTimersByTime(ENTRY_TIMEOUT + 1);
    env.ctx.tick(); // destroyed (nobody in, entry window over)
    await flush();
    expect(env.removed).toEqual([KEY]);
    env.ctx.attach(2, KEY, SPAWN);
    await flush();
    expect(env.ctx.travelsOf(2).map((t) => t.zone)).toEqual(["z1"]);
    expect(env.ctx.repliesOf(2, "dungeon")).toEqual([]);
  });

  it("is destroyed when nobody entered within entryTimeoutMs", async () => {
    const env = setup();
    env.requests.set(KEY, request([1, 2]));
    env.runs.placed([KEY]);
    await flush();
    vi.advanceTimersByTime(ENTRY_TIMEOUT - 1);
    env.ctx.tick();
    await flush();
    expect(env.removed).toEqual([]);
    expect(env.runs.count).toBe(1);
    vi.advanceTimersByTime(2);
    env.ctx.tick();
    await flush();
    expect(env.removed).toEqual([KEY]);
    env.ctx.tick();
    expect(env.runs.count).toBe(0);
  });

  it("an idle instance (no input for idleMs) sends the party home and is destroyed", async () => {
    const env = setup();
    const [s1] = await ready(env, [1, 2]);
    vi.advanceTimersByTime(IDLE / 2);
    env.runs.handlers.attack!(env.ctx, s1!, { target: 1 }); // input: the idle clock restarts
    vi.advanceTimersByTime(IDLE / 2 + 1);
    env.ctx.tick();
    expect(env.ctx.travels).toEqual([]);
    vi.advanceTimersByTime(IDLE / 2);
    env.ctx.tick();
    expect(env.ctx.travels.map((t) => [t.user, t.zone, t.pos])).toEqual([
      [1, "z1", { x: 101, y: 201 }],
      [2, "z1", { x: 102, y: 202 }],
    ]);
    await flush();
    expect(env.removed).toEqual([KEY]);
    expect(await env.metric("rift_dungeon_instance_events_total", { event: "idle" })).toBe(1);
  });

  it("homeOf: the home zone at the member's entry spot, the safe spot for others, nothing outside instances", async () => {
    const env = setup();
    const [s1] = await ready(env, [1]);
    expect(env.runs.homeOf(s1!)).toEqual({ zone: "z1", x: 101, y: 201 });
    const stranger = { ...s1!, user: 9 };
    expect(env.runs.homeOf(stranger)).toEqual({ zone: "z1", ...SAFE });
    expect(env.runs.homeOf({ ...s1!, zone: "d0000000002@z3" })).toEqual({ zone: "z3", ...SAFE }); // instance not known here
    expect(env.runs.homeOf({ ...s1!, zone: "z1" })).toBeUndefined();
  });
});

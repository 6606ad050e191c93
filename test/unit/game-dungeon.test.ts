import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  applyDamage,
  applyHeal,
  DEFAULT_COMBAT,
  dropIndex,
  DUNGEON_KINDS,
  DungeonRun,
  dungeonKind,
  dungeonKindProblem,
  mulberry32,
  type CombatRules,
  type DungeonKind,
} from "../../src/game/dungeon.js";

const crypt = (): DungeonKind => {
  const k = dungeonKind("crypt");
  if (!k) throw new Error("no crypt");
  return k;
};
const AT_SPAWN = { x: 20, y: 20 };

/** A small custom kind: two monsters on a line, easy to reason about distances. */
const lineKind = (over: Partial<DungeonKind> = {}): DungeonKind => ({
  kind: "line",
  worldSize: 100,
  spawn: { x: 0, y: 0 },
  monsters: [
    { name: "a", hp: 15, damage: 3, x: 10, y: 0 },
    { name: "b", hp: 25, damage: 5, x: 50, y: 0 },
  ],
  drops: [{ kind: "potion", qty: 1 }],
  currency: 7,
  heal: 30,
  ...over,
});

/** Kill every monster of a run with user `u` standing on each monster, spacing hits past the cooldown. */
function clearRun(run: DungeonRun, u: number, start = 0): number {
  let t = start;
  for (const m of run.monsters()) {
    for (;;) {
      const r = run.attack(u, m.id, { x: m.x, y: m.y }, t);
      t += run.rules.attackCooldownMs;
      if (r.kind === "hit" && r.killed) break;
      if (r.kind !== "hit") throw new Error(`unexpected ${r.kind}`);
    }
  }
  return t;
}

describe("dungeon kinds", () => {
  it("crypt: 200 world, spawn (20,20), three 30-hp monsters within 8 units of the spawn", () => {
    const k = crypt();
    expect(k.worldSize).toBe(200);
    expect(k.spawn).toEqual({ x: 20, y: 20 });
    expect(k.monsters).toHaveLength(3);
    for (const m of k.monsters) {
      expect(m.hp).toBe(30);
      expect(m.damage).toBe(2);
      expect(Math.hypot(m.x - 20, m.y - 20)).toBeLessThanOrEqual(8);
    }
    expect(k.currency).toBe(10);
    expect(k.heal).toBe(10);
    expect(k.drops.length).toBeGreaterThan(1);
    expect(dungeonKindProblem(k)).toBeUndefined();
  });
  it("depths: monsters out of reach from the spawn; every built-in kind is valid and frozen", () => {
    const d = dungeonKind("depths")!;
    for (const m of d.monsters) expect(Math.hypot(m.x - d.spawn.x, m.y - d.spawn.y)).toBeGreaterThan(DEFAULT_COMBAT.attackRange);
    for (const k of Object.values(DUNGEON_KINDS)) {
      expect(dungeonKindProblem(k)).toBeUndefined();
      expect(Object.isFrozen(k) && Object.isFrozen(k.monsters) && Object.isFrozen(k.monsters[0])).toBe(true);
    }
  });
  it("dungeonKind: unknown names and inherited properties are undefined", () => {
    expect(dungeonKind("nope")).toBeUndefined();
    expect(dungeonKind("toString")).toBeUndefined();
    expect(dungeonKind("__proto__")).toBeUndefined();
  });
  it("DEFAULT_COMBAT has the agreed values", () => {
    expect(DEFAULT_COMBAT).toEqual({ attackRange: 12, attackDamage: 10, attackCooldownMs: 200, monsterRange: 12, monsterCooldownMs: 1000, maxHp: 100 });
  });
  it("rejects nonsensical kinds, rules and parties", () => {
    expect(dungeonKindProblem(lineKind({ monsters: [] }))).toMatch(/without monsters/);
    expect(dungeonKindProblem(lineKind({ monsters: [{ name: "x", hp: 0, damage: 1, x: 1, y: 1 }] }))).toMatch(/hp/);
    expect(dungeonKindProblem(lineKind({ monsters: [{ name: "x", hp: 5, damage: 1, x: 101, y: 1 }] }))).toMatch(/outside/);
    expect(dungeonKindProblem(lineKind({ spawn: { x: -1, y: 0 } }))).toMatch(/spawn/);
    expect(dungeonKindProblem(lineKind({ drops: [{ kind: "x", qty: 0 }] }))).toMatch(/drop/);
    expect(() => new DungeonRun(lineKind({ monsters: [] }), [1], 1)).toThrow(/monsters/);
    expect(() => new DungeonRun(crypt(), [], 1)).toThrow(/party/);
    expect(() => new DungeonRun(crypt(), [1, 1], 1)).toThrow(/duplicate/);
    expect(() => new DungeonRun(crypt(), [0], 1)).toThrow(/user id/);
    expect(() => new DungeonRun(crypt(), [1], 1, { ...DEFAULT_COMBAT, attackDamage: 0 })).toThrow(/damage/);
  });
});

describe("DungeonRun.attack", () => {
  it("a member at the crypt spawn hits every monster; ids are 1..n in spec order", () => {
    const run = new DungeonRun(crypt(), [1, 2], 42);
    expect(run.monsters().map((m) => m.id)).toEqual([1, 2, 3]);
    expect(run.monsters().map((m) => m.name)).toEqual(crypt().monsters.map((m) => m.name));
    for (const id of [1, 2, 3]) {
      const r = run.attack(1, id, AT_SPAWN, id * 1000);
      expect(r).toEqual({ kind: "hit", monster: id, damage: 10, hpLeft: 20, killed: false, cleared: false });
    }
    expect(run.monsters().map((m) => m.hp)).toEqual([20, 20, 20]);
  });
  it("not-in-party, unknown-target, dead-target, out-of-range", () => {
    const run = new DungeonRun(lineKind(), [1], 1);
    expect(run.attack(9, 1, { x: 10, y: 0 }, 0)).toEqual({ kind: "not-in-party" });
    for (const bad of [0, 3, -1, 1.5, NaN]) expect(run.attack(1, bad, { x: 10, y: 0 }, 0)).toEqual({ kind: "unknown-target" });
    expect(run.attack(1, 2, { x: 10, y: 0 }, 0)).toEqual({ kind: "out-of-range" }); // 40 away
    expect(run.attack(1, 1, { x: NaN, y: 0 }, 0)).toEqual({ kind: "out-of-range" });
    // boundary: exactly attackRange (12) away is in range, a hair more is not
    expect(run.attack(1, 2, { x: 50 + 12.0001, y: 0 }, 0)).toEqual({ kind: "out-of-range" });
    expect(run.attack(1, 2, { x: 50, y: 12 }, 0)).toMatchObject({ kind: "hit", monster: 2 });
    // monster 1 has 15 hp: 10 then 5 (damage capped at hp left)
    expect(run.attack(1, 1, { x: 10, y: 0 }, 1000)).toMatchObject({ kind: "hit", damage: 10, hpLeft: 5, killed: false });
    expect(run.attack(1, 1, { x: 10, y: 0 }, 2000)).toEqual({ kind: "hit", monster: 1, damage: 5, hpLeft: 0, killed: true, cleared: false });
    expect(run.attack(1, 1, { x: 10, y: 0 }, 3000)).toEqual({ kind: "dead-target" });
  });
  it("cooldown is per member, the first attack is never on cooldown, refusals do not start it", () => {
    const run = new DungeonRun(crypt(), [1, 2], 1);
    expect(run.attack(1, 1, { x: 500, y: 500 }, 1000)).toEqual({ kind: "out-of-range" });
    expect(run.attack(1, 1, AT_SPAWN, 1000)).toMatchObject({ kind: "hit" }); // the refusal above started nothing
    expect(run.attack(1, 2, AT_SPAWN, 1100)).toEqual({ kind: "cooldown" });
    expect(run.attack(1, 2, AT_SPAWN, 1199)).toEqual({ kind: "cooldown" });
    expect(run.attack(2, 2, AT_SPAWN, 1100)).toMatchObject({ kind: "hit" }); // another member: own cooldown
    expect(run.attack(1, 2, AT_SPAWN, 1200)).toMatchObject({ kind: "hit" }); // exactly cooldownMs later
    expect(run.attack(1, 2, AT_SPAWN, 900)).toEqual({ kind: "cooldown" }); // clock going back: no free hit
  });
  it("clearing: the last kill reports cleared, then every attack says cleared (members) / not-in-party", () => {
    const run = new DungeonRun(lineKind(), [1], 1);
    expect(run.cleared).toBe(false);
    const rules = run.rules;
    let t = 0;
    let last;
    for (const [id, x] of [[1, 10], [1, 10], [2, 50], [2, 50], [2, 50]] as const) {
      last = run.attack(1, id, { x, y: 0 }, t);
      t += rules.attackCooldownMs;
    }
    expect(last).toEqual({ kind: "hit", monster: 2, damage: 5, hpLeft: 0, killed: true, cleared: true });
    expect(run.cleared).toBe(true);
    expect(run.attack(1, 1, { x: 10, y: 0 }, t)).toEqual({ kind: "cleared" });
    expect(run.attack(1, 99, { x: 10, y: 0 }, t)).toEqual({ kind: "cleared" });
    expect(run.attack(5, 1, { x: 10, y: 0 }, t)).toEqual({ kind: "not-in-party" });
  });
  it("takeChanged: true initially and after each hit, reset by the call, untouched by refusals and ticks", () => {
    const run = new DungeonRun(crypt(), [1], 1);
    expect(run.takeChanged()).toBe(true);
    expect(run.takeChanged()).toBe(false);
    run.attack(1, 1, { x: 999, y: 999 }, 0);
    run.attack(7, 1, AT_SPAWN, 0);
    run.tick(0, () => ({ ...AT_SPAWN, hp: 100 }));
    run.tick(5000, () => ({ ...AT_SPAWN, hp: 100 }));
    expect(run.takeChanged()).toBe(false);
    run.attack(1, 1, AT_SPAWN, 0);
    expect(run.takeChanged()).toBe(true);
    expect(run.takeChanged()).toBe(false);
  });
  it("monsters() returns fresh views (mutating them does not change the run)", () => {
    const run = new DungeonRun(crypt(), [1], 1);
    const v = run.monsters();
    v[0]!.hp = 0;
    expect(run.monsters()[0]).toMatchObject({ id: 1, hp: 30, maxHp: 30 });
  });
});

describe("DungeonRun.tick", () => {
  type Pos = { x: number; y: number; hp: number };
  const at = (m: Record<number, Pos>) => (u: number) => m[u];

  it("does not strike on the first tick, then each monster strikes once per cooldown", () => {
    const run = new DungeonRun(lineKind(), [1], 1);
    const members = at({ 1: { x: 10, y: 0, hp: 100 } });
    expect(run.tick(5000, members)).toEqual([]);
    expect(run.tick(5999, members)).toEqual([]);
    expect(run.tick(6000, members)).toEqual([{ user: 1, monster: 1, damage: 3 }]);
    expect(run.tick(6500, members)).toEqual([]);
    expect(run.tick(7000, members)).toEqual([{ user: 1, monster: 1, damage: 3 }]);
  });
  it("targets the nearest living member in range; ties go to the lowest user id", () => {
    const run = new DungeonRun(lineKind(), [5, 3, 4], 1);
    run.tick(0, () => undefined);
    // monster 1 at (10,0): user 4 is 2 away, 3 and 5 are 5 away; monster 2 at (50,0): nobody near
    expect(run.tick(1000, at({ 5: { x: 15, y: 0, hp: 1 }, 3: { x: 5, y: 0, hp: 1 }, 4: { x: 12, y: 0, hp: 1 } }))).toEqual([{ user: 4, monster: 1, damage: 3 }]);
    // tie at distance 5 between users 5 and 3 → 3
    expect(run.tick(2000, at({ 5: { x: 15, y: 0, hp: 1 }, 3: { x: 5, y: 0, hp: 1 } }))).toEqual([{ user: 3, monster: 1, damage: 3 }]);
  });
  it("never strikes absent, dead (hp 0) or out-of-range members; a waiting monster strikes as soon as one comes in range", () => {
    const run = new DungeonRun(lineKind(), [1, 2], 1);
    run.tick(0, () => undefined);
    expect(run.tick(1000, at({ 1: { x: 10, y: 0, hp: 0 } }))).toEqual([]); // dead, 2 absent
    expect(run.tick(1100, at({ 1: { x: 10, y: 13, hp: 50 }, 2: { x: 10, y: -12.5, hp: 50 } }))).toEqual([]); // both > 12 away
    expect(run.tick(1200, at({ 1: { x: 10, y: 0, hp: -3 }, 2: { x: 10, y: 12, hp: 50 } }))).toEqual([{ user: 2, monster: 1, damage: 3 }]);
  });
  it("several monsters may hit in one tick (in monster id order); dead monsters and cleared runs strike nobody", () => {
    const run = new DungeonRun(crypt(), [1, 2], 1);
    const both = at({ 1: { ...AT_SPAWN, hp: 100 }, 2: { x: 26, y: 20, hp: 100 } });
    run.tick(0, both);
    // monster 1 (26,20): user 2 on it; monster 2 (20,26): user 1 at 6, user 2 at 8.49 → 1; monster 3 (25,25): user 2 at 5.1, user 1 at 7.07 → 2
    expect(run.tick(1000, both)).toEqual([
      { user: 2, monster: 1, damage: 2 },
      { user: 1, monster: 2, damage: 2 },
      { user: 2, monster: 3, damage: 2 },
    ]);
    clearRun(run, 1, 10_000); // kill them all... starting with monster 1
    expect(run.tick(20_000, both)).toEqual([]);
  });
  it("a killed monster stops striking while the others go on", () => {
    const run = new DungeonRun(crypt(), [1], 1);
    const one = at({ 1: { ...AT_SPAWN, hp: 100 } });
    run.tick(0, one);
    for (let t = 0; t < 3 * 200; t += 200) run.attack(1, 1, AT_SPAWN, t);
    expect(run.monsters()[0]!.hp).toBe(0);
    expect(run.tick(1000, one).map((h) => h.monster)).toEqual([2, 3]);
  });
});

describe("rewards", () => {
  it("only after clear, once per member, never for non-members", () => {
    const run = new DungeonRun(crypt(), [1, 2], 7);
    expect(run.claimReward(1)).toBeUndefined(); // not cleared yet
    clearRun(run, 1);
    expect(run.claimReward(3)).toBeUndefined();
    const r1 = run.claimReward(1);
    expect(r1).toBeDefined();
    expect(r1!.currency).toBe(10);
    expect(r1!.heal).toBe(10);
    expect(r1!.items).toHaveLength(1);
    expect(crypt().drops).toContainEqual(r1!.items[0]);
    expect(run.hasClaimed(1)).toBe(true);
    expect(run.claimReward(1)).toBeUndefined();
    expect(run.claimReward(2)).toBeDefined(); // a member who did not attack still gets one
    expect(run.claimReward(2)).toBeUndefined();
  });
  it("the drop is f(seed, user): independent of party order and of who cleared", () => {
    const a = new DungeonRun(crypt(), [1, 2, 3], 1234);
    const b = new DungeonRun(crypt(), [3, 2, 1], 1234);
    clearRun(a, 1);
    clearRun(b, 3, 50_000);
    for (const u of [1, 2, 3]) expect(a.claimReward(u)).toEqual(b.claimReward(u));
  });
  it("reward items are copies: mutating them does not change the kind", () => {
    const run = new DungeonRun(lineKind(), [1], 1);
    clearRun(run, 1);
    const r = run.claimReward(1)!;
    r.items[0]!.qty = 99;
    expect(lineKind().drops[0]!.qty).toBe(1);
    expect(r.items[0]!.kind).toBe("potion");
  });
  it("no drops → no items (currency and heal still granted)", () => {
    const run = new DungeonRun(lineKind({ drops: [] }), [1], 1);
    clearRun(run, 1);
    expect(run.claimReward(1)).toEqual({ items: [], currency: 7, heal: 30 });
  });
  it("drops vary across seeds and users, and every drop kind appears over many seeds", () => {
    const n = crypt().drops.length;
    const seen = new Set<number>();
    for (let seed = 0; seed < 300; seed++) seen.add(dropIndex(seed, 1, n));
    expect(seen.size).toBe(n);
    const users = new Set<number>();
    for (let u = 1; u <= 300; u++) users.add(dropIndex(99, u, n));
    expect(users.size).toBe(n);
    // large ids (above 2^32) use their high bits too
    const hi = new Set<number>();
    for (let k = 1; k <= 50; k++) hi.add(dropIndex(5, k * 2 ** 32 + 1, n));
    expect(hi.size).toBeGreaterThan(1);
  });
  it("property: the same seed and party always give the same drops; the index is in range", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.uniqueArray(fc.integer({ min: 1, max: 2 ** 40 }), { minLength: 1, maxLength: 5 }), (seed, party) => {
        const claims = () => {
          const run = new DungeonRun(crypt(), party, seed);
          clearRun(run, party[0]!);
          return party.map((u) => run.claimReward(u));
        };
        const a = claims();
        expect(claims()).toEqual(a);
        for (const u of party) {
          const i = dropIndex(seed, u, 3);
          expect(Number.isInteger(i) && i >= 0 && i < 3).toBe(true);
        }
      }),
      { numRuns: 100 },
    );
  });
});

describe("mulberry32", () => {
  it("is deterministic, in [0,1), and differs across seeds", () => {
    const a = mulberry32(1);
    const b = mulberry32(1);
    const xs = Array.from({ length: 100 }, () => a());
    expect(Array.from({ length: 100 }, () => b())).toEqual(xs);
    for (const x of xs) expect(x >= 0 && x < 1).toBe(true);
    expect(mulberry32(2)()).not.toBe(mulberry32(1)());
    expect(mulberry32(NaN)()).toBe(mulberry32(0)());
    // reference value of mulberry32(0)'s first output (the published algorithm)
    expect(Math.round(mulberry32(0)() * 4294967296)).toBe(1144304738);
  });
});

describe("applyDamage / applyHeal", () => {
  it("damage floors at 0 and reports defeat", () => {
    expect(applyDamage(10, 3)).toEqual({ hp: 7, defeated: false });
    expect(applyDamage(3, 3)).toEqual({ hp: 0, defeated: true });
    expect(applyDamage(2, 5)).toEqual({ hp: 0, defeated: true });
    expect(applyDamage(0, 0)).toEqual({ hp: 0, defeated: true });
    expect(applyDamage(10, -5)).toEqual({ hp: 10, defeated: false }); // negative damage never heals
  });
  it("heal caps at maxHp", () => {
    expect(applyHeal(50, 10, 100)).toBe(60);
    expect(applyHeal(95, 10, 100)).toBe(100);
    expect(applyHeal(0, 10, 100)).toBe(10);
    expect(applyHeal(50, -10, 100)).toBe(50);
  });
});

describe("property: any sequence of attacks", () => {
  const rulesArb: fc.Arbitrary<CombatRules> = fc.record({
    attackRange: fc.integer({ min: 1, max: 30 }),
    attackDamage: fc.integer({ min: 1, max: 40 }),
    attackCooldownMs: fc.integer({ min: 0, max: 500 }),
    monsterRange: fc.constant(12),
    monsterCooldownMs: fc.constant(1000),
    maxHp: fc.constant(100),
  });
  const stepArb = fc.record({
    user: fc.integer({ min: 1, max: 4 }), // 4 is not in the party
    monster: fc.integer({ min: 0, max: 4 }),
    x: fc.integer({ min: 0, max: 60 }),
    y: fc.integer({ min: 0, max: 60 }),
    dt: fc.integer({ min: 0, max: 400 }),
  });
  it("hp never below 0, damage dealt = hp lost, cleared iff all at 0, refusals change nothing", () => {
    fc.assert(
      fc.property(rulesArb, fc.array(stepArb, { maxLength: 200 }), (rules, steps) => {
        const run = new DungeonRun(crypt(), [1, 2, 3], 1, rules);
        const maxTotal = run.monsters().reduce((s, m) => s + m.maxHp, 0);
        let dealt = 0;
        let t = 0;
        let sawCleared = false;
        for (const s of steps) {
          t += s.dt;
          const before = run.monsters();
          const r = run.attack(s.user, s.monster, { x: s.x, y: s.y }, t);
          const after = run.monsters();
          if (r.kind === "hit") {
            dealt += r.damage;
            expect(r.damage).toBeGreaterThan(0);
            expect(r.hpLeft).toBe(after[r.monster - 1]!.hp);
            expect(r.killed).toBe(r.hpLeft === 0);
            expect(r.cleared).toBe(run.cleared);
            expect(sawCleared).toBe(false);
          } else {
            expect(after).toEqual(before);
          }
          if (r.kind === "cleared") expect(sawCleared).toBe(true);
          for (const m of after) expect(m.hp).toBeGreaterThanOrEqual(0);
          const lost = maxTotal - after.reduce((sum, m) => sum + m.hp, 0);
          expect(dealt).toBe(lost);
          expect(run.cleared).toBe(after.every((m) => m.hp === 0));
          sawCleared = run.cleared;
        }
      }),
      { numRuns: 200 },
    );
  });
});

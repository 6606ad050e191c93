/**
 * Rules of one dungeon run (pure, single-threaded, no IO, no timers): a party against a fixed
 * set of monsters, player attacks with a per-user cooldown, monsters striking back on the
 * host's tick, and a once-only reward per member when every monster is down.
 *
 * Contract:
 * - Time is the caller's clock (`now`, ms), passed into every call; nothing reads a clock.
 * - Randomness: only the seeded PRNG below (mulberry32). The same kind, party and seed give
 *   the same run: same drops, same outcome for the same sequence of calls.
 * - Monsters never move; their ids are 1..n in the order of `DungeonKind.monsters`.
 * - Range checks are Euclidean: a target is in range when distance <= range. A position that
 *   is not finite is never in range.
 * - Player hp is NOT held here (the host owns it, persisted with the character): `tick`
 *   reports monster hits, the host applies them with `applyDamage`; `attack` does not know
 *   the attacker's hp, so the host refuses attacks from defeated members before calling it.
 * - Monster hp IS held here; `takeChanged()` tells the host when to send a state update.
 */

import { mulberry32 } from "./prng.js";

/** One monster of a dungeon kind (position in world units, static). */
export interface MonsterSpec {
  name: string;
  hp: number;
  damage: number;
  x: number;
  y: number;
}

export interface DungeonKind {
  kind: string; // "crypt"
  /** Side of the square map (world units). */
  worldSize: number;
  /** Where the party appears. */
  spawn: { x: number; y: number };
  monsters: MonsterSpec[];
  /** Reward drop: each member gets ONE entry picked deterministically from this list (seed + user). */
  drops: { kind: string; qty: number }[];
  /** Currency granted to each member on clear. */
  currency: number;
  /** Hp restored to each member on clear (capped at maxHp). */
  heal: number;
}

export interface CombatRules {
  /** Distance (<=) within which a member hits a monster. */
  attackRange: number;
  /** Damage of one member hit (a hit never takes more than the monster's remaining hp). */
  attackDamage: number;
  /** Minimum time between two hits of the same member. */
  attackCooldownMs: number;
  /** Distance (<=) within which a monster hits a member. */
  monsterRange: number;
  /** Minimum time between two hits of the same monster. */
  monsterCooldownMs: number;
  /** Hp cap of a member (heal on clear never exceeds it). */
  maxHp: number;
}

export const DEFAULT_COMBAT: CombatRules = Object.freeze({
  attackRange: 12,
  attackDamage: 10,
  attackCooldownMs: 200,
  monsterRange: 12,
  monsterCooldownMs: 1000,
  maxHp: 100,
});

function freezeKind(k: DungeonKind): DungeonKind {
  Object.freeze(k.spawn);
  for (const m of k.monsters) Object.freeze(m);
  Object.freeze(k.monsters);
  for (const d of k.drops) Object.freeze(d);
  Object.freeze(k.drops);
  return Object.freeze(k);
}

/**
 * The built-in dungeon kinds.
 * - crypt: three monsters within 8 units of the spawn, so a party standing at the spawn can
 *   hit all of them without walking (used by smoke and e2e tests).
 * - depths: tougher monsters far from the spawn (the party has to walk there).
 */
export const DUNGEON_KINDS: Readonly<Record<string, DungeonKind>> = Object.freeze({
  crypt: freezeKind({
    kind: "crypt",
    worldSize: 200,
    spawn: { x: 20, y: 20 },
    monsters: [
      { name: "skeleton", hp: 30, damage: 2, x: 26, y: 20 },
      { name: "ghoul", hp: 30, damage: 2, x: 20, y: 26 },
      { name: "wraith", hp: 30, damage: 2, x: 25, y: 25 },
    ],
    drops: [
      { kind: "potion", qty: 1 },
      { kind: "bone", qty: 2 },
      { kind: "gem", qty: 1 },
    ],
    currency: 10,
    heal: 10,
  }),
  depths: freezeKind({
    kind: "depths",
    worldSize: 200,
    spawn: { x: 20, y: 20 },
    monsters: [
      { name: "troll", hp: 60, damage: 4, x: 100, y: 100 },
      { name: "troll", hp: 60, damage: 4, x: 110, y: 100 },
      { name: "warden", hp: 120, damage: 6, x: 160, y: 160 },
    ],
    drops: [
      { kind: "sword", qty: 1 },
      { kind: "gem", qty: 2 },
      { kind: "potion", qty: 3 },
    ],
    currency: 25,
    heal: 20,
  }),
});

/** A built-in dungeon kind by name, or undefined (never an inherited property). */
export function dungeonKind(kind: string): DungeonKind | undefined {
  return Object.prototype.hasOwnProperty.call(DUNGEON_KINDS, kind) ? DUNGEON_KINDS[kind] : undefined;
}

/** Why a dungeon kind is nonsensical, or undefined when it is usable. Pure. */
export function dungeonKindProblem(k: DungeonKind): string | undefined {
  const finite = (v: number): boolean => typeof v === "number" && Number.isFinite(v);
  const inWorld = (p: { x: number; y: number }): boolean => finite(p.x) && finite(p.y) && p.x >= 0 && p.y >= 0 && p.x <= k.worldSize && p.y <= k.worldSize;
  if (typeof k.kind !== "string" || k.kind.length === 0) return "dungeon kind without a name";
  if (!finite(k.worldSize) || k.worldSize <= 0) return `bad world size ${k.worldSize}`;
  if (!inWorld(k.spawn)) return "spawn outside the world";
  if (k.monsters.length === 0) return "dungeon without monsters";
  for (const m of k.monsters) {
    if (!Number.isSafeInteger(m.hp) || m.hp <= 0) return `monster ${m.name}: bad hp ${m.hp}`;
    if (!Number.isSafeInteger(m.damage) || m.damage < 0) return `monster ${m.name}: bad damage ${m.damage}`;
    if (!inWorld(m)) return `monster ${m.name} outside the world`;
  }
  for (const d of k.drops) if (!d.kind || !Number.isSafeInteger(d.qty) || d.qty <= 0) return `bad drop ${JSON.stringify(d)}`;
  if (!Number.isSafeInteger(k.currency) || k.currency < 0) return `bad currency ${k.currency}`;
  if (!Number.isSafeInteger(k.heal) || k.heal < 0) return `bad heal ${k.heal}`;
  return undefined;
}

/** Why combat rules are nonsensical, or undefined when they are usable. Pure. */
export function combatRulesProblem(r: CombatRules): string | undefined {
  const vals = [r.attackRange, r.attackDamage, r.attackCooldownMs, r.monsterRange, r.monsterCooldownMs, r.maxHp];
  if (!vals.every((v) => typeof v === "number" && Number.isFinite(v) && v >= 0)) return `bad combat rules ${JSON.stringify(r)}`;
  if (!Number.isSafeInteger(r.attackDamage) || r.attackDamage <= 0) return `bad attack damage ${r.attackDamage}`;
  if (!Number.isSafeInteger(r.maxHp) || r.maxHp <= 0) return `bad max hp ${r.maxHp}`;
  return undefined;
}

export { mulberry32 } from "./prng.js";

/**
 * Index of the drop a member gets: the first output of mulberry32 seeded with the run seed
 * mixed with the user id (both 32-bit halves of the id), scaled to [0, n). Pure; n <= 0 gives 0.
 */
export function dropIndex(seed: number, user: number, n: number): number {
  if (!(n > 0)) return 0;
  const s = Number.isFinite(seed) ? seed >>> 0 : 0;
  const lo = Number.isFinite(user) ? user >>> 0 : 0;
  const hi = Number.isFinite(user) ? Math.floor(user / 4294967296) >>> 0 : 0;
  const mixed = (s ^ Math.imul(lo, 0x9e3779b1) ^ Math.imul(hi, 0x85ebca6b)) >>> 0;
  const rng = mulberry32(mixed);
  rng(); // one warm-up draw: neighbouring seeds then diverge fully
  return Math.min(n - 1, Math.floor(rng() * n));
}

export interface MonsterView {
  id: number;
  name: string;
  hp: number;
  maxHp: number;
  x: number;
  y: number;
}

export type AttackResult =
  | { kind: "hit"; monster: number; damage: number; hpLeft: number; killed: boolean; cleared: boolean }
  | { kind: "not-in-party" | "unknown-target" | "dead-target" | "out-of-range" | "cooldown" | "cleared" };

export interface Reward {
  items: { kind: string; qty: number }[];
  currency: number;
  heal: number;
}

export interface MonsterHit {
  user: number;
  monster: number;
  damage: number;
}

interface MonsterState {
  readonly id: number;
  readonly spec: MonsterSpec;
  hp: number;
  /** Time of the last strike (or of the run's first tick); undefined before the first tick. */
  lastStrike: number | undefined;
}

/**
 * One run of a dungeon for a fixed party. Throws a plain Error on a nonsensical kind, rules,
 * or party (empty, duplicate or non-positive-integer ids) — hosts validate before creating.
 *
 * `attack` checks, in this order: not-in-party, cleared, unknown-target, dead-target,
 * out-of-range, cooldown. Only a hit starts the member's cooldown; a hit deals
 * min(attackDamage, hp left), so the reported damages of a run add up to the hp lost.
 */
export class DungeonRun {
  readonly kind: DungeonKind;
  readonly party: readonly number[];
  readonly seed: number;
  readonly rules: CombatRules;
  private readonly members: ReadonlySet<number>;
  private readonly state: MonsterState[];
  private readonly lastAttack = new Map<number, number>();
  private readonly claimed = new Set<number>();
  private alive: number;
  private started = false;
  /** Starts true: the initial monster state has never been sent. */
  private changed = true;

  constructor(kind: DungeonKind, party: readonly number[], seed: number, rules: CombatRules = DEFAULT_COMBAT) {
    const kp = dungeonKindProblem(kind);
    if (kp) throw new Error(`invalid dungeon kind ${kind.kind}: ${kp}`);
    const rp = combatRulesProblem(rules);
    if (rp) throw new Error(rp);
    if (party.length === 0) throw new Error("a dungeon run needs a party");
    for (const u of party) if (!Number.isSafeInteger(u) || u <= 0) throw new Error(`bad user id ${u}`);
    const members = new Set(party);
    if (members.size !== party.length) throw new Error("duplicate user in party");
    this.kind = kind;
    this.party = Object.freeze([...party]);
    this.members = members;
    this.seed = seed;
    this.rules = rules;
    this.state = kind.monsters.map((spec, i) => ({ id: i + 1, spec, hp: spec.hp, lastStrike: undefined }));
    this.alive = this.state.length;
  }

  isMember(user: number): boolean {
    return this.members.has(user);
  }

  /** A party member at `pos` attacks monster `monsterId` at time `now` (ms). Pure state change + result. */
  attack(user: number, monsterId: number, pos: { x: number; y: number }, now: number): AttackResult {
    if (!this.members.has(user)) return { kind: "not-in-party" };
    if (this.alive === 0) return { kind: "cleared" };
    const m = Number.isSafeInteger(monsterId) ? this.state[monsterId - 1] : undefined;
    if (!m) return { kind: "unknown-target" };
    if (m.hp <= 0) return { kind: "dead-target" };
    if (!inRange(pos, m.spec, this.rules.attackRange)) return { kind: "out-of-range" };
    const last = this.lastAttack.get(user);
    // a clock going backwards counts as "not elapsed" (never a free hit)
    if (last !== undefined && !(now - last >= this.rules.attackCooldownMs)) return { kind: "cooldown" };
    this.lastAttack.set(user, now);
    const damage = Math.min(this.rules.attackDamage, m.hp);
    m.hp -= damage;
    const killed = m.hp === 0;
    if (killed) this.alive--;
    this.changed = true;
    return { kind: "hit", monster: m.id, damage, hpLeft: m.hp, killed, cleared: this.alive === 0 };
  }

  /**
   * Monsters strike: each living monster whose cooldown elapsed hits the nearest living member
   * within monsterRange (ties: lowest user id). `member(user)` gives the member's position and
   * hp, or undefined when the member is not in the instance right now; members with hp <= 0 are
   * never targeted. Returns the hits in monster id order; does NOT change member hp (the caller
   * owns hp, see applyDamage). Every hit is computed from the hp `member` reports, so several
   * monsters may hit the same member in one tick (applyDamage floors at 0).
   *
   * The first call only starts every monster's cooldown (no strike). A monster with nobody in
   * range keeps its cooldown elapsed and strikes on the first tick someone comes in range.
   */
  tick(now: number, member: (user: number) => { x: number; y: number; hp: number } | undefined): MonsterHit[] {
    if (!this.started) {
      this.started = true;
      for (const m of this.state) m.lastStrike = now;
      return [];
    }
    const hits: MonsterHit[] = [];
    if (this.alive === 0) return hits;
    const present: { user: number; x: number; y: number }[] = [];
    for (const user of this.party) {
      const p = member(user);
      if (p && p.hp > 0) present.push({ user, x: p.x, y: p.y });
    }
    for (const m of this.state) {
      if (m.hp <= 0) continue;
      if (m.lastStrike !== undefined && !(now - m.lastStrike >= this.rules.monsterCooldownMs)) continue;
      let best: { user: number; d: number } | undefined;
      for (const p of present) {
        const d = distance(p, m.spec);
        if (!(d <= this.rules.monsterRange)) continue;
        if (!best || d < best.d || (d === best.d && p.user < best.user)) best = { user: p.user, d };
      }
      if (!best) continue;
      m.lastStrike = now;
      hits.push({ user: best.user, monster: m.id, damage: m.spec.damage });
    }
    return hits;
  }

  /** True once every monster is at 0 hp. */
  get cleared(): boolean {
    return this.alive === 0;
  }

  /**
   * The reward of a member: defined once per member per run, only after clear; a second call
   * returns undefined (never twice). Non-members: undefined. The item is
   * `drops[dropIndex(seed, user, drops.length)]` (no item when the kind has no drops).
   */
  claimReward(user: number): Reward | undefined {
    if (!this.members.has(user) || this.alive !== 0 || this.claimed.has(user)) return undefined;
    this.claimed.add(user);
    const drops = this.kind.drops;
    const drop = drops.length > 0 ? drops[dropIndex(this.seed, user, drops.length)] : undefined;
    return { items: drop ? [{ kind: drop.kind, qty: drop.qty }] : [], currency: this.kind.currency, heal: this.kind.heal };
  }

  /** Whether `user` already claimed its reward. */
  hasClaimed(user: number): boolean {
    return this.claimed.has(user);
  }

  /** Every monster (dead ones included, hp 0), in id order; fresh objects. */
  monsters(): MonsterView[] {
    return this.state.map((m) => ({ id: m.id, name: m.spec.name, hp: m.hp, maxHp: m.spec.hp, x: m.spec.x, y: m.spec.y }));
  }

  /** True when monster state changed since the last call (so the host sends a state update); resets the flag. */
  takeChanged(): boolean {
    const c = this.changed;
    this.changed = false;
    return c;
  }
}

function distance(a: { x: number; y: number }, b: { x: number; y: number }): number {
  return Math.hypot(a.x - b.x, a.y - b.y);
}

function inRange(a: { x: number; y: number }, b: { x: number; y: number }, range: number): boolean {
  const d = distance(a, b);
  return Number.isFinite(d) && d <= range;
}

/** hp after damage, floored at 0; `defeated` when it reached 0. */
export function applyDamage(hp: number, damage: number): { hp: number; defeated: boolean } {
  const next = Math.max(0, hp - Math.max(0, damage));
  return { hp: next, defeated: next === 0 };
}

/** hp after a heal, capped at maxHp (a negative heal changes nothing). */
export function applyHeal(hp: number, heal: number, maxHp: number): number {
  return Math.min(maxHp, hp + Math.max(0, heal));
}

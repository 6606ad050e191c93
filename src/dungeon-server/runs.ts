/**
 * The dungeon server's game on top of the scene host: one `DungeonRun` (src/game/dungeon.ts)
 * per instance placed here, driven by scene hooks and message handlers on the logic thread.
 *
 * Life of an instance (key `d<seq>@<home>`, src/core/cluster/instances.ts):
 *  - `placed(keys)` (placement changed) or the first member's arrival loads its request (kind,
 *    party, where each member stood in the field) from ZooKeeper; a request that is gone means
 *    the instance was destroyed: whoever is in it is sent home;
 *  - members arrive by the normal attach (owner epoch + 1 on their shard) and get `dungeon`
 *    state; a user who is not in the party is sent home at once;
 *  - `attack` → DungeonRun rules; each tick monsters strike (hp through write-behind), state
 *    changes go to the party; a member at 0 hp is defeated: sent home with full hp;
 *  - clearing grants every member present its reward drop in ONE shard transaction fenced by
 *    the member's owner epoch (ItemRepository.grantReward: items + ledger + currency), then
 *    heals and answers `reward`; late arrivals get theirs on arrival;
 *  - `leaveDungeon`, idle (`idleMs` without input) and shutdown send members home: their final
 *    state is written with zone = home at the position they entered from, then the gateway
 *    re-attaches them there (the client stays connected);
 *  - destroyed (request node removed → the leader drops it from the placement; world dropped)
 *    once every party member has been in and left, or nobody came within `entryTimeoutMs`.
 */
import type { Logger } from "../core/log.js";
import { isRiftError } from "../core/errors.js";
import { hash32 } from "../core/hash.js";
import { Counter, Gauge } from "prom-client";
import type { Registry } from "../core/metrics.js";
import { parseInstance, type InstanceRequest } from "../core/cluster/instances.js";
import type { SceneContext, SceneHandlers, SceneHooks } from "../core/scene/handlers.js";
import type { Session } from "../core/scene/sessions.js";
import { movementHandlers } from "../core/scene/common-handlers.js";
import type { GameLogSink } from "../core/ops/game-log.js";
import { applyDamage, applyHeal, dungeonKind, DungeonRun, type Reward } from "../game/dungeon.js";
import type { ItemRepository } from "../shard/items.js";

/** Where instance requests live (ZooKeeper in production, a map in unit tests). */
export interface InstanceSource {
  /** The request of an instance; undefined when it is gone (destroyed). */
  read(key: string): Promise<InstanceRequest | undefined>;
  /** Remove the request (the instance is destroyed); idempotent. */
  remove(key: string): Promise<void>;
}

export interface DungeonRunsOptions {
  instances: InstanceSource;
  items: Pick<ItemRepository, "grantReward">;
  /** The field zone's safe spot (when a member's entry position is unknown). */
  safeSpot(zone: string): { x: number; y: number };
  entryTimeoutMs: number;
  idleMs: number;
  log: Logger;
  registry: Registry;
  gameLog?: GameLogSink;
  /** Attempts of a reward grant that fails for a reason other than fencing (default 5, 200 ms apart doubling). */
  grantAttempts?: number;
}

interface Instance {
  key: string;
  home: string;
  req: InstanceRequest | undefined;
  run: DungeonRun | undefined;
  loading: boolean;
  createdAt: number;
  lastInput: number;
  /** Party members who have been in (and those who left). */
  arrived: Set<number>;
  left: Set<number>;
  destroyed: boolean;
}

export interface DungeonMetrics {
  instances: Gauge;
  events: Counter<"event">;
  rewards: Counter<"result">;
}

export function createDungeonMetrics(r: Registry): DungeonMetrics {
  return {
    instances: new Gauge({ name: "rift_dungeon_instances", help: "Dungeon instances alive on this server", registers: [r] }),
    events: new Counter({
      name: "rift_dungeon_instance_events_total",
      help: "Instance life events on this server (created, destroyed, idle, defeated, not-found)",
      labelNames: ["event"],
      registers: [r],
    }),
    rewards: new Counter({ name: "rift_dungeon_rewards_total", help: "Reward drops by result (granted, fenced, failed)", labelNames: ["result"], registers: [r] }),
  };
}

export class DungeonRuns {
  private readonly byKey = new Map<string, Instance>();
  private readonly metrics: DungeonMetrics;
  private ctx: SceneContext | undefined;
  private readonly log: Logger;
  readonly handlers: SceneHandlers;
  readonly hooks: SceneHooks;

  constructor(private readonly opts: DungeonRunsOptions) {
    this.log = opts.log.child({ component: "dungeon" });
    this.metrics = createDungeonMetrics(opts.registry);
    this.handlers = {
      // walking counts as activity (idle timeout)
      move: (ctx, s, body) => {
        this.touch(s);
        movementHandlers.move!(ctx, s, body);
      },
      attack: (ctx, s, body) => this.attack(ctx, s, body.target),
      leaveDungeon: (ctx, s) => {
        this.touch(s);
        this.sendHome(ctx, s);
      },
    };
    this.hooks = {
      entered: (ctx, s) => this.entered(ctx, s),
      leaving: (ctx, s) => this.leaving(s),
      tick: (ctx) => this.tick(ctx),
    };
  }

  /** Instances alive here (tests, health). */
  get count(): number {
    return this.byKey.size;
  }

  /** Instance keys alive here. */
  keys(): string[] {
    return [...this.byKey.keys()];
  }

  /** The placement lists these instance keys on this server: start loading the new ones. */
  placed(keys: readonly string[]): void {
    for (const key of keys) if (parseInstance(key)) this.instance(key);
  }

  /** Where a member goes home to: the field zone and the spot it entered from (else the safe spot). */
  homeOf(s: Session): { zone: string; x: number; y: number } | undefined {
    const p = parseInstance(s.zone);
    if (!p) return undefined;
    const at = this.byKey.get(s.zone)?.req?.party.find((m) => m.user === s.user);
    return { zone: p.home, ...(at ? { x: at.x, y: at.y } : this.opts.safeSpot(p.home)) };
  }

  // ---------------------------------------------------------------- instance state

  private instance(key: string): Instance {
    let inst = this.byKey.get(key);
    if (inst) return inst;
    const now = performance.now();
    inst = { key, home: parseInstance(key)!.home, req: undefined, run: undefined, loading: false, createdAt: now, lastInput: now, arrived: new Set(), left: new Set(), destroyed: false };
    this.byKey.set(key, inst);
    this.metrics.instances.set(this.byKey.size);
    this.load(inst);
    return inst;
  }

  private load(inst: Instance): void {
    if (inst.loading || inst.req) return;
    inst.loading = true;
    this.opts.instances.read(inst.key).then(
      (req) => {
        inst.loading = false;
        if (inst.destroyed) return;
        const kind = req && dungeonKind(req.kind);
        if (!req || !kind) {
          this.log.warn({ instance: inst.key, kind: req?.kind }, req ? "instance of an unknown dungeon kind: closing it" : "instance request not found (destroyed): sending its users home");
          this.metrics.events.inc({ event: "not-found" });
          this.destroy(inst, "not-found");
          return;
        }
        inst.req = req;
        inst.run = new DungeonRun(kind, req.party.map((m) => m.user), hash32(inst.key));
        this.metrics.events.inc({ event: "created" });
        this.log.info({ instance: inst.key, kind: req.kind, party: req.party.map((m) => m.user) }, "dungeon instance ready");
        const ctx = this.ctx;
        if (ctx) for (const s of ctx.sessionsIn(inst.key)) this.welcome(ctx, inst, s);
      },
      (err: unknown) => {
        inst.loading = false; // retried by the next tick
        this.log.warn({ err: err instanceof Error ? err.message : String(err), instance: inst.key }, "reading an instance request failed; retrying");
      },
    );
  }

  /** Remove the instance: its request (the leader drops it from the placement), its world; members still in it go home. */
  private destroy(inst: Instance, why: string): void {
    if (inst.destroyed) return;
    inst.destroyed = true;
    const ctx = this.ctx;
    if (ctx) for (const s of ctx.sessionsIn(inst.key)) this.sendHome(ctx, s);
    this.opts.instances.remove(inst.key).catch((err: unknown) => this.log.warn({ err: err instanceof Error ? err.message : String(err), instance: inst.key }, "removing an instance request failed (the leader removes it when this server goes)"));
    this.metrics.events.inc({ event: "destroyed" });
    this.log.info({ instance: inst.key, why }, "dungeon instance destroyed");
  }

  // ---------------------------------------------------------------- hooks

  private entered(ctx: SceneContext, s: Session): void {
    this.ctx = ctx;
    const inst = this.byKey.get(s.zone) ?? (parseInstance(s.zone) ? this.instance(s.zone) : undefined);
    if (!inst) return;
    if (inst.destroyed) return this.sendHome(ctx, s);
    if (inst.req) this.welcome(ctx, inst, s);
  }

  /** A member arrived in a loaded instance: party check, state, a reward it has not had yet. */
  private welcome(ctx: SceneContext, inst: Instance, s: Session): void {
    if (!inst.run!.isMember(s.user)) {
      ctx.error(s, "DUNGEON_ACTION", "not a member of this party");
      return this.sendHome(ctx, s);
    }
    inst.arrived.add(s.user);
    inst.left.delete(s.user);
    inst.lastInput = performance.now();
    this.sendState(ctx, inst, [s]);
    if (inst.run!.cleared) this.grant(ctx, inst, s);
  }

  private leaving(s: Session): void {
    const inst = this.byKey.get(s.zone);
    if (inst && inst.arrived.has(s.user)) inst.left.add(s.user);
  }

  private tick(ctx: SceneContext): void {
    this.ctx = ctx;
    const now = ctx.now;
    for (const inst of [...this.byKey.values()]) {
      const members = inst.destroyed ? [] : ctx.sessionsIn(inst.key);
      if (inst.destroyed) {
        if (ctx.dropWorld(inst.key)) {
          this.byKey.delete(inst.key);
          this.metrics.instances.set(this.byKey.size);
        }
        continue;
      }
      if (!inst.req) {
        this.load(inst);
        if (members.length === 0 && performance.now() - inst.createdAt > this.opts.entryTimeoutMs) this.destroy(inst, "nobody entered");
        continue;
      }
      const run = inst.run!;
      // empty, and nobody else can still come: every member has been in (and left), or the
      // others had `entryTimeoutMs` to arrive
      const lateOver = performance.now() - inst.createdAt > this.opts.entryTimeoutMs;
      if (members.length === 0 && (inst.arrived.size === run.party.length || lateOver)) {
        this.destroy(inst, inst.arrived.size > 0 ? "empty" : "nobody entered");
        continue;
      }
      if (members.length > 0 && performance.now() - inst.lastInput > this.opts.idleMs) {
        this.metrics.events.inc({ event: "idle" });
        this.log.info({ instance: inst.key, idleMs: this.opts.idleMs }, "dungeon instance idle: sending the party home");
        this.destroy(inst, "idle");
        continue;
      }
      const byUser = new Map(members.map((s) => [s.user, s]));
      const hits = run.tick(now, (u) => {
        const s = byUser.get(u);
        const e = s && ctx.world(inst.key)?.get(u);
        return s && e ? { x: e.x, y: e.y, hp: s.hp } : undefined;
      });
      let hpChanged = false;
      for (const h of hits) {
        const s = byUser.get(h.user);
        if (!s || ctx.session(h.user) !== s) continue;
        const r = applyDamage(s.hp, h.damage);
        ctx.setHp(s, r.hp);
        hpChanged = true;
        if (r.defeated) {
          this.metrics.events.inc({ event: "defeated" });
          ctx.setHp(s, run.rules.maxHp); // revived at home
          this.sendHome(ctx, s);
          byUser.delete(h.user);
        }
      }
      if (run.takeChanged() || hpChanged) this.sendState(ctx, inst, [...byUser.values()]);
    }
  }

  // ---------------------------------------------------------------- handlers

  private touch(s: Session): void {
    const inst = this.byKey.get(s.zone);
    if (inst) inst.lastInput = performance.now();
  }

  private attack(ctx: SceneContext, s: Session, target: number): void {
    this.touch(s);
    const inst = this.byKey.get(s.zone);
    if (!inst?.run) return ctx.error(s, "DUNGEON_ACTION", "the instance is not ready");
    const e = ctx.world(s.zone)?.get(s.user);
    if (!e) return;
    const r = inst.run.attack(s.user, target, { x: e.x, y: e.y }, ctx.now);
    if (r.kind !== "hit") return ctx.error(s, "DUNGEON_ACTION", r.kind);
    if (r.cleared) {
      this.log.info({ instance: inst.key }, "dungeon cleared");
      for (const m of ctx.sessionsIn(inst.key)) this.grant(ctx, inst, m);
    }
  }

  /**
   * The member's reward drop, once: written in one shard transaction fenced by the owner
   * epoch this server holds; then heal and `reward`. A fenced grant means another server owns
   * the user now (nothing written); other failures are retried a few times, then reported
   * (RIFT_ITEMS_UNAVAILABLE) — the database stays consistent either way.
   */
  private grant(ctx: SceneContext, inst: Instance, s: Session): void {
    const reward = inst.run!.claimReward(s.user);
    if (!reward) return;
    const epoch = ctx.epochOf(s.user);
    void this.grantWithRetry(s.user, reward, epoch).then((r) => {
      if (r === "fenced" || r === "failed") {
        this.metrics.rewards.inc({ result: r });
        if (ctx.session(s.user) === s) ctx.error(s, "ITEMS_UNAVAILABLE", r === "fenced" ? "another server owns you now" : "reward not saved");
        return;
      }
      this.metrics.rewards.inc({ result: "granted" });
      this.opts.gameLog?.log("item", s.user, { op: "reward", instance: inst.key, kind: inst.req?.kind ?? "", items: r.itemIds, currency: reward.currency });
      const items = r.itemIds.map((id, i) => ({ id, kind: reward.items[i]!.kind, qty: reward.items[i]!.qty }));
      const live = ctx.session(s.user) === s;
      const hp = live ? applyHeal(s.hp, reward.heal, inst.run!.rules.maxHp) : s.hp;
      if (live) {
        ctx.setHp(s, hp);
        ctx.reply(s, "reward", { items, currency: reward.currency, balance: r.balance, hp });
        if (s.zone === inst.key) this.sendState(ctx, inst, [s]);
      }
    });
  }

  private async grantWithRetry(user: number, reward: Reward, epoch: number | undefined): Promise<{ itemIds: number[]; balance: number } | "fenced" | "failed"> {
    const attempts = this.opts.grantAttempts ?? 5;
    let delay = 200;
    for (let i = 1; ; i++) {
      try {
        return await this.opts.items.grantReward(user, { items: reward.items, currency: reward.currency }, epoch);
      } catch (err) {
        if (isRiftError(err) && err.key === "PERSIST_REJECTED") return "fenced";
        this.log.warn({ err: err instanceof Error ? err.message : String(err), user, attempt: i }, "reward grant failed");
        if (i >= attempts) return "failed";
        await new Promise((r) => setTimeout(r, delay));
        delay *= 2;
      }
    }
  }

  // ---------------------------------------------------------------- output

  private sendHome(ctx: SceneContext, s: Session): void {
    const to = this.homeOf(s);
    if (!to) return;
    ctx.travel(s, to.zone, { x: to.x, y: to.y });
  }

  private sendState(ctx: SceneContext, inst: Instance, to: readonly Session[]): void {
    if (!inst.run || !inst.req || to.length === 0) return;
    const party = inst.run.party.map((id) => ({ id, hp: ctx.session(id)?.zone === inst.key ? ctx.session(id)!.hp : 0 }));
    const body = { instance: inst.key, kind: inst.req.kind, monsters: inst.run.monsters(), party, cleared: inst.run.cleared };
    for (const s of to) ctx.reply(s, "dungeon", body);
  }
}

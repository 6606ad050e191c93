/**
 * Entering a dungeon from the field as a party (issue #7, docs/PROTOCOL.md §Dungeons).
 *
 * A party forms by consent, without a party service: every member sends `dungeonEnter` with
 * the same kind and member list. Members must be on this field server in the same zone; each
 * request answers `dungeonParty {ready}` to everyone who asked. When the last member asks
 * (within `partyFormMs` of the first), this server records where each member stands, asks the
 * coordinator for an instance (a request node in ZooKeeper; the leader places it on the least
 * loaded dungeon server) and, once the placement shows it on a live server, sends every member
 * there: a normal `travel` — final write with zone = the instance key at the dungeon's spawn,
 * then `transfer`, and the gateway attaches the user at the dungeon server (owner epoch + 1;
 * the client stays connected). Nothing is placed within `placeTimeoutMs`: the request is
 * removed and the party gets RIFT_DUNGEON_UNAVAILABLE.
 */
import type { Logger } from "../core/log.js";
import { baseZone } from "../core/cluster/channels.js";
import { MAX_PARTY, type InstanceRequest } from "../core/cluster/instances.js";
import type { SceneContext, SceneHandlers, SceneHooks } from "../core/scene/handlers.js";
import type { Session } from "../core/scene/sessions.js";
import { dungeonKind } from "../game/dungeon.js";

/** How this server asks for instances (ZooKeeper + placement in production). */
export interface InstanceBroker {
  /** Create the instance request; resolves with its key. */
  request(req: InstanceRequest): Promise<string>;
  /** Resolves true once the key is placed on a live dungeon server, false after `timeoutMs`. */
  waitPlaced(key: string, timeoutMs: number): Promise<boolean>;
  /** Withdraw a request nobody placed. */
  remove(key: string): Promise<void>;
}

export interface DungeonEntryOptions {
  broker: InstanceBroker;
  nodeId: string;
  partyFormMs: number;
  placeTimeoutMs: number;
  log: Logger;
  now?: () => number;
}

interface Forming {
  kind: string;
  party: number[];
  zone: string;
  ready: Set<number>;
  startedAt: number;
}

export class DungeonEntry {
  private readonly forming = new Map<string, Forming>();
  /** User → the key of the party it asked to enter with. */
  private readonly asked = new Map<number, string>();
  /** Users whose party's instance is being opened (they cannot ask again meanwhile). */
  private readonly opening = new Set<number>();
  private readonly now: () => number;
  readonly handlers: SceneHandlers;
  readonly hooks: SceneHooks;

  constructor(private readonly opts: DungeonEntryOptions) {
    this.now = opts.now ?? (() => performance.now());
    this.handlers = { dungeonEnter: (ctx, s, body) => this.ask(ctx, s, body.kind, body.party) };
    this.hooks = { tick: (ctx) => this.expire(ctx), leaving: (ctx, s) => this.withdraw(ctx, s.user) };
  }

  /** Parties forming now (tests). */
  get pending(): number {
    return this.forming.size;
  }

  private ask(ctx: SceneContext, s: Session, kind: string, members: number[]): void {
    const party = [...new Set(members)].sort((a, b) => a - b);
    if (!dungeonKind(kind)) return ctx.error(s, "DUNGEON_PARTY", `unknown dungeon ${kind}`);
    if (!party.includes(s.user)) return ctx.error(s, "DUNGEON_PARTY", "the party must include you");
    if (party.length > MAX_PARTY) return ctx.error(s, "DUNGEON_PARTY", `at most ${MAX_PARTY} members`);
    if (this.opening.has(s.user)) return ctx.error(s, "DUNGEON_PARTY", "your party's dungeon is opening");
    const key = `${kind}:${party.join(",")}`;
    const prev = this.asked.get(s.user);
    if (prev !== undefined && prev !== key) this.withdraw(ctx, s.user);
    let f = this.forming.get(key);
    if (f && f.zone !== baseZone(s.zone)) return ctx.error(s, "DUNGEON_PARTY", "party members must be in the same zone");
    if (!f) {
      f = { kind, party, zone: baseZone(s.zone), ready: new Set(), startedAt: this.now() };
      this.forming.set(key, f);
    }
    f.ready.add(s.user);
    this.asked.set(s.user, key);
    this.status(ctx, f);
    if (f.ready.size === party.length) this.open(ctx, key, f);
  }

  /** Tell every member who asked who has asked so far. */
  private status(ctx: SceneContext, f: Forming): void {
    const status = { kind: f.kind, party: f.party, ready: [...f.ready].sort((a, b) => a - b) };
    for (const u of f.ready) {
      const m = ctx.session(u);
      if (m) ctx.reply(m, "dungeonParty", status);
    }
  }

  /** Everyone asked: check they are all here, record their spots, request and wait for the instance. */
  private open(ctx: SceneContext, key: string, f: Forming): void {
    this.forget(key, f);
    const members = f.party.map((u) => ctx.session(u));
    const here = members.filter((m): m is Session => m !== undefined && baseZone(m.zone) === f.zone);
    if (here.length !== f.party.length) {
      for (const m of here) ctx.error(m, "DUNGEON_PARTY", "every member must be on this server in the same zone");
      return;
    }
    const party = here.map((m) => {
      const e = ctx.world(m.zone)?.get(m.user);
      return { user: m.user, x: e?.x ?? 0, y: e?.y ?? 0 };
    });
    const kind = dungeonKind(f.kind)!;
    for (const u of f.party) this.opening.add(u);
    const req: InstanceRequest = { kind: f.kind, home: f.zone, party, requestedBy: this.opts.nodeId, requestedAt: Date.now() };
    void (async () => {
      let instance: string | undefined;
      const opened = () => {
        for (const u of f.party) this.opening.delete(u);
      };
      try {
        instance = await this.opts.broker.request(req);
        if (!(await this.opts.broker.waitPlaced(instance, this.opts.placeTimeoutMs))) throw new Error(`instance ${instance} not placed within ${this.opts.placeTimeoutMs} ms`);
      } catch (err) {
        this.opts.log.warn({ err: err instanceof Error ? err.message : String(err), party: f.party, kind: f.kind }, "dungeon: could not open an instance");
        opened();
        if (instance) void this.opts.broker.remove(instance).catch(() => undefined);
        for (const m of here) if (ctx.session(m.user) === m) ctx.error(m, "DUNGEON_UNAVAILABLE");
        return;
      }
      opened();
      this.opts.log.info({ instance, party: f.party, kind: f.kind }, "dungeon: party entering");
      // members that left or changed zone meanwhile stay behind (the instance lets them come later)
      for (const m of here) if (ctx.session(m.user) === m && baseZone(m.zone) === f.zone) ctx.travel(m, instance, kind.spawn);
    })();
  }

  private expire(ctx: SceneContext): void {
    const now = this.now();
    for (const [key, f] of this.forming) {
      if (now - f.startedAt <= this.opts.partyFormMs) continue;
      this.forget(key, f);
      for (const u of f.ready) {
        const m = ctx.session(u);
        if (m) ctx.error(m, "DUNGEON_PARTY", `not every member asked within ${this.opts.partyFormMs} ms`);
      }
    }
  }

  private withdraw(ctx: SceneContext, user: number): void {
    const key = this.asked.get(user);
    if (key === undefined) return;
    this.asked.delete(user);
    const f = this.forming.get(key);
    if (!f) return;
    f.ready.delete(user);
    if (f.ready.size === 0) this.forming.delete(key);
    else this.status(ctx, f);
  }

  private forget(key: string, f: Forming): void {
    this.forming.delete(key);
    for (const u of f.ready) if (this.asked.get(u) === key) this.asked.delete(u);
  }
}

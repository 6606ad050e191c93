/**
 * The scene host runtime shared by field and dungeon servers: multi-IO / single logic
 * thread (DESIGN §2, §7).
 *
 *   IO units ──IoEvent──▶ SceneHost (main thread) ──IoCommand (one per unit per tick)──▶ IO units
 *
 * - `in` client messages go into the bounded packet queue (full: drop + count; a user who
 *   keeps overflowing is kicked with SERVER_BUSY — InputGuard). The tick loop drains the
 *   queue each tick, dispatching to the role's handlers (exceptions caught per packet).
 * - `attach` / `detach` / link close are control events handled when they arrive (still on
 *   the logic thread, between ticks): attach runs AttachFlow (DB work off the loop), a detach
 *   removes the user at once — `in` messages of that user still queued are then dropped
 *   (counted as unknown_user).
 * - At the end of every tick each zone's World reports per-cell change lists and view
 *   changes; the host updates per-link cell interest and hands IO units the raw change lists
 *   plus, per link, which cells / subs / direct messages / control ops to send. No encoding
 *   happens on this thread.
 * - Persistence is write-behind (WriteBehind): moves mark users dirty; detach, travel and
 *   shutdown release users with a final write; a fenced write kicks with PERSIST_REJECTED.
 *
 * Placement: a zone is served only while `placedHere(zone)` says so (the coordinator's
 * placement). `handOverZone(zone)` (the zone was placed elsewhere) releases its users with a
 * final write and then sends each gateway `transfer {user, zone}` — the gateway re-attaches
 * the user at the zone's new owner, which loads the state just written (ownership moves with
 * an owner-epoch bump; the client stays connected).
 *
 * ZooKeeper session states (DESIGN "Ownership and fencing"): `suspend()` holds writes while
 * the connection is lost; `resumeWrites()` releases them; `fence()` (session expired: our
 * users may be taken over any moment) refuses attaches, drops every pending write and sends
 * every user's gateway `transfer` without writing; `unfence()` (new session) accepts again.
 *
 * Shutdown (`shutdown()`): refuse new attaches (rejected NO_SERVER_FOR_ZONE, which gateways
 * treat as "retry at the zone's next owner"), run a last tick,
 * stop the loop, release every user with a final write, then send each gateway
 * `transfer {user, zone: <same zone>}` for every user whose state was saved (the gateway
 * re-attaches it wherever the zone is placed next; the client stays connected) and
 * `kick PERSIST_REJECTED` for the others, then close all links (SHUTTING_DOWN, 4034).
 */
import type { ErrorKey } from "../errors.js";
import { ErrorCatalog } from "../errors.js";
import type { Logger } from "../log.js";
import type { Registry } from "../metrics.js";
import { BoundedQueue } from "../loop/bounded-queue.js";
import { TickLoop, realClock, type LoopClock } from "../loop/tick-loop.js";
import type { ClientSchemaTable } from "../protocol/messages.js";
import type { CellOut, CtrlOut, IoEvent, LinkId } from "../transport/io-worker-protocol.js";
import { ioUnitOfLink } from "../transport/io-worker-protocol.js";
import type { IoHost } from "../transport/io-workers.js";
import type { GatewayOp } from "../transport/link-protocol.js";
import type { PlayerRepository, PlayerState } from "../../shard/types.js";
import { clampCoord, spawnPoint, type FieldRules } from "../../game/rules.js";
import { World } from "../../game/world.js";
import { baseZone, parseChannel } from "../cluster/channels.js";
import { AttachFlow, type AttachResult } from "./attach.js";
import { LinkInterest, Outbox } from "./fanout.js";
import type { SceneContext, SceneHandlers, SceneHooks } from "./handlers.js";
import { InputGuard } from "./input-guard.js";
import { createSceneMetrics, type SceneMetrics } from "./metrics.js";
import { SessionTable, type Session } from "./sessions.js";
import { WriteBehind, type FinalResult } from "./write-behind.js";
import { FaultIsolation, type FaultTrace } from "./fault-isolation.js";
import type { GameLogSink } from "../ops/game-log.js";

export interface SceneHostOptions {
  nodeId: string;
  zones: readonly string[];
  rules: FieldRules;
  tickHz: number;
  packetQueueCap: number;
  flushIntervalMs: number;
  /** Disconnect (PERSIST_UNAVAILABLE) a user whose changes could not be saved for this long (default: off). */
  maxFlushLagMs?: number;
  flushBatchMax: number;
  maxAttachesInFlight: number;
  /** Kick a user whose packets were dropped `maxDrops` times within `windowMs`. */
  overflow: { maxDrops: number; windowMs: number };
  initialHp: number;
  repo: PlayerRepository;
  io: IoHost;
  handlers: SceneHandlers;
  registry: Registry;
  /** Metric name prefix, e.g. `rift_field_`. */
  metricPrefix: string;
  log: Logger;
  /** Whether a zone can be travelled to (default: only zones hosted here). */
  zoneExists?: (zone: string) => boolean;
  /** Whether a channel key (`z1`, `z1#2`) is placed on this server now (default: every zone in `zones`, channel 1). */
  placedHere?: (channel: string) => boolean;
  clock?: LoopClock;
  /** Game log (DB, daily partitions): error traces of faulting handlers, transfers. */
  gameLog?: GameLogSink;
  /** Exception isolation: faults of one user within `windowMs` before it is kicked (default 3 / 60 s). */
  faults?: { maxFaults?: number; windowMs?: number; recentPerUser?: number };
  /** Channel keys this host can have a world for (default: the channels of `zones`). Dungeon servers: instance keys. */
  canHost?: (key: string) => boolean;
  /** Role hooks (e.g. dungeon runs), called on the logic thread. */
  hooks?: SceneHooks;
  /**
   * A loaded row whose zone is not the requested channel's zone: the state to play it with
   * here (the host adopts the user: e.g. a field server taking back the party of a crashed
   * dungeon at its safe spot), or undefined to send the user to the row's zone.
   */
  adopt?: (state: PlayerState, channel: string) => PlayerState | undefined;
  /** Where a user goes when this host hands it over (shutdown, drain): default its own zone at its position. */
  handOverTo?: (s: Session) => { zone: string; x: number; y: number } | undefined;
}

interface QueuedInput {
  link: LinkId;
  user: number;
  type: string;
  body: unknown;
}

export class SceneHost {
  readonly metrics: SceneMetrics;
  /** Channel key (`z1`, `z1#2`, …; channels.ts) → its world. Channel 1 of every zone exists from the start. */
  private readonly worlds = new Map<string, World>();
  /** Cell-id slot of each world (slots of dropped worlds are reused). */
  private readonly slots = new Map<string, number>();
  private readonly freeSlots: number[] = [];
  private nextSlot = 0;
  private readonly cellCount: number;
  private readonly sessions = new SessionTable();
  private readonly links = new Map<LinkId, string>();
  private readonly interest = new LinkInterest();
  private readonly outbox = new Outbox();
  private readonly queue: BoundedQueue<QueuedInput>;
  private readonly guard: InputGuard;
  private readonly loop: TickLoop;
  private readonly writeBehind: WriteBehind;
  private readonly attach: AttachFlow;
  /** Users whose attach is in flight → the link to answer (the latest attach wins). */
  private readonly pendingAttach = new Map<number, LinkId>();
  private readonly clock: LoopClock;
  private readonly log: Logger;
  private accepting = true;
  private fenced = false;
  private handoversRunning = 0;
  private looping = false;
  private now = 0;
  private skippedSeen = 0;
  private tickNo = 0;
  private readonly ctx: SceneContext;
  private readonly faultIsolation: FaultIsolation;

  constructor(private readonly opts: SceneHostOptions) {
    this.log = opts.log.child({ component: "scene" });
    this.clock = opts.clock ?? realClock;
    this.cellCount = new World(opts.rules).grid.cellCount;
    for (const zone of opts.zones) this.worldFor(zone);
    this.queue = new BoundedQueue(opts.packetQueueCap);
    this.guard = new InputGuard(opts.overflow.maxDrops, opts.overflow.windowMs);
    this.writeBehind = new WriteBehind({
      repo: opts.repo,
      intervalMs: opts.flushIntervalMs,
      maxBatch: opts.flushBatchMax,
      snapshot: (user) => this.snapshot(user),
      onRejected: (user) => this.onFenced(user),
      log: this.log.child({ component: "write-behind" }),
      metrics: {
        flushed: (sec, rows, rejected) => {
          this.metrics.flushDuration.observe(sec);
          this.metrics.flushRows.inc(rows);
          if (rejected) this.metrics.flushRejected.inc(rejected);
        },
        failed: () => this.metrics.flushFailures.inc(),
      },
    });
    this.metrics = createSceneMetrics(opts.registry, opts.metricPrefix, () => this.writeBehind.lagMs(), () => this.writeBehind.backlog);
    for (const z of opts.zones) this.metrics.ccu.set({ zone: z }, 0);
    this.attach = new AttachFlow({
      repo: opts.repo,
      nodeId: opts.nodeId,
      maxInFlight: opts.maxAttachesInFlight,
      hosts: (zone) => this.serves(zone),
      ...(opts.adopt ? { adopt: opts.adopt } : {}),
      initialState: (user, name, zone) => ({ userId: user, name, zone, ...spawnPoint(zone, opts.rules), hp: opts.initialHp }),
      released: (user) => this.writeBehind.released(user),
      onResult: (r) => this.onAttachResult(r),
      log: this.log,
    });
    this.loop = new TickLoop({
      hz: opts.tickHz,
      clock: this.clock,
      onTick: (tick, now) => this.tick(tick, now),
      onTickDone: (ms) => this.metrics.tickDuration.observe(ms / 1000),
      onError: (err, tick) => this.log.error({ err, tick }, "tick failed"),
    });
    this.ctx = this.makeContext();
    this.faultIsolation = new FaultIsolation({ server: opts.nodeId, ...opts.faults });
  }

  /** Start IO units, the tick loop and write-behind. Resolves with the link ports. */
  async start(): Promise<number[]> {
    const ports = await this.opts.io.start((e) => this.onIoEvent(e));
    this.writeBehind.start();
    this.looping = true;
    this.loop.start();
    return ports;
  }

  get ccu(): number {
    return this.sessions.size;
  }

  /** Whether an attach of this user is in flight (tests, health). */
  isAttaching(user: number): boolean {
    return this.pendingAttach.has(user);
  }

  /** Zones this server can host (config). */
  get zones(): readonly string[] {
    return this.opts.zones;
  }

  /** Channel keys that have a world here (hosted now or earlier). */
  get channels(): string[] {
    return [...this.worlds.keys()];
  }

  private canHost(key: string): boolean {
    return this.opts.canHost ? this.opts.canHost(key) : this.opts.zones.includes(baseZone(key));
  }

  /** The world of a channel key we can host; created on first use (its own cell-id range). */
  private worldFor(key: string): World | undefined {
    let w = this.worlds.get(key);
    if (!w && this.canHost(key)) {
      const slot = this.freeSlots.pop() ?? this.nextSlot++;
      w = new World(this.opts.rules, { cellBase: slot * this.cellCount });
      this.worlds.set(key, w);
      this.slots.set(key, slot);
    }
    return w;
  }

  /** Forget an empty world (a destroyed dungeon instance); its cell-id range is reused. False while users are in it. */
  dropWorld(key: string): boolean {
    const w = this.worlds.get(key);
    if (!w) return true;
    if (w.size > 0) return false;
    w.endTick(); // close the last tick's change lists
    this.worlds.delete(key);
    const slot = this.slots.get(key)!;
    this.slots.delete(key);
    this.freeSlots.push(slot);
    this.metrics.ccu.remove({ zone: key });
    return true;
  }

  // ------------------------------------------------------------------ IO events

  private onIoEvent(e: IoEvent): void {
    try {
      switch (e.k) {
        case "link-open":
          this.links.set(e.link, e.gateway);
          this.metrics.links.set(this.links.size);
          this.log.info({ link: e.link, gateway: e.gateway }, "gateway linked");
          break;
        case "ops":
          this.onOps(e.link, e.ops);
          break;
        case "fault": {
          this.metrics.dropped.inc({ reason: "invalid" });
          const s = this.sessions.get(e.user);
          if (s && s.link === e.link) this.kick(s, e.key, e.detail, true);
          break;
        }
        case "link-closed":
          this.onLinkClosed(e.link, e.gateway, e.code, e.reason);
          break;
        case "stats":
          for (const l of e.links) {
            this.metrics.sendQueueBytes.set({ gateway: l.gateway }, l.buffered);
            this.metrics.sendQueueHist.observe(l.buffered);
          }
          for (const [code, n] of Object.entries(e.badFrames)) this.metrics.badFrames.inc({ code }, n);
          for (const [code, n] of Object.entries(e.badMessages)) this.metrics.badMessages.inc({ code }, n);
          if (e.framesOut) this.metrics.framesOut.inc(e.framesOut);
          if (e.bytesOut) this.metrics.bytesOut.inc(e.bytesOut);
          break;
        case "listening":
          break;
      }
    } catch (err) {
      this.log.error({ err, event: e.k }, "io event handling failed");
    }
  }

  private onOps(link: LinkId, ops: GatewayOp[]): void {
    const counts = new Map<string, number>();
    for (const op of ops) {
      if (op[0] === "in") counts.set(op[2], (counts.get(op[2]) ?? 0) + 1);
      try {
        this.onOp(link, op);
      } catch (err) {
        // one bad op must not lose the rest of the batch
        this.metrics.handlerErrors.inc({ type: `link_${op[0]}` });
        this.log.error({ err, link, op: op[0] }, "link op handling failed");
      }
    }
    for (const [type, n] of counts) this.metrics.inbound.inc({ type }, n);
  }

  private onOp(link: LinkId, op: GatewayOp): void {
    switch (op[0]) {
      case "in": {
        const [, user, type, body] = op;
        if (this.queue.offer({ link, user, type, body })) return;
        this.metrics.dropped.inc({ reason: "queue_full" });
        const s = this.sessions.get(user);
        if (s && s.link === link && this.guard.dropped(user, this.clock.now()) === "kick") this.kick(s, "SERVER_BUSY", "input keeps overflowing the packet queue", true);
        return;
      }
      case "attach":
        return this.onAttach(link, op[1]);
      case "detach":
        return this.onDetach(link, op[1].user, op[1].reason);
      case "hello":
        return;
    }
  }

  private reject(link: LinkId, user: number, key: ErrorKey): void {
    this.metrics.attaches.inc({ result: `rejected_${key}` });
    this.sendCtrl(link, ["rejected", { user, code: ErrorCatalog[key].code }]);
  }

  private onAttach(link: LinkId, req: { user: number; name: string; zone: string }): void {
    // not SHUTTING_DOWN: gateways treat NO_SERVER_FOR_ZONE as "retry at another server"
    if (!this.accepting || this.fenced) return this.reject(link, req.user, "NO_SERVER_FOR_ZONE");
    const existing = this.sessions.get(req.user);
    if (existing) return this.reattach(existing, link);
    const pendingLink = this.pendingAttach.get(req.user);
    if (pendingLink !== undefined) {
      if (pendingLink !== link) this.reject(pendingLink, req.user, "SESSION_REPLACED");
      this.pendingAttach.set(req.user, link);
      return;
    }
    if (!this.serves(req.zone)) return this.reject(link, req.user, "NO_SERVER_FOR_ZONE");
    const r = this.attach.begin({ ...req, link });
    if (r === "busy") return this.reject(link, req.user, "SERVER_BUSY");
    this.pendingAttach.set(req.user, link);
  }

  /** The user is already here: a gateway re-attached it (possibly from another gateway). */
  private reattach(s: Session, link: LinkId): void {
    if (s.link !== link) {
      this.sendCtrl(s.link, ["kick", { user: s.user, key: "SESSION_REPLACED" }]);
      this.interest.remove(s.link, s.cells);
      s.cells = [];
      this.sessions.moveLink(s, link);
    }
    const world = this.worlds.get(s.zone)!;
    const e = world.get(s.user)!;
    e.seq = -1; // a new client session numbers its moves afresh
    world.resetView(s.user);
    this.sendCtrl(link, ["attached", { user: s.user, enter: this.enterBody(s, e.x, e.y) }]);
    this.metrics.attaches.inc({ result: "reattach" });
  }

  private onAttachResult(r: AttachResult): void {
    const user = r.req.user;
    const link = this.pendingAttach.get(user);
    this.pendingAttach.delete(user);
    if (link === undefined || !this.links.has(link)) return; // detached / link gone meanwhile
    if (!this.accepting || this.fenced) return this.reject(link, user, "NO_SERVER_FOR_ZONE");
    if (r.kind === "failed") return this.reject(link, user, r.key);
    if (r.kind === "transfer" || !this.serves(r.req.zone)) {
      // (the channel may have been placed elsewhere while the DB work ran: the row holds the
      // loaded state, so the next owner finds it as it is)
      this.metrics.attaches.inc({ result: "transfer" });
      return this.sendCtrl(link, ["transfer", { user, zone: r.kind === "transfer" ? r.zone : r.state.zone }]);
    }
    const key = r.req.zone;
    const world = this.worldFor(key)!;
    if (world.has(user) || this.sessions.get(user)) return this.reject(link, user, "INTERNAL");
    const e = world.join(user, clampCoord(r.state.x, this.opts.rules), clampCoord(r.state.y, this.opts.rules), this.clock.now());
    const s: Session = { user, name: r.state.name, zone: key, link, hp: r.state.hp, cells: [] };
    this.sessions.add(s);
    this.writeBehind.track(user, r.epoch);
    this.metrics.ccu.inc({ zone: s.zone });
    this.metrics.attaches.inc({ result: "ok" });
    if (r.adopted) this.writeBehind.markDirty(user);
    this.sendCtrl(link, ["attached", { user, enter: this.enterBody(s, e.x, e.y) }]);
    this.hook("entered", s);
  }

  /** Run a role hook; an exception is isolated like a handler's (logged, counted, the user sent to the safe spot). */
  private hook(name: "entered" | "leaving", s: Session): void {
    const fn = this.opts.hooks?.[name];
    if (!fn) return;
    try {
      fn.call(this.opts.hooks, this.ctx, s);
    } catch (err) {
      this.metrics.handlerErrors.inc({ type: `hook_${name}` });
      this.log.error({ err, user: s.user, hook: name }, "scene hook threw");
    }
  }

  /**
   * Online shard move (src/shard/mover.ts): hold these users' writes once their current
   * state is in the DB (WriteBehind.hold). Rejects while writes are paused or fenced.
   */
  async holdWrites(users: readonly number[]): Promise<{ held: { userId: number; epoch: number }[]; notOwned: number[]; busy: number[] }> {
    // a user whose attach (takeOwnership) is in flight cannot be held yet: the mover retries it
    const busy = users.filter((u) => this.pendingAttach.has(u));
    const r = await this.writeBehind.hold(users.filter((u) => !this.pendingAttach.has(u)));
    return { ...r, busy };
  }

  /** End a hold; with `epoch`, the users' owner epoch on their new shard. */
  releaseWrites(items: readonly { userId: number; epoch?: number }[]): void {
    this.writeBehind.unhold(items);
  }

  /** Whether this server serves a channel key now (can host its zone, and it is placed here). */
  serves(key: string): boolean {
    if (!this.canHost(key)) return false;
    return this.opts.placedHere ? this.opts.placedHere(key) : parseChannel(key).n === 1;
  }

  private enterBody(s: Session, x: number, y: number) {
    return {
      zone: baseZone(s.zone),
      channel: parseChannel(s.zone).n,
      server: this.opts.nodeId,
      self: { id: s.user, x, y, seq: 0, hp: s.hp },
      world: { size: this.opts.rules.worldSize, cell: this.opts.rules.cellSize },
    };
  }

  private onDetach(link: LinkId, user: number, reason: string): void {
    if (this.pendingAttach.get(user) === link) this.pendingAttach.delete(user);
    const s = this.sessions.get(user);
    if (!s || s.link !== link) return;
    this.log.debug({ user, reason }, "detach");
    void this.release(s);
  }

  private onLinkClosed(link: LinkId, gateway: string, code: number, reason: string): void {
    this.log.info({ link, gateway, code, reason }, "gateway link closed");
    for (const [user, l] of this.pendingAttach) if (l === link) this.pendingAttach.delete(user);
    for (const user of this.sessions.usersOf(link)) {
      const s = this.sessions.get(user);
      if (s) void this.release(s);
    }
    this.interest.dropLink(link);
    this.outbox.dropLink(link);
    this.links.delete(link);
    this.metrics.links.set(this.links.size);
    if (![...this.links.values()].includes(gateway)) this.metrics.sendQueueBytes.remove({ gateway });
  }

  // ------------------------------------------------------------------ users leaving

  /** Take a user out of the world and the tables; returns its last state. */
  private removeSession(s: Session, zone = baseZone(s.zone), pos?: { x: number; y: number }): PlayerState {
    this.hook("leaving", s);
    const e = this.worlds.get(s.zone)?.leave(s.user);
    this.sessions.remove(s.user);
    this.interest.remove(s.link, s.cells);
    this.guard.forget(s.user);
    this.faultIsolation.forget(s.user);
    this.metrics.ccu.dec({ zone: s.zone });
    return { userId: s.user, name: s.name, zone, x: pos?.x ?? e?.x ?? 0, y: pos?.y ?? e?.y ?? 0, hp: s.hp };
  }

  /** Remove and save (detach, link closed, hand-over): in its own zone, or at `to`. */
  private release(s: Session, to?: { zone: string; x: number; y: number }): Promise<FinalResult> {
    const state = this.removeSession(s, to?.zone, to);
    return this.writeBehind.release(s.user, state).then((r) => {
      if (r !== "saved") this.log.warn({ user: s.user, result: r }, "final write on leave not saved");
      return r;
    });
  }

  private kick(s: Session, key: ErrorKey, reason: string, save: boolean): void {
    this.log.warn({ user: s.user, key, reason }, "kicking user");
    this.metrics.kicks.inc({ key });
    const state = this.removeSession(s);
    if (save) void this.writeBehind.release(s.user, state);
    else this.writeBehind.forget(s.user);
    this.sendCtrl(s.link, ["kick", { user: s.user, key, reason }]);
  }

  /** Users whose state the DB has not taken for too long: disconnect them, keep the DB as the truth. */
  private dropOverdue(maxLagMs: number): void {
    const users = this.writeBehind.overdue(maxLagMs);
    if (users.length === 0) return;
    this.log.error({ users: users.length, maxLagMs }, "write-behind: state not saved for too long; disconnecting those users");
    for (const user of users) {
      const s = this.sessions.get(user);
      if (s) this.kick(s, "PERSIST_UNAVAILABLE", `not saved for ${maxLagMs} ms`, false);
      else this.writeBehind.forget(user);
    }
  }

  /** A periodic write was fenced: another server owns the user now; the DB is the truth. */
  private onFenced(user: number): void {
    const s = this.sessions.get(user);
    if (s) this.kick(s, "PERSIST_REJECTED", "owner epoch changed", false);
  }

  private travel(s: Session, zone: string, pos?: { x: number; y: number }): void {
    const link = s.link;
    this.opts.gameLog?.log("transfer", s.user, { from: s.zone, to: zone, server: this.opts.nodeId });
    const state = this.removeSession(s, zone, pos ?? spawnPoint(zone, this.opts.rules));
    void this.writeBehind.release(s.user, state).then((r) => this.transferOrKick(link, s.user, zone, r, "travel"));
  }

  /** After a user's final write: re-attach it at `zone`'s owner (saved) or disconnect it (the DB is the truth). */
  private transferOrKick(link: LinkId, user: number, zone: string, r: FinalResult, why: string): void {
    if (r === "saved") return this.sendCtrl(link, ["transfer", { user, zone }]);
    this.metrics.kicks.inc({ key: "PERSIST_REJECTED" });
    this.sendCtrl(link, ["kick", { user, key: "PERSIST_REJECTED", reason: `${why}: ${r}` }]);
  }

  /** Control ops ride with the next tick frame; with the loop stopped they go out at once. */
  private sendCtrl(link: LinkId, op: CtrlOut): void {
    if (this.looping) this.outbox.ctrl(link, op);
    else this.opts.io.send(ioUnitOfLink(link), { k: "ctrl", link, ctrl: [op] });
  }

  private snapshot(user: number): PlayerState | undefined {
    const s = this.sessions.get(user);
    const e = s && this.worlds.get(s.zone)?.get(user);
    return s && e ? { userId: user, name: s.name, zone: baseZone(s.zone), x: e.x, y: e.y, hp: s.hp } : undefined;
  }

  // ------------------------------------------------------------------ the tick

  private makeContext(): SceneContext {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const host = this;
    return {
      get now() {
        return host.now;
      },
      world: (zone) => this.worlds.get(zone),
      reply: (s, type, body) => this.outbox.direct(s.link, s.user, [type, body]),
      error: (s, key, detail) => this.outbox.direct(s.link, s.user, ["error", { code: ErrorCatalog[key].code, message: detail ? `${ErrorCatalog[key].message}: ${detail}` : ErrorCatalog[key].message }]),
      dropped: (reason) => this.metrics.dropped.inc({ reason }),
      dirty: (s) => this.writeBehind.markDirty(s.user),
      travel: (s, zone, pos) => this.travel(s, zone, pos),
      zoneExists: (zone) => this.serves(zone) || (this.opts.zoneExists?.(zone) ?? false),
      session: (user) => this.sessions.get(user),
      sessionsIn: (key) => this.sessions.inZone(key),
      setHp: (s, hp) => {
        if (s.hp === hp) return;
        s.hp = hp;
        this.writeBehind.markDirty(s.user);
      },
      epochOf: (user) => this.writeBehind.epochOf(user),
      dropWorld: (key) => this.dropWorld(key),
      nodeId: this.opts.nodeId,
    };
  }

  private dispatch(item: QueuedInput): void {
    const s = this.sessions.get(item.user);
    if (!s || s.link !== item.link) {
      this.metrics.dropped.inc({ reason: "unknown_user" });
      return;
    }
    const handler = this.opts.handlers[item.type as keyof ClientSchemaTable] as ((ctx: SceneContext, s: Session, body: unknown) => void) | undefined;
    if (!handler) {
      this.ctx.error(s, "PROTO_UNEXPECTED", `${item.type} is not handled by this server`);
      return;
    }
    this.faultIsolation.record(s.user, this.tickNo, item.type, item.body);
    try {
      this.faultIsolation.maybeThrow(s.user);
      handler(this.ctx, s, item.body);
    } catch (err) {
      this.onHandlerFault(s, item.type, err);
    }
  }

  /**
   * A handler threw for this user (DESIGN "Fail gracefully"): count it, store the error trace
   * (stack + the user's recent messages, server, tick) in the game log, and send the player
   * to the zone's safe spot with an error event — the connection stays, everyone else plays
   * on. A user that faults again and again (fault-isolation.ts) is disconnected politely.
   */
  private onHandlerFault(s: Session, type: string, err: unknown): void {
    this.metrics.handlerErrors.inc({ type });
    const { action, trace } = this.faultIsolation.fault(s.user, this.tickNo, type, err, this.clock.now());
    this.log.error({ user: s.user, type, tick: trace.tick, err: trace.error, stack: trace.stack, recent: trace.recent, action }, "message handler threw; player isolated");
    this.opts.gameLog?.log("error", s.user, { ...trace, action } as unknown as Record<string, unknown>);
    if (action === "kick") {
      this.kick(s, "HANDLER_CRASH_LOOP", `${trace.faultsInWindow} faults`, true);
      return;
    }
    this.toSafeSpot(s, trace);
  }

  /** Move the player to its zone's safe spot (spawn point), tell it, save it. */
  private toSafeSpot(s: Session, trace: FaultTrace): void {
    const world = this.worlds.get(s.zone);
    if (!world) return;
    const spot = spawnPoint(baseZone(s.zone), this.opts.rules);
    world.leave(s.user);
    const e = world.join(s.user, spot.x, spot.y, this.now);
    this.interest.remove(s.link, s.cells);
    s.cells = [];
    this.writeBehind.markDirty(s.user);
    this.outbox.direct(s.link, s.user, ["error", { code: ErrorCatalog.HANDLER_FAILED.code, message: `${ErrorCatalog.HANDLER_FAILED.message} (${trace.type}, tick ${trace.tick}): moved to the safe spot` }]);
    this.outbox.direct(s.link, s.user, ["enter", this.enterBody(s, e.x, e.y)]);
  }

  /** Ops drill / tests: the next `count` messages of `user` throw inside the handler boundary. */
  injectFault(user: number, count = 1): void {
    this.faultIsolation.inject(user, count);
  }

  /** One tick: consume the queue, close the worlds' tick, hand the output to the IO units. */
  tick(tick: number, now: number): void {
    this.now = now;
    this.tickNo = tick;
    const t0 = performance.now();
    this.queue.drain((item) => this.dispatch(item));
    if (this.opts.hooks?.tick) {
      try {
        this.opts.hooks.tick(this.ctx);
      } catch (err) {
        this.metrics.handlerErrors.inc({ type: "hook_tick" });
        this.log.error({ err, tick }, "scene tick hook threw");
      }
    }
    this.metrics.queueConsume.observe((performance.now() - t0) / 1000);
    this.metrics.queueLength.set(this.queue.length);
    const changed: CellOut[] = [];
    for (const world of this.worlds.values()) {
      const ch = world.endTick();
      for (const c of ch.cells) changed.push({ c: c.cell, m: c.moved, g: c.gone });
      for (const v of ch.views) {
        const s = this.sessions.get(v.id);
        if (!s) continue;
        this.interest.remove(s.link, s.cells);
        this.interest.add(s.link, v.cells);
        s.cells = v.cells;
        this.outbox.subs(s.link, s.user, v.cells);
        this.outbox.direct(s.link, s.user, ["aoi", { add: v.add, remove: v.remove }]);
      }
    }
    const cmds = this.outbox.buildTick(tick >>> 0, changed, this.interest, this.opts.io.units);
    cmds.forEach((cmd, unit) => this.opts.io.send(unit, cmd));
    if (this.loop.stats.skipped > this.skippedSeen) {
      this.metrics.ticksSkipped.inc(this.loop.stats.skipped - this.skippedSeen);
      this.skippedSeen = this.loop.stats.skipped;
    }
    if (tick % 200 === 0) {
      this.guard.sweep(this.clock.now());
      this.faultIsolation.sweep(this.clock.now());
    }
    if (tick % 10 === 0 && this.opts.maxFlushLagMs) this.dropOverdue(this.opts.maxFlushLagMs);
  }

  // ------------------------------------------------------------------ shutdown

  /** Save the user's state, then tell its gateway to re-attach it at the zone's owner. */
  private async handOver(s: Session, why: string): Promise<void> {
    const link = s.link;
    const to = this.opts.handOverTo?.(s);
    const zone = to?.zone ?? baseZone(s.zone);
    this.handoversRunning++;
    const r = await this.release(s, to).finally(() => this.handoversRunning--);
    if (r === "saved") this.metrics.handovers.inc({ reason: why });
    this.transferOrKick(link, s.user, zone, r, why);
  }

  /**
   * The channel (`zone`: a channel key) is no longer placed here: hand every user in it over (final write, then
   * `transfer`). Resolves when all of them were handed over or kicked.
   */
  async handOverZone(zone: string): Promise<number> {
    const users = this.sessions.inZone(zone);
    // (attaches in flight for this zone end in onAttachResult: serves() is false now)
    if (users.length > 0) this.log.info({ zone, users: users.length }, "zone placed elsewhere: handing users over");
    await Promise.all(users.map((s) => this.handOver(s, "zone-moved")));
    return users.length;
  }

  /** Hand-overs whose final write has not settled yet. */
  get handoversInFlight(): number {
    return this.handoversRunning;
  }

  /** Users per zone (published in membership so the coordinator can estimate zone load). */
  zoneLoad(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const z of this.opts.zones) out[z] = 0;
    for (const s of this.sessions.values()) out[s.zone] = (out[s.zone] ?? 0) + 1;
    return out;
  }

  /** ZooKeeper connection lost (session may survive): hold writes. */
  suspendWrites(): void {
    if (!this.writeBehind.isPaused) this.log.warn("zookeeper connection lost: holding writes");
    this.writeBehind.pause();
  }

  /** ZooKeeper connection back with the same session: release held writes. */
  resumeWrites(): void {
    if (this.fenced) return;
    if (this.writeBehind.isPaused) this.log.info("zookeeper connection back: writing again");
    this.writeBehind.resume();
  }

  get isFenced(): boolean {
    return this.fenced;
  }

  /**
   * ZooKeeper session lost: another server may take our users over at any moment. Refuse
   * attaches, drop every pending write without writing, and send every user's gateway
   * `transfer` (it re-attaches the user wherever the zone is placed; that owner loads the
   * last flushed state). Returns the number of users dropped.
   */
  fence(): number {
    if (this.fenced) return 0;
    this.fenced = true;
    this.writeBehind.pause();
    this.writeBehind.fenceAll();
    this.pendingAttach.clear();
    const users = [...this.sessions.values()];
    this.log.warn({ users: users.length }, "zookeeper session lost: self-fencing (no writes, users handed back to their gateways)");
    for (const s of users) {
      const link = s.link;
      const zone = baseZone(s.zone);
      this.removeSession(s);
      this.metrics.handovers.inc({ reason: "fenced" });
      this.sendCtrl(link, ["transfer", { user: s.user, zone }]);
    }
    return users.length;
  }

  /** A new ZooKeeper session: accept users again (each attach takes ownership afresh). */
  unfence(): void {
    if (!this.fenced) return;
    this.fenced = false;
    this.writeBehind.resume();
    this.log.info("new zookeeper session: accepting users again");
  }

  /** Refuse new attaches (rejected NO_SERVER_FOR_ZONE: the gateway retries elsewhere). */
  stopAccepting(): void {
    this.accepting = false;
  }

  /** The graceful sequence described in the module comment. Idempotent enough for lifecycle use. */
  async shutdown(): Promise<void> {
    this.stopAccepting();
    if (this.looping) {
      this.loop.stop();
      this.tick(this.loop.stats.ticks + 1, this.clock.now()); // last inputs and outputs
      this.looping = false;
    }
    const users = [...this.sessions.values()];
    this.log.info({ users: users.length }, "releasing users for shutdown");
    await Promise.all(users.map((s) => this.handOver(s, "shutdown")));
    await this.writeBehind.drain();
    this.writeBehind.stop();
    for (const [link, ctrl] of this.outbox.takeCtrl()) this.opts.io.send(ioUnitOfLink(link), { k: "ctrl", link, ctrl });
    await this.opts.io.stop(ErrorCatalog.SHUTTING_DOWN.close, ErrorCatalog.SHUTTING_DOWN.code);
  }
}

/**
 * RiftClient: the typed client SDK (bots, tests, the browser demo).
 *
 *   const c = await RiftClient.connect("ws://127.0.0.1:7000");
 *   await c.hello();
 *   await c.login("alice", "secret-pw");      // or c.login({ token })
 *   const enter = await c.waitForEnter();
 *   c.on("entity-move", (e) => …);
 *   c.move(enter.self.x + 3, enter.self.y);  // seq assigned automatically
 *
 * - Requests (`hello`, `register`, `login`, `ping`) return promises; a non-fatal `error`
 *   reply rejects the pending register/login with a RiftError of that code; a close rejects
 *   everything pending with the RiftError of the close code.
 * - Frames are applied as units (see entities.ts): `entity-enter` / `entity-move` /
 *   `entity-leave` events, the `entities` map and `self` are consistent after each frame.
 * - Validation: every server message is checked against ServerSchemas unless
 *   `validate: false`; a server message that fails closes the connection (PROTO_* code).
 * - Bots: `onSelfSeq(cb)` reports the own record (seq, x, y) found by a byte scan; with
 *   `trackEntities: false` frames that only hold cell/aoi changes are never decoded.
 * - The `close` event carries the catalog entry of the close code (1009 → PROTO_TOO_LARGE).
 */
import { ErrorCatalog, errorByCloseCode, errorByCode, RiftError, type ErrorDef, type ErrorKey } from "../core/errors.js";
import { encodeEnvelope, PROTOCOL_VERSION, ProtocolError, unpackStream, validateEnvelope } from "../core/protocol/codec.js";
import { ServerSchemas, type ServerBody, type ServerMessage } from "../core/protocol/messages.js";
import { VisibleEntities, type Entity } from "./entities.js";
import { scanSelf } from "../core/protocol/self-scan.js";
import type { ClientTransport, TransportFactory } from "./transport.js";

export interface CloseInfo {
  code: number;
  reason: string;
  /** The catalog entry of the close code, when it is one of ours (or 1009). */
  error: (ErrorDef & { key: ErrorKey }) | undefined;
}

export interface RiftClientEvents {
  welcome: ServerBody<"welcome">;
  session: ServerBody<"session">;
  enter: ServerBody<"enter">;
  "entity-enter": Entity;
  "entity-move": Entity;
  "entity-leave": { id: number };
  /** The own entity moved (server-confirmed position). */
  self: Entity;
  relocated: ServerBody<"relocated">;
  /** A non-fatal error reply from the server. */
  error: ServerBody<"error">;
  pong: ServerBody<"pong">;
  /** Chat (docs/CHAT.md): a message, a channel's history on join, a refused post/join, a system notice. */
  chat: ServerBody<"chat">;
  chatHistory: ServerBody<"chatHistory">;
  chatError: ServerBody<"chatError">;
  chatNotice: ServerBody<"chatNotice">;
  /** Features enabled for this user (after login and on every change; issue #9). */
  features: ServerBody<"features">;
  /** The shop catalogue (answer to `shopList`). */
  shop: ServerBody<"shop">;
  /** Dungeons (docs/PROTOCOL.md §Dungeons): party forming, instance state, a reward drop; `inventory` answers. */
  dungeonParty: ServerBody<"dungeonParty">;
  dungeon: ServerBody<"dungeon">;
  reward: ServerBody<"reward">;
  inventory: ServerBody<"inventory">;
  /** Trades (docs/PROTOCOL.md §Trades): waiting / offered / committed / aborted / inDoubt / cancelled. */
  tradeStatus: ServerBody<"tradeStatus">;
  /** Every server message after validation (debugging, tests). */
  message: ServerMessage;
  close: CloseInfo;
}

type Listener<T> = (payload: T) => void;

export interface RiftClientOptions {
  /** Validate server messages with ServerSchemas (default true). */
  validate?: boolean;
  /** Maintain the visible-entity map and entity events (default true). */
  trackEntities?: boolean;
  /** `hello.client` (default "rift-sdk"). */
  clientName?: string;
  /** Reject requests not answered within this (default 10 000 ms). */
  requestTimeoutMs?: number;
  /** Transport factory (default: Node `ws`, loaded lazily). */
  transport?: TransportFactory;
}

/** Map a close code to its catalog entry; ws's 1009 (frame too big) is PROTO_TOO_LARGE. */
export function closeError(code: number): (ErrorDef & { key: ErrorKey }) | undefined {
  if (code === 1009) return { ...ErrorCatalog.PROTO_TOO_LARGE, key: "PROTO_TOO_LARGE" };
  return errorByCloseCode(code);
}

interface Pending<T> {
  resolve: (v: T) => void;
  reject: (e: unknown) => void;
  timer: ReturnType<typeof setTimeout>;
}

export class RiftClient {
  private transport: ClientTransport | undefined;
  private readonly listeners = new Map<keyof RiftClientEvents, Set<Listener<never>>>();
  private readonly selfSeqListeners = new Set<(seq: number, x: number, y: number) => void>();
  private readonly opts: Required<Omit<RiftClientOptions, "transport">> & { transport?: TransportFactory };
  private readonly visible = new VisibleEntities();
  private pendingHello: Pending<ServerBody<"welcome">> | undefined;
  private pendingAuth: { kind: "register" | "login"; p: Pending<unknown> } | undefined;
  private readonly pendingPings = new Map<number, Pending<number>>();
  /** `analytics` events waiting for `analyticsAck` (by id; the gateway answers in order). */
  private readonly pendingAnalytics = new Map<number, Pending<void>>();
  private analyticsId = 0;
  private enterWaiters: Pending<ServerBody<"enter">>[] = [];
  private seq = 0;
  private closeInfo: CloseInfo | undefined;
  private closeWaiters: ((c: CloseInfo) => void)[] = [];

  /** Last `welcome`, `session`, `enter`. */
  welcome: ServerBody<"welcome"> | undefined;
  session: ServerBody<"session"> | undefined;
  lastEnter: ServerBody<"enter"> | undefined;
  /** Enabled features: `welcome.features`, then the last `features` message (issue #9). */
  features: string[] | undefined;
  /** Own entity as last confirmed by the server. */
  self: Entity | undefined;
  zone: string | undefined;
  /** Own hit points: from `enter`, then `dungeon` party state and `reward`. */
  hp: number | undefined;

  constructor(opts: RiftClientOptions = {}) {
    this.opts = {
      validate: opts.validate ?? true,
      trackEntities: opts.trackEntities ?? true,
      clientName: opts.clientName ?? "rift-sdk",
      requestTimeoutMs: opts.requestTimeoutMs ?? 10_000,
      ...(opts.transport ? { transport: opts.transport } : {}),
    };
  }

  /** Create a client and open the connection. */
  static async connect(url: string, opts: RiftClientOptions = {}): Promise<RiftClient> {
    const c = new RiftClient(opts);
    await c.open(url);
    return c;
  }

  async open(url: string): Promise<void> {
    const factory = this.opts.transport ?? (await import("./node-transport.js")).nodeTransport();
    this.transport = await factory(url, {
      onMessage: (data, binary) => this.onFrame(data, binary),
      onClose: (code, reason) => this.onClosed(code, reason),
    });
  }

  // ---- events ----

  on<K extends keyof RiftClientEvents>(event: K, fn: Listener<RiftClientEvents[K]>): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(fn as Listener<never>);
    return () => set.delete(fn as Listener<never>);
  }

  once<K extends keyof RiftClientEvents>(event: K): Promise<RiftClientEvents[K]> {
    return new Promise((resolve) => {
      const off = this.on(event, (p) => {
        off();
        resolve(p);
      });
    });
  }

  private emit<K extends keyof RiftClientEvents>(event: K, payload: RiftClientEvents[K]): void {
    const set = this.listeners.get(event);
    if (!set) return;
    for (const fn of [...set]) (fn as Listener<RiftClientEvents[K]>)(payload);
  }

  /** Fast path for bots: called with the own record's (seq, x, y) whenever a frame carries it. */
  onSelfSeq(fn: (seq: number, x: number, y: number) => void): () => void {
    this.selfSeqListeners.add(fn);
    return () => this.selfSeqListeners.delete(fn);
  }

  // ---- state ----

  /** Entities currently visible (without the own entity). */
  get entities(): ReadonlyMap<number, Entity> {
    const m = new Map<number, Entity>();
    for (const e of this.visible.all()) m.set(e.id, e);
    return m;
  }

  entity(id: number): Entity | undefined {
    return this.visible.get(id);
  }

  get visibleCount(): number {
    return this.visible.size;
  }

  get closed(): CloseInfo | undefined {
    return this.closeInfo;
  }

  /** Next `move` sequence number that will be used. */
  get nextSeq(): number {
    return this.seq + 1;
  }

  // ---- requests ----

  private request<T>(assign: (p: Pending<T>) => void, what: string): Promise<T> {
    if (this.closeInfo) return Promise.reject(this.closedError());
    return new Promise<T>((resolve, reject) => {
      const p: Pending<T> = {
        resolve,
        reject,
        timer: setTimeout(() => reject(new Error(`${what}: no reply within ${this.opts.requestTimeoutMs} ms`)), this.opts.requestTimeoutMs),
      };
      assign(p);
    });
  }

  hello(): Promise<ServerBody<"welcome">> {
    const p = this.request<ServerBody<"welcome">>((p) => (this.pendingHello = p), "hello");
    this.send("hello", { proto: PROTOCOL_VERSION, client: this.opts.clientName });
    return p;
  }

  register(name: string, password: string): Promise<ServerBody<"registered">> {
    const p = this.request<ServerBody<"registered">>((p) => (this.pendingAuth = { kind: "register", p: p as Pending<unknown> }), "register");
    this.send("register", { name, password });
    return p;
  }

  login(name: string, password: string): Promise<ServerBody<"session">>;
  login(cred: { token: string }): Promise<ServerBody<"session">>;
  login(a: string | { token: string }, password?: string): Promise<ServerBody<"session">> {
    const p = this.request<ServerBody<"session">>((p) => (this.pendingAuth = { kind: "login", p: p as Pending<unknown> }), "login");
    this.send("login", typeof a === "string" ? { name: a, password: password ?? "" } : { token: a.token });
    return p;
  }

  /** Resolves with the next `enter` (or the current one if already entered and `current`). */
  waitForEnter(current = true): Promise<ServerBody<"enter">> {
    if (current && this.lastEnter) return Promise.resolve(this.lastEnter);
    return this.request<ServerBody<"enter">>((p) => this.enterWaiters.push(p), "enter");
  }

  /** Walk toward (x, y). Returns the sequence number used. */
  move(x: number, y: number): number {
    const seq = ++this.seq;
    this.send("move", { seq, x, y });
    return seq;
  }

  travel(zone: string): void {
    this.send("travel", { zone });
  }

  // ---- chat (docs/CHAT.md) ----

  /** Post to `world`, `zone` (the current zone), `party:<id>` or `guild:<id>`. Refusals arrive as `chatError` events. */
  chat(ch: string, text: string): void {
    this.send("chat", { ch, text });
  }

  /** Private message to the online user named `to`. */
  whisper(to: string, text: string): void {
    this.send("whisper", { to, text });
  }

  /** Join a `party:<id>` / `guild:<id>` channel (its history follows as `chatHistory`). */
  joinChannel(ch: string): void {
    this.send("chatJoin", { ch });
  }

  /** Ask for the shop catalogue: a `shop` event, or an `error` event (re: "shopList") such as RIFT_FEATURE_DISABLED. */
  shopList(): void {
    this.send("shopList", {});
  }

  leaveChannel(ch: string): void {
    this.send("chatLeave", { ch });
  }

  /**
   * Ask to enter dungeon `kind` with `party` (user ids including your own; every member must
   * ask with the same list). Events: `dungeonParty` while forming, then `relocated` + `enter`
   * in the instance and `dungeon` state; `error` RIFT_DUNGEON_PARTY / RIFT_DUNGEON_UNAVAILABLE.
   */
  enterDungeon(kind: string, party: number[]): void {
    this.send("dungeonEnter", { kind, party });
  }

  /** In a dungeon: attack monster `target` (see the `dungeon` event's monsters). */
  attack(target: number): void {
    this.send("attack", { target });
  }

  /** In a dungeon: go back to the field zone you came from. */
  leaveDungeon(): void {
    this.send("leaveDungeon", {});
  }

  /** Your items and currency, from the server that owns you. */
  inventory(timeoutMs = this.opts.requestTimeoutMs): Promise<ServerBody<"inventory">> {
    const p = this.waitForEvent("inventory", () => true, timeoutMs);
    this.send("inventory", {});
    return p;
  }

  /**
   * Propose (or accept, by mirroring an `offered` status) a trade with user `withUser`: you
   * hand over `give`, you receive `get`. Events: `tradeStatus` (waiting, then committed /
   * aborted / inDoubt / cancelled); `error` RIFT_TRADE_REJECTED for a malformed proposal.
   */
  trade(withUser: number, give: { items: number[]; currency: number }, get: { items: number[]; currency: number }): void {
    this.send("trade", { with: withUser, give, get });
  }

  /** Withdraw your open trade proposal to `withUser` (`tradeStatus cancelled`). */
  cancelTrade(withUser: number): void {
    this.send("tradeCancel", { with: withUser });
  }

  /**
   * Resolves with the first `event` payload (from now on) for which `pred` holds; rejects after
   * `timeoutMs` or when the connection closes.
   */
  waitForEvent<K extends "chat" | "chatHistory" | "chatError" | "chatNotice" | "relocated" | "error" | "features" | "shop" | "dungeonParty" | "dungeon" | "reward" | "inventory" | "enter" | "tradeStatus">(
    event: K,
    pred: (p: RiftClientEvents[K]) => boolean = () => true,
    timeoutMs = this.opts.requestTimeoutMs,
  ): Promise<RiftClientEvents[K]> {
    if (this.closeInfo) return Promise.reject(this.closedError());
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        off();
        offClose();
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`${event}: none matching within ${timeoutMs} ms`));
      }, timeoutMs);
      const off = this.on(event, (p) => {
        if (!pred(p)) return;
        done();
        resolve(p);
      });
      const offClose = this.on("close", () => {
        done();
        reject(this.closedError());
      });
    });
  }

  /** Round trip to the gateway in ms. */
  ping(): Promise<number> {
    let t = performance.now();
    while (this.pendingPings.has(t)) t += 1e-6;
    const p = this.request<number>((p) => this.pendingPings.set(t, p), "ping");
    this.send("ping", { t });
    return p;
  }

  /**
   * Record a client analytics event (after login). Resolves when the gateway acknowledged it
   * (queued durably: it will reach the analytics table); rejects with RiftError
   * ANALYTICS_UNAVAILABLE, a timeout, or the close error. Props: at most 16 keys with
   * string (≤ 256 chars), number, boolean or null values.
   */
  analytics(name: string, props: Record<string, string | number | boolean | null> = {}): Promise<void> {
    const id = (this.analyticsId = (this.analyticsId + 1) >>> 0);
    const p = this.request<void>((p) => this.pendingAnalytics.set(id, p), "analytics");
    p.catch(() => undefined).finally(() => this.pendingAnalytics.delete(id));
    this.send("analytics", { id, name, props, at: Date.now() });
    return p;
  }

  /** Send any bytes as one binary frame (tests of the server's input validation). */
  sendRaw(bytes: Uint8Array): void {
    this.transport?.send(bytes);
  }

  private send(type: string, body: unknown): void {
    if (!this.transport || this.closeInfo) return;
    this.transport.send(encodeEnvelope(type, body));
  }

  /** Close the connection; resolves with the close info. */
  close(code = 1000, reason = ""): Promise<CloseInfo> {
    if (this.closeInfo) return Promise.resolve(this.closeInfo);
    const p = new Promise<CloseInfo>((r) => this.closeWaiters.push(r));
    this.transport?.close(code, reason);
    return p;
  }

  /** Resolves when the connection is closed (by either side). */
  waitClosed(): Promise<CloseInfo> {
    if (this.closeInfo) return Promise.resolve(this.closeInfo);
    return new Promise<CloseInfo>((r) => this.closeWaiters.push(r));
  }

  // ---- input ----

  private onFrame(bytes: Uint8Array, binary: boolean): void {
    if (this.closeInfo) return;
    if (!binary) return this.protocolFailure(new ProtocolError("PROTO_NOT_BINARY"));
    const fast = !this.opts.trackEntities && this.self !== undefined;
    if (fast) {
      let other: boolean;
      try {
        const r = scanSelf(bytes, this.self!.id);
        if (r.self) this.selfUpdate({ id: this.self!.id, ...r.self });
        other = r.other;
      } catch (e) {
        return this.protocolFailure(new ProtocolError("PROTO_MALFORMED", (e as Error).message));
      }
      if (!other) return;
    }
    let msgs: ServerMessage[];
    try {
      msgs = unpackStream(bytes).map((v) => (this.opts.validate ? validateEnvelope(ServerSchemas, v) : looseEnvelope(v))) as ServerMessage[];
    } catch (e) {
      return this.protocolFailure(e instanceof ProtocolError ? e : new ProtocolError("PROTO_MALFORMED", String(e)));
    }
    const removals: number[] = [];
    const blobs: Uint8Array[] = [];
    for (const msg of msgs) {
      this.emit("message", msg);
      switch (msg.t) {
        case "cell":
          if (!fast) {
            for (const id of msg.b.g) removals.push(id);
            blobs.push(msg.b.m);
          }
          break;
        case "aoi":
          if (!fast) {
            for (const id of msg.b.remove) removals.push(id);
            blobs.push(msg.b.add);
          }
          break;
        default:
          this.dispatch(msg);
      }
    }
    if (blobs.length > 0 || removals.length > 0) this.applyEntities(removals, blobs);
  }

  private applyEntities(removals: number[], blobs: Uint8Array[]): void {
    if (!this.opts.trackEntities) return; // fast mode: the own record comes from scanSelf
    const ch = this.visible.apply(removals, blobs);
    if (ch.self) this.selfUpdate(ch.self);
    for (const id of ch.left) this.emit("entity-leave", { id });
    for (const e of ch.entered) this.emit("entity-enter", e);
    for (const e of ch.moved) this.emit("entity-move", e);
  }

  private selfUpdate(e: Entity): void {
    this.self = e;
    if (e.seq > this.seq) this.seq = e.seq;
    for (const fn of [...this.selfSeqListeners]) fn(e.seq, e.x, e.y);
    this.emit("self", e);
  }

  private dispatch(msg: ServerMessage): void {
    switch (msg.t) {
      case "welcome": {
        this.welcome = msg.b;
        this.features = msg.b.features;
        const p = this.pendingHello;
        this.pendingHello = undefined;
        if (p) {
          clearTimeout(p.timer);
          p.resolve(msg.b);
        }
        this.emit("welcome", msg.b);
        break;
      }
      case "registered":
        this.settleAuth("register", msg.b);
        break;
      case "session":
        this.session = msg.b;
        this.settleAuth("login", msg.b);
        this.emit("session", msg.b);
        break;
      case "enter": {
        this.lastEnter = msg.b;
        this.zone = msg.b.zone;
        for (const id of this.visible.clear()) this.emit("entity-leave", { id });
        this.visible.selfId = msg.b.self.id;
        this.self = { id: msg.b.self.id, x: msg.b.self.x, y: msg.b.self.y, seq: msg.b.self.seq };
        if (msg.b.self.hp !== undefined) this.hp = msg.b.self.hp;
        if (msg.b.self.seq > this.seq) this.seq = msg.b.self.seq;
        const waiters = this.enterWaiters;
        this.enterWaiters = [];
        for (const w of waiters) {
          clearTimeout(w.timer);
          w.resolve(msg.b);
        }
        this.emit("enter", msg.b);
        break;
      }
      case "relocated":
        this.zone = msg.b.zone;
        this.emit("relocated", msg.b);
        break;
      case "pong": {
        const p = this.pendingPings.get(msg.b.t);
        if (p) {
          this.pendingPings.delete(msg.b.t);
          clearTimeout(p.timer);
          p.resolve(performance.now() - msg.b.t);
        }
        this.emit("pong", msg.b);
        break;
      }
      case "chat":
      case "chatHistory":
      case "chatError":
      case "chatNotice":
      case "shop":
      case "dungeonParty":
      case "inventory":
      case "tradeStatus":
        this.emit(msg.t, msg.b as never);
        break;
      case "dungeon": {
        const me = msg.b.party.find((m) => m.id === this.session?.userId);
        if (me && me.hp > 0) this.hp = me.hp;
        this.emit("dungeon", msg.b);
        break;
      }
      case "reward":
        this.hp = msg.b.hp;
        this.emit("reward", msg.b);
        break;
      case "features":
        this.features = msg.b.features;
        this.emit("features", msg.b);
        break;
      case "analyticsAck": {
        const p = this.pendingAnalytics.get(msg.b.id);
        if (p) {
          this.pendingAnalytics.delete(msg.b.id);
          clearTimeout(p.timer);
          p.resolve();
        }
        break;
      }
      case "error": {
        if (msg.b.re === "analytics") {
          // answers come in order: the oldest pending analytics event failed
          const first = this.pendingAnalytics.entries().next().value;
          if (first) {
            this.pendingAnalytics.delete(first[0]);
            clearTimeout(first[1].timer);
            first[1].reject(new RiftError(errorByCode(msg.b.code)?.key ?? "INTERNAL", msg.b.message));
          }
        }
        const a = this.pendingAuth;
        if (a) {
          this.pendingAuth = undefined;
          clearTimeout(a.p.timer);
          const entry = errorByCode(msg.b.code)?.key;
          a.p.reject(new RiftError(entry ?? "INTERNAL", msg.b.message));
        }
        this.emit("error", msg.b);
        break;
      }
      default:
        break;
    }
  }

  private settleAuth(kind: "register" | "login", body: unknown): void {
    const a = this.pendingAuth;
    if (!a || a.kind !== kind) return;
    this.pendingAuth = undefined;
    clearTimeout(a.p.timer);
    a.p.resolve(body);
  }

  private protocolFailure(e: ProtocolError): void {
    const code = (ErrorCatalog[e.key] as ErrorDef).close ?? 4001;
    this.transport?.close(code, e.code);
    this.onClosed(code, e.message.slice(0, 120));
  }

  private closedError(): RiftError {
    const info = this.closeInfo!;
    return new RiftError(info.error?.key ?? "INTERNAL", `connection closed (${info.code}${info.reason ? " " + info.reason : ""})`);
  }

  private onClosed(code: number, reason: string): void {
    if (this.closeInfo) return;
    this.closeInfo = { code, reason, error: closeError(code) };
    const err = this.closedError();
    const all: Pending<never>[] = [
      ...(this.pendingHello ? [this.pendingHello] : []),
      ...(this.pendingAuth ? [this.pendingAuth.p] : []),
      ...this.pendingPings.values(),
      ...this.pendingAnalytics.values(),
      ...this.enterWaiters,
    ] as Pending<never>[];
    this.pendingAnalytics.clear();
    this.pendingHello = undefined;
    this.pendingAuth = undefined;
    this.pendingPings.clear();
    this.enterWaiters = [];
    for (const p of all) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.emit("close", this.closeInfo);
    for (const w of this.closeWaiters) w(this.closeInfo);
    this.closeWaiters = [];
  }
}

/** Without validation: just the envelope shape, bodies trusted. */
function looseEnvelope(v: unknown): ServerMessage {
  if (!Array.isArray(v) || v.length !== 3 || typeof v[1] !== "string") throw new ProtocolError("PROTO_MALFORMED", "envelope must be [version, type, body]");
  return { t: v[1], b: v[2] } as ServerMessage;
}

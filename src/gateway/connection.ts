/**
 * One client connection: the protocol state machine of docs/PROTOCOL.md §Handshake.
 *
 *   hello ──hello──▶ auth ──login──▶ (authing) ──▶ attaching ──enter──▶ playing
 *                     ▲  └─register─▶ (authing) ─┘        ▲                │
 *                     └───── registered / error ────┘      └── relocated ───┘
 *
 * Every frame is checked in this order: binary (else PROTO_NOT_BINARY) → rate limit (token
 * bucket, else RATE_LIMITED) → decode + schema (PROTO_* from the codec) → allowed in this
 * state (else PROTO_UNEXPECTED). Any violation closes THIS connection with the catalogued
 * close code; nothing here throws into the caller. `move`/`travel` sent before `enter`
 * (while logging in or being relocated) are ignored; `move.seq` must strictly increase
 * (else PROTO_REPLAY). A `session` must be reached within `handshakeTimeoutMs`
 * (else HANDSHAKE_TIMEOUT). Output goes through a BoundedSender (SEND_QUEUE_FULL).
 * Chat (`chat`, `whisper`, `chatJoin`, `chatLeave`) is accepted once the session exists —
 * also while the game route is being relocated — and handed to the ChatApi (docs/CHAT.md).
 */
import { ErrorCatalog, RiftError, type ErrorDef, type ErrorKey } from "../core/errors.js";
import type { Logger } from "../core/log.js";
import { decodeOne, encodeEnvelope, PROTOCOL_VERSION, ProtocolError } from "../core/protocol/codec.js";
import { ClientSchemas, type ClientMessage } from "../core/protocol/messages.js";
import { scanSelf } from "../core/protocol/self-scan.js";
import type { Authenticator, LoginResult } from "./auth.js";
import type { ChatApi } from "./chat.js";
import type { GatewayMetrics } from "./metrics.js";
import { TokenBucket } from "./rate-limiter.js";
import { BoundedSender } from "./send-queue.js";
import { FEATURE_OF_REQUEST, SHOP_CATALOGUE, type FeatureGate } from "./shop.js";
import type { ShopCatalog } from "./shop-catalog.js";
import type { AnalyticsSink } from "../core/ops/analytics.js";
import type { GameLogSink } from "../core/ops/game-log.js";
import type { SessionHub } from "./sessions.js";
import type { ClientSocket, RoutedClient, UserRouterApi } from "./types.js";

export type ConnState = "hello" | "auth" | "authing" | "attaching" | "playing" | "closed";

export interface ConnectionLimits {
  maxPayloadBytes: number;
  handshakeTimeoutMs: number;
  rateLimit: { messagesPerSec: number; burst: number };
  sendQueue: { maxMessages: number; maxBytes: number };
  /** After sending a close frame, terminate the socket if it is not closed within this (ms). */
  closeGraceMs: number;
}

export interface ConnectionDeps {
  gatewayId: string;
  features: readonly string[];
  limits: ConnectionLimits;
  auth: Authenticator;
  sessions: SessionHub<ClientConnection>;
  router: UserRouterApi;
  /** Switches and flags (issue #9); without it every built-in feature is on and `features` is sent as is. */
  ops?: FeatureGate;
  /** Chat (docs/CHAT.md); without it chat messages get `chatError RIFT_CHAT_UNAVAILABLE`. */
  chat?: ChatApi;
  /** Shop catalogue source (external service behind a breaker); without it the built-in SHOP_CATALOGUE. */
  shop?: ShopCatalog;
  /** Client analytics queue (Redis Stream, issue #9); without it `analytics` gets `error RIFT_ANALYTICS_UNAVAILABLE`. */
  analytics?: AnalyticsSink;
  /** Game log (login/logout rows, issue #9); optional. */
  gameLog?: GameLogSink;
  metrics: GatewayMetrics;
  log: Logger;
  /** Monotonic ms clock (rate limiter, latencies). */
  now?: () => number;
  /** Wall clock for `pong.s`. */
  wallClock?: () => number;
}

/** A close reason: the catalog code plus details, printable ASCII, at most 123 bytes. */
export function closeReason(key: ErrorKey, details?: string): string {
  const text = details ? `${ErrorCatalog[key].code}: ${details}` : ErrorCatalog[key].code;
  return text.replace(/[^\x20-\x7e]/g, "?").slice(0, 123);
}

/** The close code of a catalog key (1011 when the entry has none). */
export function closeCodeOf(key: ErrorKey): number {
  const d: ErrorDef = ErrorCatalog[key];
  return d.close ?? 1011;
}

const PROBE_INTERVAL_MS = 1000;
const PROBE_EXPIRE_MS = 10_000;

export class ClientConnection implements RoutedClient {
  private st: ConnState = "hello";
  private userId: number | undefined;
  private userName: string | undefined;
  private lastSeq = -1;
  /** Sampled input→observed latency: one move in flight per client, at most one per second. */
  private probe: { seq: number; t0: number } | undefined;
  private nextProbeAt = 0;
  private readonly sender: BoundedSender;
  private readonly bucket: TokenBucket;
  private handshakeTimer: NodeJS.Timeout | undefined;
  private graceTimer: NodeJS.Timeout | undefined;
  private readonly openedAt: number;
  private readonly now: () => number;
  private closeInfo: { code: number; key: string } | undefined;
  /** Last feature list sent (welcome / features). */
  private sentFeatures: string[] | undefined;

  constructor(
    private readonly socket: ClientSocket,
    private readonly deps: ConnectionDeps,
  ) {
    this.now = deps.now ?? (() => performance.now());
    this.openedAt = this.now();
    const { limits } = deps;
    this.bucket = new TokenBucket(limits.rateLimit.messagesPerSec, limits.rateLimit.burst, this.now);
    this.sender = new BoundedSender(socket, limits.sendQueue, (bytes, msgs) =>
      this.closeWith("SEND_QUEUE_FULL", `${bytes} bytes / ${msgs} frames queued`),
    );
    this.handshakeTimer = setTimeout(() => this.closeWith("HANDSHAKE_TIMEOUT"), limits.handshakeTimeoutMs);
  }

  get state(): ConnState {
    return this.st;
  }

  get user(): number | undefined {
    return this.userId;
  }

  /** How this connection ended (after close): code and catalog key (or "client"). */
  get closedWith(): { code: number; key: string } | undefined {
    return this.closeInfo;
  }

  get queuedBytes(): number {
    return this.sender.queuedBytes;
  }

  // ---- input ----

  /** One WebSocket message from the client. Never throws. */
  onMessage(data: Uint8Array | ArrayBuffer | Uint8Array[], isBinary: boolean): void {
    if (this.st === "closed") return;
    if (!isBinary) return this.closeWith("PROTO_NOT_BINARY");
    if (!this.bucket.take()) return this.closeWith("RATE_LIMITED", `more than ${this.deps.limits.rateLimit.messagesPerSec}/s`);
    const bytes = Array.isArray(data) ? Buffer.concat(data) : data instanceof Uint8Array ? data : new Uint8Array(data);
    let msg: ClientMessage;
    try {
      msg = decodeOne(ClientSchemas, bytes, this.deps.limits.maxPayloadBytes) as ClientMessage;
    } catch (e) {
      if (e instanceof ProtocolError) return this.closeWith(e.key, e.details);
      return this.closeWith("PROTO_MALFORMED");
    }
    this.deps.metrics.messagesIn.inc({ type: msg.t });
    try {
      this.handle(msg);
    } catch (err) {
      this.deps.log.error({ err, user: this.userId }, "gateway: handler failed");
      this.closeWith("INTERNAL");
    }
  }

  private unexpected(type: string): void {
    this.closeWith("PROTO_UNEXPECTED", `${type} in state ${this.st}`);
  }

  private handle(msg: ClientMessage): void {
    const feature = FEATURE_OF_REQUEST[msg.t];
    if (feature && this.deps.ops && (this.st === "attaching" || this.st === "playing") && !this.deps.ops.enabled(feature, this.deps.features, this.userId)) {
      const d = ErrorCatalog.FEATURE_DISABLED;
      return this.send("error", { code: d.code, message: `${d.message}: ${feature}`, re: msg.t });
    }
    switch (msg.t) {
      case "hello":
        if (this.st !== "hello") return this.unexpected(msg.t);
        if (msg.b.proto !== PROTOCOL_VERSION) return this.closeWith("PROTO_VERSION", `got ${msg.b.proto}, want ${PROTOCOL_VERSION}`);
        this.st = "auth";
        this.sentFeatures = this.deps.ops ? this.deps.ops.features(this.deps.features) : [...this.deps.features];
        this.send("welcome", { proto: PROTOCOL_VERSION, server: this.deps.gatewayId, features: this.sentFeatures });
        return;
      case "ping":
        if (this.st === "hello") return this.unexpected(msg.t);
        this.send("pong", { t: msg.b.t, s: (this.deps.wallClock ?? Date.now)() });
        return;
      case "register": {
        if (this.st !== "auth") return this.unexpected(msg.t);
        this.st = "authing";
        const t0 = this.now();
        this.deps.auth.register(msg.b.name, msg.b.password).then(
          (account) => {
            this.deps.metrics.loginSeconds.observe((this.now() - t0) / 1000);
            if (this.st !== "authing") return;
            this.st = "auth";
            this.send("registered", { userId: account.userId });
          },
          (e: unknown) => this.authFailed(e),
        );
        return;
      }
      case "login": {
        if (this.st !== "auth") return this.unexpected(msg.t);
        this.st = "authing";
        const t0 = this.now();
        this.deps.auth.login(msg.b).then(
          (res) => {
            this.deps.metrics.loginSeconds.observe((this.now() - t0) / 1000);
            this.loggedIn(res);
          },
          (e: unknown) => this.authFailed(e),
        );
        return;
      }
      case "move":
        if (this.st === "hello" || this.st === "auth") return this.unexpected(msg.t);
        if (msg.b.seq <= this.lastSeq) return this.closeWith("PROTO_REPLAY", `seq ${msg.b.seq} after ${this.lastSeq}`);
        this.lastSeq = msg.b.seq;
        this.startProbe(msg.b.seq);
        return this.input(msg.t, msg.b);
      case "travel":
      case "dungeonEnter":
      case "attack":
      case "leaveDungeon":
      case "inventory":
      case "trade":
      case "tradeCancel":
        // game requests: handled by the game server that owns the user
        if (this.st === "hello" || this.st === "auth") return this.unexpected(msg.t);
        return this.input(msg.t, msg.b);
      case "chat":
      case "whisper":
      case "chatJoin":
      case "chatLeave":
        // chat works whenever the user is logged in, also while its game route is relocated
        if (this.st !== "attaching" && this.st !== "playing") return this.unexpected(msg.t);
        if (!this.deps.chat) return this.send("chatError", { code: ErrorCatalog.CHAT_UNAVAILABLE.code, message: ErrorCatalog.CHAT_UNAVAILABLE.message });
        return this.deps.chat.handle(this.userId!, msg);
      case "shopList":
        if (this.st !== "attaching" && this.st !== "playing") return this.unexpected(msg.t);
        if (!this.deps.shop) return this.send("shop", { items: SHOP_CATALOGUE.map((i) => ({ ...i })) });
        // async (never rejects: fallback catalogue); answer when it settles if still logged in
        void this.deps.shop.list().then((items) => {
          if (this.st === "attaching" || this.st === "playing") this.send("shop", { items: items.map((i) => ({ ...i })) });
        });
        return;
      case "analytics":
        if (this.st !== "attaching" && this.st !== "playing") return this.unexpected(msg.t);
        return this.analytics(msg.b);
    }
  }

  /** Send `features` when this user's enabled set differs from the last one sent (after login; on switch/flag changes). */
  refreshFeatures(force = false): void {
    if (!this.deps.ops || (this.st !== "attaching" && this.st !== "playing")) return;
    const now = this.deps.ops.features(this.deps.features, this.userId);
    const prev = this.sentFeatures;
    if (!force && prev && prev.length === now.length && prev.every((f, i) => f === now[i])) return;
    this.sentFeatures = now;
    this.send("features", { features: now });
  }

  /** A system message from the operators (`opsctl event announce`), as a `chatNotice` of kind `announce`. */
  notice(text: string): void {
    if (this.st !== "attaching" && this.st !== "playing") return;
    this.send("chatNotice", { kind: "announce", text });
  }

  /** Queue an analytics event in Redis (never the game servers); ack once queued. */
  private analytics(b: ClientMessage & { t: "analytics" } extends { b: infer B } ? B : never): void {
    const fail = () => {
      const d = ErrorCatalog.ANALYTICS_UNAVAILABLE;
      if (this.st !== "closed") this.send("error", { code: d.code, message: d.message, re: "analytics" });
    };
    if (!this.deps.analytics) return fail();
    const e = { userId: this.userId!, name: b.name, props: b.props, receivedAt: (this.deps.wallClock ?? Date.now)(), ...(b.at !== undefined ? { clientAt: b.at } : {}) };
    this.deps.analytics.append(e).then(
      () => {
        if (this.st !== "closed") this.send("analyticsAck", { id: b.id });
      },
      (err: unknown) => {
        this.deps.log.warn({ err: err instanceof Error ? err.message : String(err) }, "gateway: analytics append failed");
        fail();
      },
    );
  }

  private input(type: string, body: unknown): void {
    if (this.st !== "playing") {
      this.deps.metrics.inputsDropped.inc({ reason: "not_entered" });
      return;
    }
    if (!this.deps.router.forward(this.userId!, type, body)) this.deps.metrics.inputsDropped.inc({ reason: "link" });
  }

  private authFailed(e: unknown): void {
    if (this.st !== "authing") return;
    if (e instanceof RiftError) {
      const d: ErrorDef = e.def;
      if (d.close !== undefined) return this.closeWith(e.key, e.details);
      this.st = "auth";
      this.send("error", { code: e.code, message: e.message });
      return;
    }
    this.deps.log.error({ err: e }, "gateway: authentication failed unexpectedly");
    this.closeWith("INTERNAL");
  }

  private loggedIn(res: LoginResult): void {
    if (this.st !== "authing") return;
    const { userId, name } = res.account;
    this.userId = userId;
    this.userName = name;
    const prev = this.deps.sessions.claim(userId, this);
    if (prev) prev.kick("SESSION_REPLACED");
    clearTimeout(this.handshakeTimer);
    this.handshakeTimer = undefined;
    this.deps.metrics.handshakeSeconds.observe((this.now() - this.openedAt) / 1000);
    this.st = "attaching";
    this.send("session", { userId, name, token: res.token });
    this.deps.gameLog?.log("login", userId, { gateway: this.deps.gatewayId, zone: res.zone });
    this.refreshFeatures(true);
    if (this.st === "attaching") this.deps.chat?.login(userId, name, this);
    if (this.st === "attaching") this.deps.router.attach(userId, name, res.zone, this);
  }

  // ---- RoutedClient ----

  entered(enter: Uint8Array): void {
    if (this.st === "closed") return;
    this.st = "playing";
    this.deliver(enter);
  }

  relocating(zone: string, server: string): void {
    if (this.st === "closed") return;
    this.st = "attaching";
    this.send("relocated", { zone, server });
  }

  deliver(frame: Uint8Array): void {
    if (this.st === "closed") return;
    if (!this.sender.send(frame)) return;
    if (this.probe) this.checkProbe(frame);
    const m = this.deps.metrics;
    m.framesOut.inc();
    m.bytesOut.inc(frame.byteLength);
    m.sendQueueBytes.observe(this.sender.queuedBytes);
  }

  private startProbe(seq: number): void {
    const now = this.now();
    if (this.probe && now - this.probe.t0 < PROBE_EXPIRE_MS) return;
    if (now < this.nextProbeAt) return;
    this.probe = { seq, t0: now };
  }

  /** The first frame to the client that shows its own entity at the probed seq ends the probe. */
  private checkProbe(frame: Uint8Array): void {
    const probe = this.probe!;
    let seq: number | undefined;
    try {
      seq = this.userId === undefined ? undefined : scanSelf(frame, this.userId).self?.seq;
    } catch {
      seq = undefined; // not a frame of cell/aoi envelopes we can walk: nothing to learn from it
    }
    if (seq === undefined || seq < probe.seq) return;
    const now = this.now();
    this.deps.metrics.inputLatency.observe((now - probe.t0) / 1000);
    this.probe = undefined;
    this.nextProbeAt = now + PROBE_INTERVAL_MS;
  }

  kick(key: ErrorKey, details?: string): void {
    this.closeWith(key, details);
  }

  private send(type: string, body: unknown): void {
    this.deliver(encodeEnvelope(type, body));
  }

  // ---- closing ----

  /** Close with a catalog key: close frame now, TCP terminate after the grace period. */
  closeWith(key: ErrorKey, details?: string): void {
    if (this.st === "closed") return;
    const code = closeCodeOf(key);
    this.finish(code, key);
    if (key !== "SESSION_REPLACED" && key !== "SHUTTING_DOWN") {
      this.deps.log.debug({ user: this.userId, key, details }, "gateway: closing client");
    }
    try {
      this.socket.close(code, closeReason(key, details));
    } catch {
      this.socket.terminate();
    }
    this.graceTimer = setTimeout(() => this.socket.terminate(), this.deps.limits.closeGraceMs);
    this.graceTimer.unref?.();
  }

  /** Drop the TCP connection now (after a close that the client did not complete). */
  terminate(): void {
    if (this.graceTimer) clearTimeout(this.graceTimer);
    this.socket.terminate();
  }

  /** The transport already closed the socket for a protocol violation (e.g. ws's 1009). */
  onTransportError(key: ErrorKey, wsCode: number): void {
    if (this.st === "closed") return;
    this.finish(wsCode, key);
  }

  /** The socket is closed (by either side). */
  onSocketClose(code: number): void {
    if (this.graceTimer) clearTimeout(this.graceTimer);
    if (this.st === "closed") return;
    this.finish(code, "client");
  }

  private finish(code: number, key: string): void {
    const wasAttached = this.st === "attaching" || this.st === "playing";
    this.st = "closed";
    this.closeInfo = { code, key };
    this.deps.metrics.closes.inc({ code: String(code), key });
    if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
    this.handshakeTimer = undefined;
    if (this.userId !== undefined) this.deps.chat?.logout(this.userId, this);
    if (this.userId !== undefined && wasAttached) this.deps.gameLog?.log("logout", this.userId, { gateway: this.deps.gatewayId, reason: key, code });
    if (this.userId !== undefined && this.deps.sessions.release(this.userId, this) && wasAttached) {
      this.deps.router.detach(this.userId, key === "client" ? "disconnected" : key, this);
    }
  }

  /** For logs and tests. */
  describe(): { state: ConnState; user: number | undefined; name: string | undefined } {
    return { state: this.st, user: this.userId, name: this.userName };
  }
}

/**
 * The gateway: client WebSocket server + per-connection state machines + session hub +
 * user router (links to game servers). IO only at the edges (ws server, links); everything
 * is injected so integration tests can run it in-process with doubles.
 *
 * Shutdown (`stop`): stop accepting, close every client with SHUTTING_DOWN (each close
 * detaches its user so the owning server flushes the state), then flush and close the links.
 * The caller deregisters membership BEFORE stop so no new traffic is routed here.
 */
import type { MemberView, ZonePlacement } from "../core/cluster/types.js";
import type { Config } from "../core/config.js";
import type { Logger } from "../core/log.js";
import type { Registry } from "../core/metrics.js";
import type { Authenticator } from "./auth.js";
import { chatLinkClientFactory, ChatRouter, createGatewayChatMetrics, type ChatLinkFactory } from "./chat.js";
import { ClientConnection, type ConnectionLimits } from "./connection.js";
import { createGatewayMetrics, type GatewayMetrics } from "./metrics.js";
import { linkClientFactory, UserRouter, type LinkFactory } from "./router.js";
import { ClientServer } from "./server.js";
import { SessionHub } from "./sessions.js";
import type { FeatureGate } from "./shop.js";
import type { ShopCatalog } from "./shop-catalog.js";
import type { AnalyticsSink } from "../core/ops/analytics.js";
import type { GameLogSink } from "../core/ops/game-log.js";

/** Features announced in `welcome` (what this gateway build supports). */
export const GATEWAY_FEATURES = ["move", "travel", "ping", "aoi-cells", "relocate", "chat", "shop", "dungeons", "inventory", "trade"] as const;

export interface GatewayOptions {
  id: string;
  host: string;
  config: Config["gateway"];
  auth: Authenticator;
  placement: ZonePlacement;
  view: MemberView;
  log: Logger;
  registry: Registry;
  /** Override the link factory (tests). */
  linkFactory?: LinkFactory;
  /** Feature switches and flags (issue #9; an OpsState). */
  ops?: FeatureGate;
  /** Chat: members of role `chat` and the `chat` config section (no chat without them). */
  chat?: { view: MemberView; config: Config["chat"]; linkFactory?: ChatLinkFactory };
  /** Shop catalogue source (src/gateway/shop-catalog.ts); default: the built-in catalogue. */
  shop?: ShopCatalog;
  /** Client analytics queue and game log (issue #9; src/core/ops). */
  analytics?: AnalyticsSink;
  gameLog?: GameLogSink;
}

export class Gateway {
  readonly metrics: GatewayMetrics;
  readonly router: UserRouter;
  readonly chat: ChatRouter | undefined;
  private readonly server: ClientServer;
  private readonly sessions = new SessionHub<ClientConnection>();
  private stopped: Promise<void> | undefined;

  constructor(private readonly opts: GatewayOptions) {
    const { config: gw, log } = opts;
    this.metrics = createGatewayMetrics(opts.registry);
    if (opts.chat) {
      const chatMetrics = createGatewayChatMetrics(opts.registry);
      this.chat = new ChatRouter({
        gatewayId: opts.id,
        view: opts.chat.view,
        config: opts.chat.config,
        metrics: chatMetrics,
        log,
        linkFactory: opts.chat.linkFactory ?? chatLinkClientFactory(opts.id, (n) => log.warn({ count: n }, "gateway: malformed ops from a chat server dropped")),
      });
    }
    const chat = this.chat;
    this.router = new UserRouter({
      gatewayId: opts.id,
      placement: opts.placement,
      view: opts.view,
      metrics: this.metrics,
      log,
      reattachTimeoutMs: gw.reattachTimeoutMs,
      handoverTimeoutMs: gw.handoverTimeoutMs,
      ...(chat ? { onZone: (user: number, zone: string) => chat.setZone(user, zone) } : {}),
      linkFactory: opts.linkFactory ?? linkClientFactory({ gatewayId: opts.id, flushMs: gw.linkFlushMs, metrics: this.metrics, log }),
    });
    const limits: ConnectionLimits = {
      maxPayloadBytes: gw.maxPayloadBytes,
      handshakeTimeoutMs: gw.handshakeTimeoutMs,
      rateLimit: gw.rateLimit,
      sendQueue: gw.sendQueue,
      closeGraceMs: gw.closeGraceMs,
    };
    this.server = new ClientServer({
      host: opts.host,
      port: gw.port,
      maxPayloadBytes: gw.maxPayloadBytes,
      metrics: this.metrics,
      log,
      createConnection: (socket) =>
        new ClientConnection(socket, {
          gatewayId: opts.id,
          features: GATEWAY_FEATURES,
          limits,
          auth: opts.auth,
          sessions: this.sessions,
          router: this.router,
          ...(opts.ops ? { ops: opts.ops } : {}),
          ...(chat ? { chat } : {}),
          ...(opts.shop ? { shop: opts.shop } : {}),
          ...(opts.analytics ? { analytics: opts.analytics } : {}),
          ...(opts.gameLog ? { gameLog: opts.gameLog } : {}),
          metrics: this.metrics,
          log,
        }),
    });
  }

  /** Listen for clients; resolves with the bound port. */
  start(): Promise<number> {
    return this.server.listen();
  }

  get port(): number {
    return this.server.port;
  }

  get connectionCount(): number {
    return this.server.connections().size;
  }

  /** Open connections (tests, diagnostics). */
  connections(): ReadonlySet<ClientConnection> {
    return this.server.connections();
  }

  /** Operator events (issue #9): a notice to every logged-in client. */
  announce(text: string): number {
    let n = 0;
    for (const c of this.server.connections()) if (c.user !== undefined) (c.notice(text), n++);
    return n;
  }

  /** Close `userId`'s connection here with KICKED; false when it is not connected to this gateway. */
  kickUser(userId: number, details?: string): boolean {
    const c = this.sessions.holder(userId);
    if (!c) return false;
    c.kick("KICKED", details);
    return true;
  }

  /** Switches/flags changed: push `features` to every client whose set changed. */
  refreshFeatures(): void {
    for (const c of this.server.connections()) c.refreshFeatures();
  }

  stop(): Promise<void> {
    this.stopped ??= (async () => {
      this.server.stopAccepting();
      await this.server.closeAll("SHUTTING_DOWN");
      await this.router.close();
      await this.chat?.close();
      this.opts.log.info("gateway stopped");
    })();
    return this.stopped;
  }
}

/** The start zone: `gateway.startZone`, else the first configured field zone. */
export function startZoneOf(config: Config): string {
  const zone = config.gateway.startZone || config.field.zones[0];
  if (!zone) throw new Error("no start zone: set gateway.startZone or field.zones");
  return zone;
}

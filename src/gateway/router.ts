/**
 * The user router: which game server each of this gateway's users is attached to, the links
 * to those servers, and the handling of server output.
 *
 * Route states: waiting (no server yet / server lost) → attaching (attach sent) → attached
 * (`attached` received, `enter` forwarded). A route that is not attached for longer than
 * `reattachTimeoutMs` is dropped and its client closed with NO_SERVER_FOR_ZONE (never
 * entered on this connection) or SERVER_GONE (lost its server).
 *
 * Links: one per game server (member id), to the IO-worker port chosen by hashing the
 * gateway id; created on demand, re-created with backoff after a failure, closed when their
 * member leaves the cluster. When a link closes, its users wait for a server for their zone
 * (the same one reconnecting or another) and are re-attached; their clients stay connected
 * and get `relocated` then a fresh `enter`.
 *
 * Placement changes: a route whose zone is now placed elsewhere is moved at once when its
 * server is gone from membership (crash: detach + re-attach at the new owner). When the old
 * server is still a member (drain, planned move) the gateway waits for that server's
 * `transfer` — it first writes the user's final state, so the new owner loads exactly what
 * the old one had — and forces the move only after `handoverTimeoutMs`.
 *
 * Server ops: attached / rejected (NO_SERVER_FOR_ZONE → retry elsewhere; other codes close
 * the client) / tick (fan-out, see fanout.ts) / kick / transfer (re-route to the new zone's
 * owner; the old server already released the user, so no detach is sent to it).
 */
import { ErrorCatalog, errorByCode, type ErrorKey } from "../core/errors.js";
import type { Logger } from "../core/log.js";
import type { MemberInfo, MemberView, ZonePlacement } from "../core/cluster/types.js";
import { LinkClient, pickLinkPort } from "../core/transport/link-client.js";
import { parseInstance } from "../core/cluster/instances.js";
import type { GatewayOp, ServerOp } from "../core/transport/link-protocol.js";
import { assembleTick, CellSubscriptions, concatParts, type TickBody } from "./fanout.js";
import type { GatewayMetrics } from "./metrics.js";
import type { RoutedClient, UserRouterApi } from "./types.js";

/** The router's view of one link (LinkClient fits). */
export interface LinkHandle {
  send(op: GatewayOp): boolean;
  flush(): void;
  close(): Promise<void>;
  readonly open: boolean;
}

export interface LinkHandlers {
  onOps(ops: ServerOp[]): void;
  onOpen(): void;
  onClose(reason: string): void;
}

export interface LinkTarget {
  memberId: string;
  url: string;
}

export type LinkFactory = (target: LinkTarget, handlers: LinkHandlers) => LinkHandle;

export interface RouterDeps {
  gatewayId: string;
  placement: ZonePlacement;
  view: MemberView;
  metrics: GatewayMetrics;
  log: Logger;
  reattachTimeoutMs: number;
  /** Max wait for a live old owner's `transfer` after its zone moved (default 10 s). */
  handoverTimeoutMs?: number;
  linkFactory: LinkFactory;
  /** A user's route got attached in `zone` (chat zone channels, docs/CHAT.md). */
  onZone?: (user: number, zone: string) => void;
  /** Monotonic ms clock (default performance.now). */
  now?: () => number;
  /** How long a route waits for an instance key to show up in the placement before going home (default 3 s). */
  instanceGraceMs?: number;
  /** Period of the deadline/retry sweep (default 250 ms). */
  sweepMs?: number;
  /** First link-retry backoff (default 250 ms, doubling to 5 s). */
  retryMs?: number;
}

type RouteState = "waiting" | "attaching" | "attached";

interface Route {
  user: number;
  name: string;
  /** The user's zone (as in its row). */
  zone: string;
  /** The zone channel key the route is attached/attaching to (`zone` or `zone#n`). */
  channel: string;
  client: RoutedClient;
  state: RouteState;
  link: ServerLink | undefined;
  /** When the route last left `attached` (or was created): base of the deadline. */
  since: number;
  attachSentAt: number;
  /** The current client has received an `enter`. */
  entered: boolean;
  /** A member that rejected us with NO_SERVER_FOR_ZONE, avoided until `avoidUntil`. */
  avoid?: string;
  avoidUntil?: number;
}

interface ServerLink {
  memberId: string;
  url: string;
  handle: LinkHandle;
  subs: CellSubscriptions;
  users: Set<number>;
  state: "connecting" | "open" | "closed";
}

function keyOf(code: string): ErrorKey | undefined {
  if (Object.prototype.hasOwnProperty.call(ErrorCatalog, code)) return code as ErrorKey;
  return errorByCode(code)?.key;
}

/** Default link factory: a real LinkClient with metrics hooks. */
export function linkClientFactory(opts: { gatewayId: string; flushMs: number; metrics: GatewayMetrics; log: Logger }): LinkFactory {
  return (target, h) =>
    new LinkClient({
      url: target.url,
      gatewayId: opts.gatewayId,
      flushMs: opts.flushMs,
      onOps: h.onOps,
      onOpen: h.onOpen,
      onClose: h.onClose,
      onFrame: (dir, bytes) => {
        opts.metrics.linkFrames.inc({ dir });
        opts.metrics.linkBytes.inc({ dir }, bytes);
      },
      onInvalid: (count, sample) => {
        opts.metrics.linkInvalidOps.inc(count);
        opts.log.warn({ server: target.memberId, count, sample }, "gateway: malformed ops from game server dropped");
      },
    });
}

export class UserRouter implements UserRouterApi {
  private readonly routes = new Map<number, Route>();
  /** Users whose route is not attached (checked by the sweep). */
  private readonly pending = new Set<number>();
  /** Attached users whose channel was placed elsewhere while the old server is alive → since when we wait for its transfer. */
  private readonly handingOver = new Map<number, number>();
  private readonly links = new Map<string, ServerLink>();
  private readonly backoff = new Map<string, { delay: number; until: number }>();
  private readonly now: () => number;
  private readonly sweepTimer: NodeJS.Timeout;
  private readonly unsubscribe: (() => void)[] = [];
  private closed = false;
  private lastGauge = 0;

  constructor(private readonly deps: RouterDeps) {
    this.now = deps.now ?? (() => performance.now());
    this.sweepTimer = setInterval(() => this.sweep(), deps.sweepMs ?? 250);
    this.sweepTimer.unref?.();
    this.unsubscribe.push(deps.placement.onChange(() => this.placementChanged()));
    this.unsubscribe.push(deps.view.onChange((members) => this.membersChanged(members)));
  }

  // ---- UserRouterApi ----

  attach(user: number, name: string, zone: string, client: RoutedClient): void {
    if (this.closed) return client.kick("SHUTTING_DOWN");
    let r = this.routes.get(user);
    if (r) {
      // Same user logged in again on this gateway: rebind, detach, attach afresh.
      if (r.link && r.state !== "waiting") r.link.handle.send(["detach", { user, reason: "session replaced" }]);
      this.leave(r);
      r.client = client;
      r.name = name;
      r.entered = false;
    } else {
      r = { user, name, zone, channel: zone, client, state: "waiting", link: undefined, since: this.now(), attachSentAt: 0, entered: false };
      this.routes.set(user, r);
    }
    this.toWaiting(r);
    this.tryRoute(r);
  }

  forward(user: number, type: string, body: unknown): boolean {
    const r = this.routes.get(user);
    if (!r || r.state !== "attached" || !r.link) return false;
    return r.link.handle.send(["in", user, type, body]);
  }

  detach(user: number, reason: string, client: RoutedClient): void {
    const r = this.routes.get(user);
    if (!r || r.client !== client) return;
    this.routes.delete(user);
    this.pending.delete(user);
    this.handingOver.delete(user);
    if (r.link && r.state !== "waiting") r.link.handle.send(["detach", { user, reason }]);
    this.leave(r);
  }

  // ---- state helpers ----

  private leave(r: Route): void {
    if (!r.link) return;
    r.link.users.delete(r.user);
    r.link.subs.clear(r.user);
    r.link = undefined;
  }

  private toWaiting(r: Route): void {
    this.handingOver.delete(r.user);
    if (r.state === "attached" || !this.pending.has(r.user)) r.since = this.now();
    r.state = "waiting";
    this.pending.add(r.user);
  }

  /** The route lost its server (link closed, owner changed, transfer): tell the client, wait. */
  private relocate(r: Route): void {
    const wasAttached = r.state === "attached";
    this.leave(r);
    this.toWaiting(r);
    if (wasAttached) r.client.relocating(r.zone, this.deps.placement.serverForZone(r.zone)?.id ?? "");
  }

  private tryRoute(r: Route): void {
    if (this.closed || r.state !== "waiting") return;
    this.homeIfInstanceGone(r);
    const channel = this.deps.placement.pickChannel(r.zone);
    const m = this.deps.placement.serverForZone(channel);
    if (!m) return;
    if (r.avoid === m.id && this.now() < (r.avoidUntil ?? 0)) return;
    const link = this.linkFor(m);
    if (!link) return;
    if (!link.handle.send(["attach", { user: r.user, name: r.name, zone: channel }])) {
      this.deps.log.warn({ server: m.id }, "gateway: link refused an attach (queue full); dropping the link");
      void link.handle.close();
      return;
    }
    r.link = link;
    r.channel = channel;
    link.users.add(r.user);
    r.state = "attaching";
    r.attachSentAt = this.now();
  }

  /**
   * Dungeon instances never fail over (their run lives in one process): a route to an
   * instance that is placed on a dead server, or not placed at all for `instanceGraceMs`
   * (our placement view may lag the field server's, which saw it placed), goes back to the
   * instance's home field zone, whose server adopts the user at the safe spot with its last
   * flushed state.
   */
  private homeIfInstanceGone(r: Route): void {
    const inst = parseInstance(r.zone);
    if (!inst || this.deps.placement.serverForZone(r.zone)) return;
    const placed = this.deps.placement.placedOn(r.zone) !== undefined;
    if (placed || this.now() - r.since > (this.deps.instanceGraceMs ?? 3000)) this.goHome(r, placed ? "dungeon server gone" : "instance not placed");
  }

  private goHome(r: Route, why: string): void {
    const inst = parseInstance(r.zone);
    if (!inst) return;
    this.deps.log.info({ user: r.user, instance: r.zone, home: inst.home, why }, "gateway: dungeon instance lost; sending the user home");
    this.deps.metrics.dungeonReturns.inc({ reason: why });
    r.zone = inst.home;
  }

  private linkFor(m: MemberInfo): ServerLink | undefined {
    const port = pickLinkPort(m.linkPorts ?? [], this.deps.gatewayId);
    if (port === undefined) return undefined;
    const url = `ws://${m.host}:${port}`;
    let l = this.links.get(m.id);
    if (l && l.url !== url) {
      this.deps.log.info({ server: m.id, url }, "gateway: server address changed; replacing its link");
      this.dropLink(l, "address changed");
      l = undefined;
    }
    if (l) return l;
    const b = this.backoff.get(m.id);
    if (b && this.now() < b.until) return undefined;
    const link: ServerLink = {
      memberId: m.id,
      url,
      subs: new CellSubscriptions(),
      users: new Set(),
      state: "connecting",
      handle: undefined as unknown as LinkHandle,
    };
    this.links.set(m.id, link);
    link.handle = this.deps.linkFactory(
      { memberId: m.id, url },
      {
        onOps: (ops) => this.onOps(link, ops),
        onOpen: () => {
          if (link.state !== "connecting") return;
          link.state = "open";
          this.backoff.delete(m.id);
          this.deps.metrics.links.inc();
          this.deps.log.info({ server: m.id, url }, "gateway: link open");
        },
        onClose: (reason) => this.linkClosed(link, reason),
      },
    );
    return link;
  }

  /** Close a link on purpose; its users are re-routed by `linkClosed`. */
  private dropLink(l: ServerLink, reason: string): void {
    void l.handle.close();
    this.linkClosed(l, reason);
  }

  private linkClosed(l: ServerLink, reason: string): void {
    if (l.state === "closed") return;
    const wasOpen = l.state === "open";
    l.state = "closed";
    if (wasOpen) this.deps.metrics.links.dec();
    if (this.links.get(l.memberId) === l) this.links.delete(l.memberId);
    if (this.closed) return;
    const prev = this.backoff.get(l.memberId);
    const delay = Math.min(prev ? prev.delay * 2 : (this.deps.retryMs ?? 250), 5000);
    this.backoff.set(l.memberId, { delay, until: this.now() + delay });
    this.deps.log.warn({ server: l.memberId, reason, users: l.users.size }, "gateway: link closed");
    for (const user of [...l.users]) {
      const r = this.routes.get(user);
      if (!r || r.link !== l) continue;
      this.goHome(r, "link to the dungeon server lost");
      this.relocate(r);
    }
    l.users.clear();
  }

  // ---- cluster changes ----

  private placementChanged(): void {
    if (this.closed) return;
    const live = new Set(this.deps.view.members().map((m) => m.id));
    for (const r of this.routes.values()) {
      if (r.state === "waiting" || !r.link) continue;
      const owner = this.deps.placement.serverForZone(r.channel);
      if (owner && owner.id === r.link.memberId) {
        this.handingOver.delete(r.user);
        continue;
      }
      if (r.state === "attached" && live.has(r.link.memberId)) {
        // Planned move: the old server hands the user over itself (final write first).
        if (!this.handingOver.has(r.user)) this.handingOver.set(r.user, this.now());
        continue;
      }
      // The owner is gone (or the attach had not completed): detach there, re-attach at the owner.
      this.forceMove(r, "zone moved");
    }
    for (const user of this.pending) {
      const r = this.routes.get(user);
      if (r) this.tryRoute(r);
    }
  }

  private membersChanged(members: MemberInfo[]): void {
    if (this.closed) return;
    const present = new Set(members.map((m) => m.id));
    for (const l of [...this.links.values()]) {
      if (!present.has(l.memberId)) this.dropLink(l, "member left the cluster");
    }
    for (const id of [...this.backoff.keys()]) if (!present.has(id)) this.backoff.delete(id);
  }

  private forceMove(r: Route, reason: string): void {
    r.link?.handle.send(["detach", { user: r.user, reason }]);
    this.goHome(r, reason);
    this.relocate(r);
  }

  // ---- server output ----

  private routeOn(link: ServerLink, user: number): Route | undefined {
    const r = this.routes.get(user);
    return r && r.link === link ? r : undefined;
  }

  private onOps(link: ServerLink, ops: ServerOp[]): void {
    if (link.state === "closed") return;
    for (const op of ops) {
      switch (op[0]) {
        case "attached": {
          const r = this.routeOn(link, op[1].user);
          if (!r || r.state !== "attaching") break;
          r.state = "attached";
          r.entered = true;
          r.avoid = undefined;
          this.pending.delete(r.user);
          this.deps.metrics.attachSeconds.observe((this.now() - r.attachSentAt) / 1000);
          r.client.entered(op[1].enter);
          this.deps.onZone?.(r.user, parseInstance(r.zone)?.home ?? r.zone); // zone chat stays the field zone's
          break;
        }
        case "rejected": {
          const r = this.routeOn(link, op[1].user);
          if (!r || r.state !== "attaching") break;
          const key = keyOf(op[1].code) ?? "INTERNAL";
          if (key === "NO_SERVER_FOR_ZONE") {
            // Placement race: this server does not (or no longer) host the zone. Retry.
            r.avoid = link.memberId;
            r.avoidUntil = this.now() + 1000;
            this.leave(r);
            this.toWaiting(r);
            break;
          }
          this.drop(r, key, `rejected by ${link.memberId}`);
          break;
        }
        case "tick":
          this.fanOut(link, op[1]);
          break;
        case "kick": {
          const r = this.routeOn(link, op[1].user);
          if (!r) break;
          this.drop(r, keyOf(op[1].key) ?? "INTERNAL", op[1].reason);
          break;
        }
        case "transfer": {
          const r = this.routeOn(link, op[1].user);
          if (!r || r.state === "waiting") break;
          r.zone = op[1].zone;
          this.relocate(r);
          this.tryRoute(r);
          break;
        }
      }
    }
  }

  /** Forget the route (no detach: the server already dropped the user) and close its client. */
  private drop(r: Route, key: ErrorKey, details?: string): void {
    this.routes.delete(r.user);
    this.handingOver.delete(r.user);
    this.pending.delete(r.user);
    this.leave(r);
    r.client.kick(key, details);
  }

  private fanOut(link: ServerLink, tick: TickBody): void {
    const frames = assembleTick(
      tick,
      link.subs,
      (u) => this.routeOn(link, u) !== undefined,
      (u) => this.routeOn(link, u)?.state === "attached",
    );
    // (a deliver may close that client — never another one — so look each route up afresh)
    for (const [user, parts] of frames) this.routes.get(user)?.client.deliver(concatParts(parts));
  }

  // ---- periodic ----

  private sweep(): void {
    if (this.closed) return;
    const now = this.now();
    for (const user of [...this.pending]) {
      const r = this.routes.get(user);
      if (!r || r.state === "attached") {
        this.pending.delete(user);
        continue;
      }
      if (now - r.since > this.deps.reattachTimeoutMs) {
        if (r.link && r.state === "attaching") r.link.handle.send(["detach", { user, reason: "attach timeout" }]);
        this.drop(r, r.entered ? "SERVER_GONE" : "NO_SERVER_FOR_ZONE", `zone ${r.zone}`);
        continue;
      }
      this.tryRoute(r);
    }
    const handoverMs = this.deps.handoverTimeoutMs ?? 10_000;
    for (const [user, since] of [...this.handingOver]) {
      if (now - since <= handoverMs) continue;
      const r = this.routes.get(user);
      if (!r) {
        this.handingOver.delete(user);
        continue;
      }
      this.deps.log.warn({ user: r.user, zone: r.zone, server: r.link?.memberId }, "gateway: old server did not hand the user over in time; moving it by force");
      this.forceMove(r, "hand-over timeout");
      this.tryRoute(r);
    }
    if (now - this.lastGauge >= 1000) {
      this.lastGauge = now;
      const counts = { waiting: 0, attaching: 0, attached: 0 };
      for (const r of this.routes.values()) counts[r.state]++;
      for (const [state, n] of Object.entries(counts)) this.deps.metrics.users.set({ state }, n);
    }
  }

  /** Counts for tests and health checks. */
  stats(): { routes: number; pending: number; links: number; openLinks: number } {
    let openLinks = 0;
    for (const l of this.links.values()) if (l.state === "open") openLinks++;
    return { routes: this.routes.size, pending: this.pending.size, links: this.links.size, openLinks };
  }

  /** Route state of a user (tests). */
  routeOf(user: number): { state: RouteState; server: string | undefined; zone: string; channel: string } | undefined {
    const r = this.routes.get(user);
    return r ? { state: r.state, server: r.link?.memberId, zone: r.zone, channel: r.channel } : undefined;
  }

  /**
   * Stop: detach every remaining user (so servers flush their state), flush and close all
   * links (bounded drain per link).
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.sweepTimer);
    for (const u of this.unsubscribe) u();
    for (const r of this.routes.values()) {
      if (r.link && r.state !== "waiting") r.link.handle.send(["detach", { user: r.user, reason: "gateway shutting down" }]);
    }
    this.routes.clear();
    this.pending.clear();
    const links = [...this.links.values()];
    this.links.clear();
    await Promise.all(links.map((l) => l.handle.close()));
  }
}

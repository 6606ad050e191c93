/**
 * The gateway's chat router (docs/CHAT.md): chat traffic goes from here straight to the chat
 * server that owns the channel — game servers never see it.
 *
 * - Owners: rendezvous hashing of the channel id over the live chat servers (ZooKeeper
 *   membership, role `chat`) minus the ones whose link from this gateway just failed. Every
 *   gateway computes the same owner from the same member list.
 * - Memberships: at login a user joins `world` and its whisper inbox `w:<name>`; the router
 *   (onZone) puts it in `zone:<zone>` once its game route is attached there; `chatJoin` adds
 *   party/guild channels. The gateway sends one `join` per (user, channel) to the owner and
 *   remembers the local members of every channel.
 * - Re-homing: when the owner set changes (member left, link broke, server added/back) every
 *   channel whose owner changed is re-joined at the new owner (quietly: no history again),
 *   and left at the old owner if it is still reachable. Users of channels whose owner FAILED
 *   get one `chatNotice {kind: "rehomed"}`.
 * - Limits before anything leaves the gateway: per-user token bucket (`chat.rateLimit`,
 *   CHAT_RATE_LIMITED), `chat.maxLength` (CHAT_TOO_LONG), channel membership
 *   (CHAT_BAD_CHANNEL), no chat server (CHAT_UNAVAILABLE) — each a `chatError` reply.
 * - Output: a `deliver` op's messages are concatenated ONCE and the same frame goes to every
 *   listed user through its bounded send queue (`client.deliver`).
 */
import { channelOwner } from "../chat-server/ownership.js";
import { inboxChannel, WORLD, zoneChannel } from "../chat-server/channels.js";
import type { ChatServerOp } from "../chat-server/protocol.js";
import type { MemberInfo, MemberView } from "../core/cluster/types.js";
import type { Config } from "../core/config.js";
import { ErrorCatalog, type ErrorKey } from "../core/errors.js";
import type { Logger } from "../core/log.js";
import { counter, gauge, type Registry } from "../core/metrics.js";
import { encodeEnvelope } from "../core/protocol/codec.js";
import type { ClientBody } from "../core/protocol/messages.js";
import { pickLinkPort } from "../core/transport/link-client.js";
import { ChatLinkClient, type ChatLinkHandle } from "./chat-link.js";
import { concatParts } from "./fanout.js";
import { TokenBucket } from "./rate-limiter.js";

/** Where chat output for one user goes (the ClientConnection). */
export interface ChatClient {
  deliver(frame: Uint8Array): void;
}

export type ChatClientMessage =
  | { t: "chat"; b: ClientBody<"chat"> }
  | { t: "whisper"; b: ClientBody<"whisper"> }
  | { t: "chatJoin"; b: ClientBody<"chatJoin"> }
  | { t: "chatLeave"; b: ClientBody<"chatLeave"> };

/** The chat router as seen by a connection and the user router. */
export interface ChatApi {
  /** The user logged in on `client` (replaces an earlier connection of the same user). */
  login(user: number, name: string, client: ChatClient): void;
  /** The connection is gone (no-op unless `client` holds the user). */
  logout(user: number, client: ChatClient): void;
  /** The user's game route is attached in `zone`. */
  setZone(user: number, zone: string): void;
  /** A validated chat message from the client. */
  handle(user: number, msg: ChatClientMessage): void;
}

export function createGatewayChatMetrics(reg: Registry) {
  return {
    links: gauge(reg, "rift_gateway_chat_links", "Open links to chat servers"),
    posts: counter(reg, "rift_gateway_chat_posts_total", "Chat posts and whispers forwarded to chat servers"),
    refused: counter(reg, "rift_gateway_chat_refused_total", "Chat posts refused at the gateway, by catalog code", ["code"]),
    deliverOps: counter(reg, "rift_gateway_chat_deliver_ops_total", "Grouped deliver ops received from chat servers"),
    clientFrames: counter(reg, "rift_gateway_chat_client_frames_total", "Chat frames handed to client send queues"),
    messagesOut: counter(reg, "rift_gateway_chat_messages_out_total", "Chat messages handed to client send queues (messages × recipients)"),
    rehomed: counter(reg, "rift_gateway_chat_rehomed_total", "Channels moved to another chat server (failure or membership change)"),
  };
}
export type GatewayChatMetrics = ReturnType<typeof createGatewayChatMetrics>;

export type ChatLinkFactory = (
  target: { memberId: string; url: string },
  h: { onOps(ops: ChatServerOp[]): void; onOpen(): void; onClose(reason: string): void },
) => ChatLinkHandle;

export interface ChatRouterDeps {
  gatewayId: string;
  /** Members of role `chat`. */
  view: MemberView;
  config: Config["chat"];
  metrics: GatewayChatMetrics;
  log: Logger;
  linkFactory?: ChatLinkFactory;
  now?: () => number;
  /** First retry delay of a failed link (doubles to 5 s). */
  retryMs?: number;
  sweepMs?: number;
}

interface ChatUser {
  user: number;
  name: string;
  client: ChatClient;
  channels: Set<string>;
  zoneCh: string | undefined;
  groups: Set<string>;
  bucket: TokenBucket;
}

interface Link {
  memberId: string;
  url: string;
  handle: ChatLinkHandle;
  state: "connecting" | "open" | "closed";
}

export function chatLinkClientFactory(gatewayId: string, onInvalid: (n: number) => void): ChatLinkFactory {
  return (t, h) => new ChatLinkClient({ url: t.url, gatewayId, flushMs: 5, onOps: h.onOps, onOpen: h.onOpen, onClose: h.onClose, onInvalid });
}

export class ChatRouter implements ChatApi {
  private readonly users = new Map<number, ChatUser>();
  /** Local members of each channel. */
  private readonly members = new Map<string, Set<number>>();
  /** Current owner of each channel that has local members. */
  private readonly owners = new Map<string, string>();
  private readonly links = new Map<string, Link>();
  /** Servers whose link failed: excluded from ownership; retried after `until`. */
  private readonly down = new Map<string, { delay: number; until: number }>();
  private servers: MemberInfo[] = [];
  private readonly now: () => number;
  private readonly linkFactory: ChatLinkFactory;
  private readonly sweepTimer: NodeJS.Timeout;
  private readonly unsubscribe: () => void;
  private closed = false;

  constructor(private readonly deps: ChatRouterDeps) {
    this.now = deps.now ?? (() => performance.now());
    this.linkFactory = deps.linkFactory ?? chatLinkClientFactory(deps.gatewayId, () => undefined);
    this.unsubscribe = deps.view.onChange((m) => this.membersChanged(m));
    this.servers = deps.view.members("chat").filter((m) => (m.linkPorts?.length ?? 0) > 0);
    this.sweepTimer = setInterval(() => this.sweep(), deps.sweepMs ?? 250);
    this.sweepTimer.unref?.();
  }

  // ---- ChatApi ----

  login(user: number, name: string, client: ChatClient): void {
    if (this.closed) return;
    const prev = this.users.get(user);
    if (prev) {
      prev.client = client; // same user again on this gateway: memberships stay, output goes to the new connection
      return;
    }
    const { rateLimit } = this.deps.config;
    const u: ChatUser = { user, name, client, channels: new Set(), zoneCh: undefined, groups: new Set(), bucket: new TokenBucket(rateLimit.messagesPerSec, rateLimit.burst, this.now) };
    this.users.set(user, u);
    this.join(u, WORLD, false);
    this.join(u, inboxChannel(name), true);
  }

  logout(user: number, client: ChatClient): void {
    const u = this.users.get(user);
    if (!u || u.client !== client) return;
    for (const ch of [...u.channels]) this.leave(u, ch);
    this.users.delete(user);
  }

  setZone(user: number, zone: string): void {
    const u = this.users.get(user);
    if (!u) return;
    const ch = zoneChannel(zone);
    if (u.zoneCh === ch) return;
    if (u.zoneCh) this.leave(u, u.zoneCh);
    u.zoneCh = ch;
    this.join(u, ch, false);
  }

  handle(user: number, msg: ChatClientMessage): void {
    const u = this.users.get(user);
    if (!u) return;
    switch (msg.t) {
      case "chat": {
        const ch = msg.b.ch === "zone" ? u.zoneCh : msg.b.ch;
        if (!ch || !u.channels.has(ch)) return this.refuse(u, "CHAT_BAD_CHANNEL", msg.b.ch);
        return this.say(u, ch, msg.b.text, msg.b.ch);
      }
      case "whisper":
        return this.say(u, inboxChannel(msg.b.to), msg.b.text, "whisper", msg.b.to);
      case "chatJoin":
        if (u.groups.has(msg.b.ch)) return;
        if (u.groups.size >= this.deps.config.maxJoinedChannels) return this.refuse(u, "CHAT_BAD_CHANNEL", msg.b.ch, `at most ${this.deps.config.maxJoinedChannels} party/guild channels`);
        u.groups.add(msg.b.ch);
        return this.join(u, msg.b.ch, false);
      case "chatLeave":
        if (!u.groups.delete(msg.b.ch)) return;
        return this.leave(u, msg.b.ch);
    }
  }

  // ---- posting ----

  private say(u: ChatUser, ch: string, text: string, shownCh: string, to?: string): void {
    if (!u.bucket.take()) return this.refuse(u, "CHAT_RATE_LIMITED", shownCh);
    if ([...text].length > this.deps.config.maxLength) return this.refuse(u, "CHAT_TOO_LONG", shownCh, `at most ${this.deps.config.maxLength} characters`);
    const owner = this.ownerOf(ch);
    const link = owner ? this.linkFor(owner) : undefined;
    if (!link || !link.handle.send(["say", { user: u.user, name: u.name, ch, text, ...(to ? { to } : {}) }])) return this.refuse(u, "CHAT_UNAVAILABLE", shownCh);
    this.deps.metrics.posts.inc();
  }

  private refuse(u: ChatUser, key: ErrorKey, ch?: string, details?: string): void {
    const d = ErrorCatalog[key];
    this.deps.metrics.refused.inc({ code: d.code });
    u.client.deliver(encodeEnvelope("chatError", { code: d.code, message: details ? `${d.message}: ${details}` : d.message, ...(ch ? { ch } : {}) }));
  }

  // ---- memberships ----

  private join(u: ChatUser, ch: string, quiet: boolean): void {
    u.channels.add(ch);
    let set = this.members.get(ch);
    if (!set) this.members.set(ch, (set = new Set()));
    set.add(u.user);
    const owner = this.ownerOf(ch);
    if (owner) this.linkFor(owner)?.handle.send(["join", { user: u.user, name: u.name, ch, ...(quiet ? { quiet } : {}) }]);
  }

  private leave(u: ChatUser, ch: string): void {
    u.channels.delete(ch);
    if (u.zoneCh === ch) u.zoneCh = undefined;
    const set = this.members.get(ch);
    if (!set?.delete(u.user)) return;
    const owner = this.owners.get(ch);
    if (owner) this.links.get(owner)?.handle.send(["leave", { user: u.user, ch }]);
    if (set.size === 0) {
      this.members.delete(ch);
      this.owners.delete(ch);
    }
  }

  /** The owner of `ch` (remembered while the channel has local members). */
  private ownerOf(ch: string): string | undefined {
    let o = this.owners.get(ch);
    if (o === undefined) {
      o = channelOwner(ch, this.available());
      if (o !== undefined && this.members.has(ch)) this.owners.set(ch, o);
    }
    return o;
  }

  private available(): string[] {
    return this.servers.filter((m) => !this.down.has(m.id)).map((m) => m.id);
  }

  // ---- links ----

  private linkFor(memberId: string): Link | undefined {
    const l = this.links.get(memberId);
    if (l) return l;
    const m = this.servers.find((s) => s.id === memberId);
    const port = m ? pickLinkPort(m.linkPorts ?? [], this.deps.gatewayId) : undefined;
    if (!m || port === undefined || this.closed) return undefined;
    const link: Link = { memberId, url: `ws://${m.host}:${port}`, state: "connecting", handle: undefined as unknown as ChatLinkHandle };
    this.links.set(memberId, link);
    link.handle = this.linkFactory(
      { memberId, url: link.url },
      {
        onOps: (ops) => this.onOps(ops),
        onOpen: () => this.linkOpened(link),
        onClose: (reason) => this.linkClosed(link, reason),
      },
    );
    return link;
  }

  private linkOpened(link: Link): void {
    if (link.state !== "connecting") return;
    link.state = "open";
    this.deps.metrics.links.inc();
    this.deps.log.info({ chat: link.memberId, url: link.url }, "gateway: chat link open");
    if (this.down.delete(link.memberId)) this.rehome(); // back after a failure: its channels return
  }

  private linkClosed(link: Link, reason: string): void {
    if (link.state === "closed") return;
    const wasOpen = link.state === "open";
    if (wasOpen) this.deps.metrics.links.dec();
    link.state = "closed";
    if (this.links.get(link.memberId) === link) this.links.delete(link.memberId);
    if (this.closed) return;
    const prev = this.down.get(link.memberId);
    const delay = Math.min(prev ? prev.delay * 2 : (this.deps.retryMs ?? 250), 5000);
    this.down.set(link.memberId, { delay, until: this.now() + delay });
    // a failed probe of a server that is still down is routine: log only lost links
    if (wasOpen || !prev) this.deps.log.warn({ chat: link.memberId, reason }, "gateway: chat link closed; moving its channels");
    this.rehome();
  }

  private membersChanged(members: MemberInfo[]): void {
    if (this.closed) return;
    this.servers = members.filter((m) => m.role === "chat" && (m.linkPorts?.length ?? 0) > 0);
    const present = new Set(this.servers.map((m) => m.id));
    for (const id of [...this.down.keys()]) if (!present.has(id)) this.down.delete(id);
    for (const l of [...this.links.values()]) {
      if (present.has(l.memberId)) continue;
      this.links.delete(l.memberId);
      if (l.state === "open") this.deps.metrics.links.dec();
      l.state = "closed";
      void l.handle.close();
    }
    this.rehome();
  }

  /** Move every channel whose owner changed; tell users of channels whose owner failed. */
  private rehome(): void {
    const avail = this.available();
    const notify = new Set<number>();
    for (const [ch, set] of this.members) {
      const old = this.owners.get(ch);
      const now = channelOwner(ch, avail);
      if (now === old) continue;
      const oldLink = old ? this.links.get(old) : undefined;
      const failed = old !== undefined && !avail.includes(old);
      if (oldLink && !failed) for (const user of set) oldLink.handle.send(["leave", { user, ch }]);
      if (now === undefined) {
        this.owners.delete(ch);
        continue;
      }
      this.owners.set(ch, now);
      this.deps.metrics.rehomed.inc();
      const link = this.linkFor(now);
      for (const user of set) {
        const u = this.users.get(user);
        if (!u) continue;
        link?.handle.send(["join", { user, name: u.name, ch, ...(old !== undefined ? { quiet: true } : {}) }]);
        if (failed) notify.add(user);
      }
    }
    if (notify.size === 0) return;
    const frame = encodeEnvelope("chatNotice", { kind: "rehomed", text: "chat reconnected to another server; messages of the last moments may be missing" });
    for (const user of notify) this.users.get(user)?.client.deliver(frame);
  }

  // ---- output ----

  private onOps(ops: ChatServerOp[]): void {
    const m = this.deps.metrics;
    for (const [, { msgs, to }] of ops) {
      m.deliverOps.inc();
      if (msgs.length === 0) continue;
      const frame = concatParts(msgs);
      let n = 0;
      for (const user of to) {
        const u = this.users.get(user);
        if (!u) continue;
        u.client.deliver(frame);
        n++;
      }
      m.clientFrames.inc(n);
      m.messagesOut.inc(n * msgs.length);
    }
  }

  // ---- periodic ----

  private sweep(): void {
    if (this.closed) return;
    const now = this.now();
    for (const [id, d] of this.down) {
      if (now < d.until || this.links.has(id)) continue;
      this.linkFor(id); // probe: on open the server is back (linkOpened), on failure backoff doubles
    }
  }

  /** Counts for tests and health checks. */
  stats(): { users: number; channels: number; links: number; down: string[] } {
    return { users: this.users.size, channels: this.members.size, links: this.links.size, down: [...this.down.keys()] };
  }

  /** The chat server this gateway uses for `ch` now (tests). */
  ownerFor(ch: string): string | undefined {
    return this.owners.get(ch) ?? channelOwner(ch, this.available());
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.sweepTimer);
    this.unsubscribe();
    const links = [...this.links.values()];
    this.links.clear();
    await Promise.all(links.map((l) => l.handle.close()));
  }
}

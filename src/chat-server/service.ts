/**
 * The chat server's logic (single-threaded, no IO): channel memberships per gateway link,
 * moderation and the filter hook on every post, history rings, and the outbox that groups
 * what goes to each gateway per flush. The link server feeds it ops; a timer drains it.
 *
 * Contract:
 * - A link's ops are applied in order. `join` adds the user (and serves the history unless
 *   `quiet`), `leave` removes it, `say` posts: banned → CHAT_BANNED, muted → CHAT_MUTED,
 *   longer than `maxLength` → CHAT_TOO_LONG, filter reject → CHAT_FILTERED, whisper to an
 *   inbox nobody holds → CHAT_USER_OFFLINE — each a `chatError` to the sender only.
 * - A closed link's users leave every channel. Banned users are refused on join and removed
 *   from every channel when the ban arrives.
 * - History: the newest `historySize` messages per channel (not whisper inboxes). With a
 *   `HistoryStore`, a channel seen for the first time loads its stored history first (joins
 *   meanwhile get it once it is loaded) and every message is appended to the store.
 * - The service trusts user ids, names and channel authorisation from its gateways.
 */
import { ErrorCatalog, type ErrorKey } from "../core/errors.js";
import type { Logger } from "../core/log.js";
import { encodeEnvelope } from "../core/protocol/codec.js";
import type { ServerBody } from "../core/protocol/messages.js";
import { isInbox, keepsHistory, publicChannel, WORLD } from "./channels.js";
import { HistoryRing } from "./history.js";
import { passFilter, type ChatFilter, type Moderation, type ModerationEvent } from "./moderation.js";
import { Outbox, type LinkId } from "./outbox.js";
import type { ChatGatewayOp, ChatServerOp } from "./protocol.js";

export type ChatBody = ServerBody<"chat">;

/** Persistent history (Redis in production); optional. */
export interface HistoryStore {
  /** Stored history of `ch`, oldest first (at most the newest `limit`). */
  load(ch: string, limit: number): Promise<ChatBody[]>;
  /** Append one message (the store batches its writes). */
  append(ch: string, msg: ChatBody): void;
}

export interface ChatServiceOptions {
  historySize: number;
  maxLength: number;
  fanout: "grouped" | "naive";
  moderation: Moderation;
  filter?: ChatFilter;
  store?: HistoryStore;
  log: Logger;
  /** Wall clock (message timestamps, mute expiry). */
  now?: () => number;
}

interface Channel {
  id: string;
  members: Map<LinkId, Set<number>>;
  size: number;
  history: HistoryRing<ChatBody> | undefined;
  /** History still loading from the store: joins waiting for it. */
  waiters: [LinkId, number][] | undefined;
}

export interface ChatServiceStats {
  channels: number;
  members: number;
  posted: number;
  rejected: Record<string, number>;
}

const MAX_IDLE_CHANNELS = 10_000;

export class ChatService {
  private readonly channels = new Map<string, Channel>();
  private readonly outbox: Outbox;
  private readonly now: () => number;
  private readonly filter: ChatFilter;
  private readonly names = new Map<number, string>();
  private posted = 0;
  private rejected: Record<string, number> = {};

  constructor(private readonly opts: ChatServiceOptions) {
    this.outbox = new Outbox(opts.fanout);
    this.now = opts.now ?? Date.now;
    this.filter = opts.filter ?? passFilter;
  }

  // ---- links ----

  handle(link: LinkId, ops: readonly ChatGatewayOp[]): void {
    for (const op of ops) {
      switch (op[0]) {
        case "join":
          this.join(link, op[1].user, op[1].name, op[1].ch, op[1].quiet === true);
          break;
        case "leave":
          this.leave(link, op[1].user, op[1].ch);
          break;
        case "say":
          this.say(link, op[1]);
          break;
        default:
          break;
      }
    }
  }

  /** The link is gone: its users leave every channel. */
  linkClosed(link: LinkId): void {
    for (const c of [...this.channels.values()]) {
      const users = c.members.get(link);
      if (!users) continue;
      c.size -= users.size;
      c.members.delete(link);
      this.maybeForget(c);
    }
    this.outbox.dropLink(link);
  }

  // ---- ops ----

  private channel(ch: string): Channel {
    let c = this.channels.get(ch);
    if (c) return c;
    c = { id: ch, members: new Map(), size: 0, history: undefined, waiters: undefined };
    const size = keepsHistory(ch) ? this.opts.historySize : 0;
    if (size > 0) {
      c.history = new HistoryRing(size);
      if (this.opts.store) this.loadHistory(c, size);
    }
    this.channels.set(ch, c);
    this.evictIdle();
    return c;
  }

  private loadHistory(c: Channel, size: number): void {
    const waiters: [LinkId, number][] = [];
    c.waiters = waiters;
    this.opts.store!.load(c.id, size).then(
      (older) => c.history!.prepend(older),
      (err: unknown) => this.opts.log.warn({ err, ch: c.id }, "chat: history load failed; serving memory only"),
    ).finally(() => {
      c.waiters = undefined;
      for (const [link, user] of waiters) if (c.members.get(link)?.has(user)) this.sendHistory(c, link, user);
    });
  }

  private join(link: LinkId, user: number, name: string, ch: string, quiet: boolean): void {
    this.names.set(user, name);
    if (this.opts.moderation.isBanned(name)) {
      if (!isInbox(ch)) this.error(link, user, "CHAT_BANNED", publicChannel(ch));
      return;
    }
    const c = this.channel(ch);
    let users = c.members.get(link);
    if (!users) c.members.set(link, (users = new Set()));
    if (!users.has(user)) {
      users.add(user);
      c.size++;
    }
    if (quiet || !c.history) return;
    if (c.waiters) c.waiters.push([link, user]);
    else this.sendHistory(c, link, user);
  }

  private sendHistory(c: Channel, link: LinkId, user: number): void {
    this.outbox.toUser(link, user, encodeEnvelope("chatHistory", { ch: publicChannel(c.id), msgs: c.history!.items() }));
  }

  private leave(link: LinkId, user: number, ch: string): void {
    const c = this.channels.get(ch);
    const users = c?.members.get(link);
    if (!c || !users?.delete(user)) return;
    c.size--;
    if (users.size === 0) c.members.delete(link);
    this.maybeForget(c);
  }

  private say(link: LinkId, op: Extract<ChatGatewayOp, ["say", unknown]>[1]): void {
    const { user, name, ch } = op;
    this.names.set(user, name);
    const pub = publicChannel(ch);
    const denied = this.opts.moderation.check(name, this.now());
    if (denied) return this.error(link, user, denied, pub);
    if ([...op.text].length > this.opts.maxLength) return this.error(link, user, "CHAT_TOO_LONG", pub, `at most ${this.opts.maxLength} characters`);
    let text = op.text;
    const verdict = this.filter({ ch, user, name, text });
    if (verdict.action === "reject") return this.error(link, user, "CHAT_FILTERED", pub, verdict.reason);
    if (verdict.action === "replace") text = verdict.text;
    const c = this.channels.get(ch);
    if (isInbox(ch)) {
      if (!c || c.size === 0) return this.error(link, user, "CHAT_USER_OFFLINE", pub, op.to);
      const body: ChatBody = { ch: pub, from: name, uid: user, text, ts: this.now() };
      this.outbox.toChannel(ch, encodeEnvelope("chat", body), () => c.members);
      this.outbox.toUser(link, user, encodeEnvelope("chat", { ...body, to: op.to ?? ch.slice(2) }));
      this.posted++;
      return;
    }
    const chan = c ?? this.channel(ch);
    const body: ChatBody = { ch: pub, from: name, uid: user, text, ts: this.now() };
    chan.history?.push(body);
    if (chan.history && this.opts.store) this.opts.store.append(ch, body);
    this.outbox.toChannel(ch, encodeEnvelope("chat", body), () => chan.members);
    this.posted++;
  }

  private error(link: LinkId, user: number, key: ErrorKey, ch?: string, details?: string): void {
    this.rejected[key] = (this.rejected[key] ?? 0) + 1;
    const d = ErrorCatalog[key];
    this.outbox.toUser(link, user, encodeEnvelope("chatError", { code: d.code, message: details ? `${d.message}: ${details}` : d.message, ...(ch ? { ch } : {}) }));
  }

  // ---- operators ----

  /** A system announcement to everyone in `world` on this server. */
  announce(text: string): void {
    const c = this.channels.get(WORLD);
    if (!c || c.size === 0) return;
    this.outbox.toChannel(WORLD, encodeEnvelope("chatNotice", { kind: "announce", text }), () => c.members);
  }

  /** Apply a moderation event (bans also remove the user from every channel here). */
  moderate(e: ModerationEvent): void {
    if (e.op === "announce") return this.announce(e.text);
    this.opts.moderation.apply(e);
    if (e.op === "ban") this.purge(e.name);
  }

  /** Remove every user named `name` (case-insensitive) from every channel (not the inbox). */
  private purge(name: string): void {
    const ids = new Set<number>();
    for (const [u, n] of this.names) if (n.toLowerCase() === name) ids.add(u);
    if (ids.size === 0) return;
    for (const c of [...this.channels.values()]) {
      if (isInbox(c.id)) continue;
      for (const [link, users] of [...c.members]) {
        for (const u of ids) if (users.delete(u)) c.size--;
        if (users.size === 0) c.members.delete(link);
      }
      this.maybeForget(c);
    }
  }

  // ---- housekeeping ----

  /** Channels without members and without history are forgotten at once. */
  private maybeForget(c: Channel): void {
    if (c.size > 0 || c.waiters) return;
    if (!c.history || c.history.size === 0) {
      this.channels.delete(c.id);
      if (c.size === 0) this.forgetNames();
    }
  }

  private forgetNames(): void {
    if (this.names.size < 100_000) return;
    this.names.clear(); // re-learned from the next join/say of each user
  }

  /** Bound memory: forget the oldest empty channels (their history stays in the store). */
  private evictIdle(): void {
    if (this.channels.size <= MAX_IDLE_CHANNELS) return;
    for (const c of this.channels.values()) {
      if (this.channels.size <= MAX_IDLE_CHANNELS) break;
      if (c.size === 0 && !c.waiters) this.channels.delete(c.id);
    }
  }

  /** This flush's ops per link (empty map when nothing is pending). */
  drain(): Map<LinkId, ChatServerOp[]> {
    return this.outbox.drain();
  }

  get pending(): number {
    return this.outbox.pending;
  }

  /** Members of a channel on this server (tests, diagnostics). */
  membersOf(ch: string): number {
    return this.channels.get(ch)?.size ?? 0;
  }

  /** Memberships (user × channel) on this server. */
  get memberTotal(): number {
    let n = 0;
    for (const c of this.channels.values()) n += c.size;
    return n;
  }

  /** Counters; `rejected` counts since the previous call. */
  stats(): ChatServiceStats {
    let members = 0;
    for (const c of this.channels.values()) members += c.size;
    const out = { channels: this.channels.size, members, posted: this.posted, rejected: this.rejected };
    this.rejected = {};
    return out;
  }
}

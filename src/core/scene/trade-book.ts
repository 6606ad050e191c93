/**
 * Where the two halves of a player trade meet (issue #7 item 4, docs/PROTOCOL.md §Trades).
 * The two players may be on different game servers, so the meeting point is shared: Redis.
 *
 * TradeBook contract:
 * - `propose(half)` atomically stores the caller's half for the pair (replacing the caller's
 *   previous half for that pair) and, when the other user's half is there, still live (younger
 *   than `lifetimeMs`) and MIRRORS it — other.give == mine.get and other.get == mine.give,
 *   item lists compared as sorted sets — removes the pair's entry and returns the other half.
 *   Of two concurrent matching proposals exactly one sees the other's half: only ONE server
 *   ever executes a matched trade.
 * - `withdraw(user, other, id?)` removes the user's half for the pair (only if it is still the
 *   half with id `id`, when given) and returns it; undefined when there was none. A half that outlived
 *   `lifetimeMs` is still withdrawable (it is what the proposer's expiry removes).
 * Redis layout: one hash per pair, `<keyPrefix>trade:<lo>:<hi>`; per user field `<user>` (the
 * JSON half) and companion fields `<user>:terms` (canonical terms, compared by the script
 * without parsing JSON), `<user>:at` (Redis TIME of the store, ms) and `<user>:id`. The key
 * expires `lifetimeMs + graceMs` after the last write: a proposer's server that died never
 * withdraws, Redis forgets it. Liveness is judged on Redis' clock only.
 *
 * TradeNotifier contract: `send(to, body)` hands a `tradeStatus` for user `to` to every game
 * server (at-most-once pub/sub: a lost notice is a client that saw no prompt / no outcome and
 * re-reads its inventory); `subscribe(fn)` delivers every notice published after the
 * subscription is live — each server keeps those for users it serves and ignores the rest.
 * Channel: `<keyPrefix>trades`, message `{to, body}`.
 */
import { MemoryPubSub } from "../memory-pubsub.js";
import { parseJsonAs } from "../json.js";
import { Redis } from "ioredis";
import { randomUUID } from "node:crypto";
import { z } from "zod";
import type { Logger } from "../log.js";
import { RiftError } from "../errors.js";
import { GAP, RedisChannel } from "../redis-channel.js";
import { ServerSchemas, type ServerBody } from "../protocol/messages.js";
import type { TradeOffer } from "../../game/trade-rules.js";

/** One user's side of a proposed trade, from its own point of view. */
export interface TradeHalf {
  user: number;
  with: number;
  give: TradeOffer;
  get: TradeOffer;
  /** Unique id of this proposal (a re-proposal gets a new one). */
  id: string;
}

export type TradeStatusBody = ServerBody<"tradeStatus">;

export interface TradeBook {
  propose(half: TradeHalf): Promise<TradeHalf | undefined>;
  withdraw(user: number, other: number, id?: string): Promise<TradeHalf | undefined>;
  close(): Promise<void>;
}

export interface TradeNotifier {
  send(to: number, body: TradeStatusBody): Promise<void>;
  subscribe(fn: (to: number, body: TradeStatusBody) => void): () => void;
  close(): Promise<void>;
}

/** Default life of an unanswered offer. */
export const TRADE_OFFER_LIFETIME_MS = 60_000;
/** Extra life of the Redis key beyond the offer's (the proposer's server withdraws it first). */
export const TRADE_KEY_GRACE_MS = 30_000;

export function newProposalId(): string {
  return randomUUID().replaceAll("-", "");
}

/** Canonical text of one offer: sorted unique item ids, then the currency. Pure. */
export function offerKey(o: TradeOffer): string {
  return `${[...new Set(o.items)].sort((a, b) => a - b).join(",")};${o.currency}`;
}

/** Canonical terms of a half (`give|get`) and the terms a mirroring half must have. Pure. */
export function halfTerms(h: Pick<TradeHalf, "give" | "get">): { mine: string; mirror: string } {
  return { mine: `${offerKey(h.give)}|${offerKey(h.get)}`, mirror: `${offerKey(h.get)}|${offerKey(h.give)}` };
}

/** Whether `b` mirrors `a` (b.give == a.get, b.get == a.give, as sets). Pure. */
export function mirrors(a: Pick<TradeHalf, "give" | "get">, b: Pick<TradeHalf, "give" | "get">): boolean {
  return halfTerms(b).mine === halfTerms(a).mirror;
}

/** Redis key of a pair's entry (order-independent). */
export function tradeKey(keyPrefix: string, u: number, v: number): string {
  return `${keyPrefix}trade:${Math.min(u, v)}:${Math.max(u, v)}`;
}

const offerSchema = z.strictObject({ items: z.array(z.number().int().positive()), currency: z.number().int().min(0) });
const halfSchema = z.strictObject({ user: z.number().int().positive(), with: z.number().int().positive(), give: offerSchema, get: offerSchema, id: z.string() });

export function parseHalf(raw: string): TradeHalf | undefined {
  try {
    const r = halfSchema.safeParse(JSON.parse(raw));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------- in-memory doubles

/** In-process book (unit tests): same matching rules, a test-driven clock for liveness. */
export class MemoryTradeBook implements TradeBook {
  private readonly pairs = new Map<string, Map<number, { half: TradeHalf; at: number }>>();

  constructor(private readonly opts: { lifetimeMs?: number; now?: () => number } = {}) {}

  private now(): number {
    return this.opts.now ? this.opts.now() : Date.now();
  }

  async propose(half: TradeHalf): Promise<TradeHalf | undefined> {
    const key = tradeKey("", half.user, half.with);
    let entry = this.pairs.get(key);
    const other = entry?.get(half.with);
    const now = this.now();
    if (other && now - other.at < (this.opts.lifetimeMs ?? TRADE_OFFER_LIFETIME_MS) && mirrors(half, other.half)) {
      this.pairs.delete(key);
      return structuredClone(other.half);
    }
    if (!entry) this.pairs.set(key, (entry = new Map()));
    entry.set(half.user, { half: structuredClone(half), at: now });
    return undefined;
  }

  async withdraw(user: number, other: number, id?: string): Promise<TradeHalf | undefined> {
    const key = tradeKey("", user, other);
    const entry = this.pairs.get(key);
    const mine = entry?.get(user);
    if (!entry || !mine || (id !== undefined && mine.half.id !== id)) return undefined;
    entry.delete(user);
    if (entry.size === 0) this.pairs.delete(key);
    return mine.half;
  }

  /** Halves stored now (tests). */
  get size(): number {
    let n = 0;
    for (const e of this.pairs.values()) n += e.size;
    return n;
  }

  async close(): Promise<void> {}
}

/** In-process notice bus (unit tests): every notifier made from one hub sees every notice. */
export class MemoryTradeHub {
  private readonly hub = new MemoryPubSub<[number, TradeStatusBody]>();
  readonly sent: { to: number; body: TradeStatusBody }[] = [];
  notifier(): TradeNotifier {
    const ep = this.hub.endpoint();
    return {
      send: async (to, body) => {
        this.sent.push({ to, body: structuredClone(body) });
        ep.emit(to, structuredClone(body));
      },
      subscribe: ep.subscribe,
      close: ep.close,
    };
  }
}

// ---------------------------------------------------------------- Redis

/**
 * KEYS[1] pair key; ARGV: user, other, half JSON, my terms, the terms a match must have, id,
 * key TTL ms, offer lifetime ms. Returns the other half's JSON on a match (key deleted), else false.
 */
const PROPOSE_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local other = ARGV[2]
local oterms = redis.call('HGET', KEYS[1], other .. ':terms')
if oterms and oterms == ARGV[5] then
  local oat = tonumber(redis.call('HGET', KEYS[1], other .. ':at') or '0') or 0
  if now - oat < tonumber(ARGV[8]) then
    local ojson = redis.call('HGET', KEYS[1], other)
    redis.call('DEL', KEYS[1])
    return ojson
  end
end
local u = ARGV[1]
redis.call('HSET', KEYS[1], u, ARGV[3], u .. ':terms', ARGV[4], u .. ':at', tostring(now), u .. ':id', ARGV[6])
redis.call('PEXPIRE', KEYS[1], ARGV[7])
return false
`;

/** KEYS[1] pair key; ARGV: user, id ('' = any). Returns the removed half's JSON, or false. */
const WITHDRAW_LUA = `
local u = ARGV[1]
local id = redis.call('HGET', KEYS[1], u .. ':id')
if not id then return false end
if ARGV[2] ~= '' and id ~= ARGV[2] then return false end
local json = redis.call('HGET', KEYS[1], u)
redis.call('HDEL', KEYS[1], u, u .. ':terms', u .. ':at', u .. ':id')
return json
`;

type BookRedis = Redis & {
  riftTradePropose(key: string, ...args: string[]): Promise<string | null>;
  riftTradeWithdraw(key: string, ...args: string[]): Promise<string | null>;
};

export interface RedisTradeBookOptions {
  url: string;
  /** Cluster key prefix (`cluster.redis.keyPrefix`). */
  keyPrefix: string;
  log: Logger;
  lifetimeMs?: number;
  graceMs?: number;
  connectionName?: string;
}

export class RedisTradeBook implements TradeBook {
  private readonly redis: BookRedis;
  private readonly lifetimeMs: number;
  private readonly graceMs: number;

  constructor(private readonly opts: RedisTradeBookOptions) {
    this.lifetimeMs = opts.lifetimeMs ?? TRADE_OFFER_LIFETIME_MS;
    this.graceMs = opts.graceMs ?? TRADE_KEY_GRACE_MS;
    const r = new Redis(opts.url, { maxRetriesPerRequest: 2, connectTimeout: 3000, connectionName: opts.connectionName ?? "rift-trade-book", lazyConnect: true });
    r.on("error", (err: Error) => opts.log.warn({ err: err.message }, "redis (trade book) error"));
    r.defineCommand("riftTradePropose", { numberOfKeys: 1, lua: PROPOSE_LUA });
    r.defineCommand("riftTradeWithdraw", { numberOfKeys: 1, lua: WITHDRAW_LUA });
    this.redis = r as BookRedis;
  }

  async propose(half: TradeHalf): Promise<TradeHalf | undefined> {
    const { mine, mirror } = halfTerms(half);
    const raw = await this.call(() =>
      this.redis.riftTradePropose(
        tradeKey(this.opts.keyPrefix, half.user, half.with),
        String(half.user),
        String(half.with),
        JSON.stringify(half),
        mine,
        mirror,
        half.id,
        String(this.lifetimeMs + this.graceMs),
        String(this.lifetimeMs),
      ),
    );
    return this.read(raw);
  }

  async withdraw(user: number, other: number, id?: string): Promise<TradeHalf | undefined> {
    return this.read(await this.call(() => this.redis.riftTradeWithdraw(tradeKey(this.opts.keyPrefix, user, other), String(user), id ?? "")));
  }

  private read(raw: string | null | undefined): TradeHalf | undefined {
    if (raw === null || raw === undefined) return undefined;
    const half = parseHalf(raw);
    if (!half) throw new RiftError("INTERNAL", "trade book: unreadable offer stored in Redis");
    return half;
  }

  private async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw new RiftError("DEPENDENCY_UNAVAILABLE", `trade book (redis ${this.opts.url}): ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  }

  async close(): Promise<void> {
    try {
      await this.redis.quit();
    } catch {
      this.redis.disconnect();
    }
  }
}

const noticeSchema = z.strictObject({ to: z.number().int().positive(), body: ServerSchemas.tradeStatus });

export function parseNotice(raw: string): { to: number; body: TradeStatusBody } | undefined {
  return parseJsonAs(noticeSchema, raw);
}

export interface RedisTradeNotifierOptions {
  url: string;
  keyPrefix: string;
  log: Logger;
  connectionName?: string;
}

/** Trade notices over the pub/sub channel `<keyPrefix>trades` (a GAP needs no action: notices are best-effort). */
export class RedisTradeNotifier implements TradeNotifier {
  private readonly ch: RedisChannel<{ to: number; body: TradeStatusBody }>;

  constructor(opts: RedisTradeNotifierOptions) {
    this.ch = new RedisChannel({
      url: opts.url,
      channel: `${opts.keyPrefix}trades`,
      parse: parseNotice,
      log: opts.log,
      what: "trade notices",
      connectionName: opts.connectionName ?? "rift-trade-notices",
    });
  }

  get channel(): string {
    return this.ch.channel;
  }

  async send(to: number, body: TradeStatusBody): Promise<void> {
    await this.ch.publish({ to, body });
  }

  subscribe(fn: (to: number, body: TradeStatusBody) => void): () => void {
    return this.ch.subscribe((d) => {
      if (d !== GAP) fn(d.to, d.body);
    });
  }

  ready(): Promise<void> {
    return this.ch.ready();
  }

  close(): Promise<void> {
    return this.ch.close();
  }
}

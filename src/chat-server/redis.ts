/**
 * Chat state in Redis (the project's Redis, `cluster.redis.url` + `keyPrefix`):
 *
 *   <p>chat:mutes      hash  name → muted-until (ms since the epoch)      written by opsctl
 *   <p>chat:bans       set   names                                       written by opsctl
 *   <p>chat:events     pub/sub channel: ModerationEvent JSON (mute, unmute, ban, unban, announce)
 *   <p>chat:h:<ch>     list  the channel's last N messages (JSON), newest last
 *
 * Chat servers load mutes/bans at start, apply events as they arrive and reload everything
 * every `moderationReloadMs` (an event lost while the subscriber was reconnecting is healed
 * by the next reload). History writes are batched: one pipeline per flush period.
 */
import { Redis } from "ioredis";
import type { Logger } from "../core/log.js";
import { parseModerationEvent, type ModerationEvent } from "./moderation.js";
import type { ChatBody, HistoryStore } from "./service.js";

export function chatKeys(prefix: string) {
  return {
    mutes: `${prefix}chat:mutes`,
    bans: `${prefix}chat:bans`,
    events: `${prefix}chat:events`,
    history: (ch: string) => `${prefix}chat:h:${ch}`,
  };
}

/** History kept in Redis lists; appends are buffered and written once per `flushMs`. */
export class RedisHistoryStore implements HistoryStore {
  private buffer = new Map<string, string[]>();
  private readonly timer: NodeJS.Timeout;
  private readonly keys: ReturnType<typeof chatKeys>;

  constructor(
    private readonly redis: Redis,
    prefix: string,
    private readonly size: number,
    flushMs: number,
    private readonly log: Logger,
  ) {
    this.keys = chatKeys(prefix);
    this.timer = setInterval(() => void this.flush(), flushMs);
    this.timer.unref();
  }

  async load(ch: string, limit: number): Promise<ChatBody[]> {
    const raw = await this.redis.lrange(this.keys.history(ch), -limit, -1);
    const out: ChatBody[] = [];
    for (const r of raw) {
      try {
        out.push(JSON.parse(r) as ChatBody);
      } catch {
        /* a foreign or broken entry: skip */
      }
    }
    return out;
  }

  append(ch: string, msg: ChatBody): void {
    const list = this.buffer.get(ch);
    if (list) list.push(JSON.stringify(msg));
    else this.buffer.set(ch, [JSON.stringify(msg)]);
  }

  async flush(): Promise<void> {
    if (this.buffer.size === 0) return;
    const batch = this.buffer;
    this.buffer = new Map();
    const p = this.redis.pipeline();
    for (const [ch, msgs] of batch) {
      const key = this.keys.history(ch);
      p.rpush(key, ...msgs.slice(-this.size));
      p.ltrim(key, -this.size, -1);
      p.expire(key, 7 * 24 * 3600);
    }
    try {
      await p.exec();
    } catch (err) {
      this.log.warn({ err, channels: batch.size }, "chat: history write to Redis failed (kept in memory only)");
    }
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }
}

/** Read every mute and ban. */
export async function loadModeration(redis: Redis, prefix: string): Promise<{ mutes: Record<string, number>; bans: string[] }> {
  const k = chatKeys(prefix);
  const [mutes, bans] = await Promise.all([redis.hgetall(k.mutes), redis.smembers(k.bans)]);
  const m: Record<string, number> = {};
  for (const [name, until] of Object.entries(mutes)) {
    const t = Number(until);
    if (Number.isFinite(t)) m[name] = t;
  }
  return { mutes: m, bans };
}

/** Subscribe to moderation events (a dedicated connection: a subscriber cannot run commands). */
export async function subscribeModeration(url: string, prefix: string, log: Logger, onEvent: (e: ModerationEvent) => void): Promise<Redis> {
  const sub = new Redis(url, { maxRetriesPerRequest: null, lazyConnect: true });
  sub.on("error", (err: Error) => log.debug({ err: err.message }, "chat: Redis subscriber error"));
  await sub.connect();
  const channel = chatKeys(prefix).events;
  sub.on("message", (ch: string, raw: string) => {
    if (ch !== channel) return;
    const e = parseModerationEvent(raw);
    if (e) onEvent(e);
    else log.warn({ raw: raw.slice(0, 120) }, "chat: malformed moderation event ignored");
  });
  await sub.subscribe(channel);
  return sub;
}

/** Operators (opsctl): store the change, then publish it to every chat server. */
export async function publishModeration(redis: Redis, prefix: string, e: ModerationEvent): Promise<number> {
  const k = chatKeys(prefix);
  switch (e.op) {
    case "mute":
      await redis.hset(k.mutes, e.name, String(e.until));
      break;
    case "unmute":
      await redis.hdel(k.mutes, e.name);
      break;
    case "ban":
      await redis.sadd(k.bans, e.name);
      break;
    case "unban":
      await redis.srem(k.bans, e.name);
      break;
    default:
      break;
  }
  return redis.publish(k.events, JSON.stringify(e));
}

/**
 * Cluster-wide invalidation of the user → shard mapping cache (issue #6 item 1).
 *
 * Why Redis pub/sub and not a ZooKeeper watch: a mapping change is per-user data, and
 * ZooKeeper holds only server-level state (DESIGN §8 — one znode or one write per moved user
 * would put user-scale traffic on the coordination service). Redis pub/sub fans a batch of
 * user ids out to every subscribed process in one message, costs nothing when idle and is
 * already part of the cluster (DESIGN §2: "pub/sub ops events").
 *
 * Correctness never depends on a message arriving (pub/sub is at-most-once):
 * - the mover tells the OWNING game server directly (ops API `release`), which drops its own
 *   entry before writing again — the write path is always right;
 * - `PgPlayerRepository.takeOwnership`/`load` re-read the mapping when the cached shard has no
 *   row for the user (the row moved away);
 * - a subscriber that lost its Redis connection delivers `{kind: "all"}` when it is back
 *   (messages may have been missed): the process drops its whole cache.
 *
 * Contract of MappingBus:
 * - `publish(change)` resolves once the change was handed to the bus (or rejects with
 *   DEPENDENCY_UNAVAILABLE after a bounded wait); user lists are split into messages of at
 *   most MAX_USERS_PER_MESSAGE.
 * - `subscribe(fn)` delivers every change published after the subscription is live, in
 *   publish order per publisher, plus `{kind: "all"}` after any gap; the returned function
 *   unsubscribes.
 */
import { Redis } from "ioredis";
import { z } from "zod";
import { RiftError } from "../core/errors.js";
import type { Logger } from "../core/log.js";

export type MappingChange =
  /** These users' mappings changed. */
  | { kind: "users"; users: number[] }
  /** Anything may have changed: drop every cached mapping. */
  | { kind: "all" }
  /** The shards table changed (added shard, new weights): reload it. */
  | { kind: "shards" };

export interface MappingBus {
  publish(change: MappingChange): Promise<void>;
  subscribe(fn: (change: MappingChange) => void): () => void;
  close(): Promise<void>;
}

export const MAX_USERS_PER_MESSAGE = 1000;

const ChangeSchema = z.discriminatedUnion("kind", [
  z.strictObject({ kind: z.literal("users"), users: z.array(z.number().int().positive()).max(MAX_USERS_PER_MESSAGE) }),
  z.strictObject({ kind: z.literal("all") }),
  z.strictObject({ kind: z.literal("shards") }),
]);

/** Messages for one change (user lists split). Pure. */
export function splitChange(change: MappingChange): MappingChange[] {
  if (change.kind !== "users") return [change];
  const out: MappingChange[] = [];
  for (let i = 0; i < change.users.length; i += MAX_USERS_PER_MESSAGE) out.push({ kind: "users", users: change.users.slice(i, i + MAX_USERS_PER_MESSAGE) });
  return out;
}

/** Parse a bus message; undefined when malformed (a foreign or broken publisher). Pure. */
export function parseChange(raw: string): MappingChange | undefined {
  try {
    const r = ChangeSchema.safeParse(JSON.parse(raw));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}

/** In-process bus (unit tests): every instance made from one hub sees the others' messages. */
export class MemoryMappingHub {
  private readonly subs = new Set<(c: MappingChange) => void>();
  bus(): MappingBus {
    const mine = new Set<(c: MappingChange) => void>();
    return {
      publish: async (change) => {
        for (const m of splitChange(change)) for (const fn of [...this.subs]) fn(m);
      },
      subscribe: (fn) => {
        this.subs.add(fn);
        mine.add(fn);
        return () => {
          this.subs.delete(fn);
          mine.delete(fn);
        };
      },
      close: async () => {
        for (const fn of mine) this.subs.delete(fn);
        mine.clear();
      },
    };
  }
}

export interface RedisMappingBusOptions {
  url: string;
  /** Cluster key prefix (`cluster.redis.keyPrefix`); the channel is `<prefix>shardmap`. */
  keyPrefix: string;
  log: Logger;
  /** Longest wait of `publish` (default 5 s). */
  publishTimeoutMs?: number;
  /** Redis CLIENT name of the connections (shows in CLIENT LIST; default `rift-mapping-bus`). */
  connectionName?: string;
}

export class RedisMappingBus implements MappingBus {
  private pub: Redis | undefined;
  private sub: Redis | undefined;
  private readonly listeners = new Set<(c: MappingChange) => void>();
  private wasReady = false;
  private closed = false;
  readonly channel: string;

  constructor(private readonly opts: RedisMappingBusOptions) {
    this.channel = `${opts.keyPrefix}shardmap`;
  }

  async publish(change: MappingChange): Promise<void> {
    if (this.closed) throw new RiftError("DEPENDENCY_UNAVAILABLE", "mapping bus closed");
    if (!this.pub) {
      this.pub = new Redis(this.opts.url, { maxRetriesPerRequest: 2, connectTimeout: 3000, connectionName: this.opts.connectionName ?? "rift-mapping-bus" });
      this.pub.on("error", (err: Error) => this.opts.log.warn({ err: err.message }, "redis (mapping bus publisher) error"));
    }
    const pub = this.pub;
    const timeoutMs = this.opts.publishTimeoutMs ?? 5000;
    for (const m of splitChange(change)) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new RiftError("DEPENDENCY_UNAVAILABLE", `redis ${this.opts.url}: publish not done within ${timeoutMs} ms`)), timeoutMs);
      });
      try {
        await Promise.race([pub.publish(this.channel, JSON.stringify(m)), timeout]);
      } catch (e) {
        throw e instanceof RiftError ? e : new RiftError("DEPENDENCY_UNAVAILABLE", `redis ${this.opts.url}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
      } finally {
        clearTimeout(timer);
      }
    }
  }

  subscribe(fn: (change: MappingChange) => void): () => void {
    this.listeners.add(fn);
    if (!this.sub && !this.closed) this.startSubscriber();
    return () => this.listeners.delete(fn);
  }

  /** Resolves when the subscription is live (tests; processes do not need to wait). */
  async ready(): Promise<void> {
    if (!this.sub) this.startSubscriber();
    const sub = this.sub!;
    if (this.wasReady) return;
    await new Promise<void>((resolve) => sub.once("subscribed-ready" as never, resolve));
  }

  private startSubscriber(): void {
    // ioredis re-subscribes after a reconnect by itself; `ready` after the first one means
    // messages may have been missed meanwhile.
    const sub = new Redis(this.opts.url, { maxRetriesPerRequest: null, connectTimeout: 3000, connectionName: this.opts.connectionName ?? "rift-mapping-bus" });
    this.sub = sub;
    sub.on("error", (err: Error) => this.opts.log.warn({ err: err.message }, "redis (mapping bus subscriber) error"));
    sub.on("ready", () => {
      void sub
        .subscribe(this.channel)
        .then(() => {
          if (this.wasReady) {
            this.opts.log.info("mapping bus reconnected: dropping the whole mapping cache (messages may have been missed)");
            this.emit({ kind: "all" });
          }
          this.wasReady = true;
          sub.emit("subscribed-ready");
        })
        .catch((err: unknown) => this.opts.log.warn({ err: String(err) }, "mapping bus subscribe failed"));
    });
    sub.on("message", (channel: string, raw: string) => {
      if (channel !== this.channel) return;
      const change = parseChange(raw);
      if (!change) {
        this.opts.log.warn({ channel, bytes: raw.length }, "ignoring malformed mapping-bus message");
        return;
      }
      this.emit(change);
    });
  }

  private emit(change: MappingChange): void {
    for (const fn of [...this.listeners]) {
      try {
        fn(change);
      } catch (err) {
        this.opts.log.error({ err }, "mapping-bus listener failed");
      }
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.listeners.clear();
    await Promise.all(
      [this.pub, this.sub].map(async (r) => {
        if (!r) return;
        try {
          await r.quit();
        } catch {
          r.disconnect();
        }
      }),
    );
  }
}

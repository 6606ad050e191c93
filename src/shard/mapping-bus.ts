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
import { z } from "zod";
import type { Logger } from "../core/log.js";
import { GAP, RedisChannel } from "../core/redis-channel.js";
import { MemoryPubSub } from "../core/memory-pubsub.js";
import { parseJsonAs } from "../core/json.js";

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
  return parseJsonAs(ChangeSchema, raw);
}

/** In-process bus (unit tests): every instance made from one hub sees the others' messages. */
export class MemoryMappingHub {
  private readonly hub = new MemoryPubSub<[MappingChange]>();
  bus(): MappingBus {
    const ep = this.hub.endpoint();
    return {
      publish: async (change) => {
        for (const m of splitChange(change)) ep.emit(m);
      },
      subscribe: ep.subscribe,
      close: ep.close,
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

/** The mapping bus over one Redis pub/sub channel (core/redis-channel.ts); a gap → `{kind: "all"}`. */
export class RedisMappingBus implements MappingBus {
  private readonly ch: RedisChannel<MappingChange>;

  constructor(opts: RedisMappingBusOptions) {
    this.ch = new RedisChannel<MappingChange>({
      url: opts.url,
      channel: `${opts.keyPrefix}shardmap`,
      parse: parseChange,
      log: opts.log,
      what: "mapping bus",
      connectionName: opts.connectionName ?? "rift-mapping-bus",
      ...(opts.publishTimeoutMs !== undefined ? { publishTimeoutMs: opts.publishTimeoutMs } : {}),
    });
  }

  get channel(): string {
    return this.ch.channel;
  }

  async publish(change: MappingChange): Promise<void> {
    for (const m of splitChange(change)) await this.ch.publish(m);
  }

  subscribe(fn: (change: MappingChange) => void): () => void {
    return this.ch.subscribe((d) => fn(d === GAP ? { kind: "all" } : d));
  }

  /** Resolves when the subscription is live (tests; processes do not need to wait). */
  ready(): Promise<void> {
    return this.ch.ready();
  }

  close(): Promise<void> {
    return this.ch.close();
  }
}

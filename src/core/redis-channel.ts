/**
 * One Redis pub/sub channel carrying JSON messages — the transport under the cluster's
 * notification buses (shard-mapping invalidation, ops events).
 *
 * Contract:
 * - `publish(msg)` sends `JSON.stringify(msg)`; resolves with the number of subscribers that
 *   got it, or rejects with DEPENDENCY_UNAVAILABLE (unreachable, or not done within
 *   `publishTimeoutMs`). The publisher connection is opened on first use.
 * - `subscribe(fn)` delivers every message published after the subscription is live that
 *   `parse` accepts (malformed ones are logged and dropped), and `GAP` after the subscriber
 *   connection came back from a disconnect: messages may have been missed (pub/sub is
 *   at-most-once) — listeners resynchronise from the durable state.
 * - `ready()` resolves once the subscription is live (or the channel is closed).
 * Both connections carry `connectionName` (CLIENT LIST; tests cut them by name).
 */
import { Redis } from "ioredis";
import { RiftError } from "./errors.js";
import type { Logger } from "./log.js";

/** Delivered after a reconnect of the subscriber: messages may have been missed. */
export const GAP = Symbol("redis-channel-gap");
export type Delivery<T> = T | typeof GAP;

export interface RedisChannelOptions<T> {
  url: string;
  /** Full channel name (already prefixed with the cluster key prefix). */
  channel: string;
  /** Validate one message; undefined = malformed (dropped). */
  parse(raw: string): T | undefined;
  log: Logger;
  /** What the channel is, for log lines (e.g. "mapping bus"). */
  what: string;
  connectionName: string;
  /** Longest wait of `publish` (default 5 s). */
  publishTimeoutMs?: number;
}

export class RedisChannel<T> {
  private pub: Redis | undefined;
  private sub: Redis | undefined;
  private readonly listeners = new Set<(d: Delivery<T>) => void>();
  private wasReady = false;
  private closed = false;
  private readyWaiters: (() => void)[] = [];

  constructor(private readonly opts: RedisChannelOptions<T>) {}

  get channel(): string {
    return this.opts.channel;
  }

  async publish(msg: T): Promise<number> {
    if (this.closed) throw new RiftError("DEPENDENCY_UNAVAILABLE", `${this.opts.what} closed`);
    if (!this.pub) {
      this.pub = new Redis(this.opts.url, { maxRetriesPerRequest: 2, connectTimeout: 3000, connectionName: this.opts.connectionName });
      this.pub.on("error", (err: Error) => this.opts.log.warn({ err: err.message }, `redis (${this.opts.what} publisher) error`));
    }
    const timeoutMs = this.opts.publishTimeoutMs ?? 5000;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new RiftError("DEPENDENCY_UNAVAILABLE", `redis ${this.opts.url}: publish not done within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      return await Promise.race([this.pub.publish(this.opts.channel, JSON.stringify(msg)), timeout]);
    } catch (err) {
      throw err instanceof RiftError ? err : new RiftError("DEPENDENCY_UNAVAILABLE", `redis ${this.opts.url}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    } finally {
      clearTimeout(timer);
    }
  }

  subscribe(fn: (d: Delivery<T>) => void): () => void {
    this.listeners.add(fn);
    if (!this.sub && !this.closed) this.startSubscriber();
    return () => this.listeners.delete(fn);
  }

  ready(): Promise<void> {
    if (!this.sub && !this.closed) this.startSubscriber();
    if (this.wasReady || this.closed) return Promise.resolve();
    return new Promise((resolve) => this.readyWaiters.push(resolve));
  }

  private startSubscriber(): void {
    // ioredis re-subscribes after a reconnect by itself; `ready` after the first one means
    // messages may have been missed meanwhile → GAP.
    const sub = new Redis(this.opts.url, { maxRetriesPerRequest: null, connectTimeout: 3000, connectionName: this.opts.connectionName });
    this.sub = sub;
    sub.on("error", (err: Error) => this.opts.log.warn({ err: err.message }, `redis (${this.opts.what} subscriber) error`));
    sub.on("ready", () => {
      void sub
        .subscribe(this.opts.channel)
        .then(() => {
          if (this.wasReady) {
            this.opts.log.info(`${this.opts.what} reconnected: resynchronising (messages may have been missed)`);
            this.emit(GAP);
          }
          this.wasReady = true;
          const w = this.readyWaiters;
          this.readyWaiters = [];
          for (const fn of w) fn();
        })
        .catch((err: unknown) => this.opts.log.warn({ err: String(err) }, `${this.opts.what} subscribe failed`));
    });
    sub.on("message", (channel: string, raw: string) => {
      if (channel !== this.opts.channel) return;
      const msg = this.opts.parse(raw);
      if (msg === undefined) {
        this.opts.log.warn({ channel, bytes: raw.length }, `ignoring a malformed ${this.opts.what} message`);
        return;
      }
      this.emit(msg);
    });
  }

  private emit(d: Delivery<T>): void {
    for (const fn of [...this.listeners]) {
      try {
        fn(d);
      } catch (err) {
        this.opts.log.error({ err }, `${this.opts.what} listener failed`);
      }
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.listeners.clear();
    for (const fn of this.readyWaiters) fn();
    this.readyWaiters = [];
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

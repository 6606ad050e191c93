/**
 * Pure helpers of the shard map: deterministic weighted choice of a shard for a new user,
 * and a small bounded LRU cache.
 */
import { createHash } from "node:crypto";

export interface ShardWeight {
  name: string;
  weight: number;
}

/** A uniform 48-bit hash of a user id (stable across processes and versions). */
export function userHash(userId: number): number {
  return createHash("sha256").update(`rift-user:${userId}`).digest().readUIntBE(0, 6);
}

/**
 * Pick a shard for `userId` with probability proportional to weight. Deterministic: the same
 * id over the same shard set always gives the same shard (shards are ordered by name, so the
 * order rows come back in does not matter). Shards with weight ≤ 0 are never chosen.
 * Returns undefined when no shard has a positive weight.
 */
export function pickWeighted(userId: number, shards: readonly ShardWeight[]): string | undefined {
  const usable = shards.filter((s) => s.weight > 0).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const total = usable.reduce((sum, s) => sum + s.weight, 0);
  if (total <= 0) return undefined;
  let point = userHash(userId) % total;
  for (const s of usable) {
    if (point < s.weight) return s.name;
    point -= s.weight;
  }
  return usable[usable.length - 1]!.name;
}

/** Bounded LRU map: `set` beyond `capacity` evicts the least recently used entry. */
export class LruCache<K, V> {
  private readonly map = new Map<K, V>();

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new Error("LRU capacity must be a positive integer");
  }

  get(key: K): V | undefined {
    const v = this.map.get(key);
    if (v === undefined) return undefined;
    this.map.delete(key);
    this.map.set(key, v);
    return v;
  }

  /** The value without refreshing its recency (inspection). */
  peek(key: K): V | undefined {
    return this.map.get(key);
  }

  set(key: K, value: V): void {
    this.map.delete(key);
    this.map.set(key, value);
    if (this.map.size > this.capacity) {
      const oldest = this.map.keys().next();
      if (!oldest.done) this.map.delete(oldest.value);
    }
  }

  delete(key: K): void {
    this.map.delete(key);
  }

  clear(): void {
    this.map.clear();
  }

  get size(): number {
    return this.map.size;
  }
}

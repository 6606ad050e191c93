/**
 * Shard placement strategies, for comparison with the mapping table (issue "Sharded,
 * replicated Postgres" §6, DESIGN "Shard by mapping table"). Pure; `bench/resharding`
 * measures how many users each must move when shards are added.
 *
 * Contract of `ShardStrategy.shardOf(user, shards)`: deterministic; `shards` is the ordered
 * list of shard names, new shards appended at the end (never reordered or removed).
 *
 * - `modulo-N`: shard = shards[user mod N]. Growing N → N+1 moves almost everyone (N/(N+1)).
 * - `modulo-2^N` (linear hashing): buckets = user mod 2^k with 2^(k-1) < N ≤ 2^k; a bucket
 *   b ≥ N is folded onto b − 2^(k-1). Adding one shard splits exactly one bucket, so growing
 *   N → N+1 moves 1/2^k of the users — but until N is a power of two the split buckets hold
 *   twice the users of the others (uneven load).
 * - `mapping-table` (what Rift uses, `PgShardMap`): a user keeps the shard recorded at sign-up;
 *   adding a shard moves nobody by itself. New users are weighted toward the new shard and the
 *   operator moves exactly the users they choose (`opsctl shard rebalance`). Its `shardOf`
 *   here models the table for existing users: the shard assigned when the user was created
 *   with `assignedWith` shards (round-robin by id, the even case of weighted assignment).
 */

export interface ShardStrategy {
  readonly name: string;
  shardOf(user: number, shards: readonly string[]): string;
}

function pick(shards: readonly string[], i: number): string {
  const s = shards[i];
  if (s === undefined) throw new Error(`no shard #${i} (have ${shards.length})`);
  return s;
}

export const moduloN: ShardStrategy = {
  name: "modulo-N",
  shardOf(user, shards) {
    if (shards.length === 0) throw new Error("no shards");
    return pick(shards, user % shards.length);
  },
};

export const modulo2N: ShardStrategy = {
  name: "modulo-2^N",
  shardOf(user, shards) {
    const n = shards.length;
    if (n === 0) throw new Error("no shards");
    if (n === 1) return pick(shards, 0);
    let size = 1;
    while (size < n) size *= 2;
    const b = user % size;
    return pick(shards, b < n ? b : b - size / 2);
  },
};

/** The mapping table for users created while the cluster had `assignedWith` shards. */
export function mappingTable(assignedWith: number): ShardStrategy {
  return {
    name: "mapping-table",
    shardOf(user, shards) {
      if (shards.length < assignedWith) throw new Error("shards are never removed");
      return pick(shards, user % assignedWith);
    },
  };
}

/** Fraction of `users` whose shard differs between `before` and `after` shard lists. */
export function movedFraction(s: ShardStrategy, users: readonly number[], before: readonly string[], after: readonly string[]): number {
  let moved = 0;
  for (const u of users) if (s.shardOf(u, before) !== s.shardOf(u, after)) moved++;
  return users.length === 0 ? 0 : moved / users.length;
}

/** Largest shard's share divided by the even share (1 = perfectly even). */
export function imbalance(s: ShardStrategy, users: readonly number[], shards: readonly string[]): number {
  const counts = new Map<string, number>();
  for (const u of users) {
    const k = s.shardOf(u, shards);
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  const max = Math.max(0, ...counts.values());
  return users.length === 0 ? 1 : max / (users.length / shards.length);
}

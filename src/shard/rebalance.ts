/**
 * Rebalance planning (pure): how many users to move from which shard to which. Executed by
 * `opsctl shard rebalance` through the UserMover; which users exactly is chosen by the DB
 * (a hash order over user ids, so a run picks a spread-out sample).
 */
import { RiftError } from "../core/errors.js";

export interface RebalanceStep {
  from: string;
  to: string;
  count: number;
}

export interface RebalanceRequest {
  /** Users per shard now (every shard that takes part). */
  counts: ReadonlyMap<string, number>;
  /** Target shard (receives the users). */
  to: string;
  /**
   * Fraction of every OTHER shard's users to move to `to` (0 < f ≤ 1). Default: whatever
   * gives `to` an even share (total / number of shards), taken from each other shard in
   * proportion to its size.
   */
  fraction?: number;
}

export function planRebalance(req: RebalanceRequest): RebalanceStep[] {
  const { counts, to } = req;
  if (!counts.has(to)) throw new RiftError("SHARD_UNKNOWN", `'${to}' (known: ${[...counts.keys()].join(", ")})`);
  const others = [...counts].filter(([s]) => s !== to).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const othersTotal = others.reduce((n, [, c]) => n + c, 0);
  let fraction = req.fraction;
  if (fraction === undefined) {
    const total = othersTotal + (counts.get(to) ?? 0);
    const want = Math.floor(total / counts.size) - (counts.get(to) ?? 0);
    fraction = othersTotal > 0 && want > 0 ? want / othersTotal : 0;
  }
  if (!(fraction >= 0 && fraction <= 1)) throw new RiftError("USAGE", `fraction must be in [0, 1] (got ${fraction})`);
  return others.map(([from, c]) => ({ from, to, count: Math.round(c * fraction!) })).filter((s) => s.count > 0);
}

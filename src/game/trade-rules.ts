/**
 * Pure rules of item/currency trades between two players (no IO): validating an offer,
 * splitting a trade into the work each shard does, naming prepared transactions, and the
 * recovery decision table of the two-phase commit. Used by src/shard/trades.ts.
 */

/** What one side hands over. */
export interface TradeOffer {
  /** Item ids (globally unique) the side owns and gives away. */
  items: number[];
  /** Currency (non-negative integer) the side pays. */
  currency: number;
}

export interface TradeSpec {
  a: number;
  b: number;
  aGives: TradeOffer;
  bGives: TradeOffer;
}

/** Attributes of an item as read from its owner's shard before the trade. */
export interface ItemInfo {
  itemId: number;
  userId: number;
  kind: string;
  qty: number;
}

export const MAX_TRADE_ITEMS = 64;
/** Largest currency amount in one trade (fits a Postgres bigint and a JS safe integer). */
export const MAX_TRADE_CURRENCY = 1_000_000_000_000;

/** Why a spec is invalid, or undefined when it is well-formed. Pure. */
export function tradeSpecProblem(spec: TradeSpec): string | undefined {
  const { a, b } = spec;
  for (const u of [a, b]) if (!Number.isSafeInteger(u) || u <= 0) return `bad user id ${u}`;
  if (a === b) return "a user cannot trade with themself";
  const seen = new Set<number>();
  for (const side of [spec.aGives, spec.bGives]) {
    if (!side || !Array.isArray(side.items)) return "offer without items list";
    if (!Number.isSafeInteger(side.currency) || side.currency < 0 || side.currency > MAX_TRADE_CURRENCY) return `bad currency amount ${side.currency}`;
    for (const id of side.items) {
      if (!Number.isSafeInteger(id) || id <= 0) return `bad item id ${id}`;
      if (seen.has(id)) return `item ${id} offered twice`;
      seen.add(id);
    }
  }
  if (seen.size > MAX_TRADE_ITEMS) return `more than ${MAX_TRADE_ITEMS} items`;
  if (seen.size === 0 && spec.aGives.currency === 0 && spec.bGives.currency === 0) return "empty trade";
  return undefined;
}

/** One shard's part of a trade: run in one transaction, then PREPARE TRANSACTION. */
export interface ShardWork {
  shard: string;
  /** Items that must be owned by `userId` with exactly this kind/qty (locked FOR UPDATE). */
  check: ItemInfo[];
  /** Items staying on this shard: change owner. */
  reassign: { itemId: number; from: number; to: number }[];
  /** Items leaving this shard (owner's counterparty lives elsewhere): delete. */
  remove: { itemId: number; from: number; to: number }[];
  /** Items arriving from the other shard: insert. */
  insert: { itemId: number; from: number; to: number; kind: string; qty: number }[];
  /** Wallet debits (must not go below 0) and credits on this shard. */
  debit: { userId: number; amount: number; to: number }[];
  credit: { userId: number; amount: number; from: number }[];
}

/**
 * Split a trade into per-shard work (pure). `shardOf` maps a and b to their shards; `items`
 * holds the attributes of every offered item as read before the trade (the prepared
 * transaction re-checks them under lock). Throws when an offered item has no info.
 * The result is ordered by shard name (the order prepares run in).
 */
export function planTrade(spec: TradeSpec, shardOf: { a: string; b: string }, items: ReadonlyMap<number, ItemInfo>): ShardWork[] {
  const work = new Map<string, ShardWork>();
  const of = (shard: string): ShardWork => {
    let w = work.get(shard);
    if (!w) work.set(shard, (w = { shard, check: [], reassign: [], remove: [], insert: [], debit: [], credit: [] }));
    return w;
  };
  const sides = [
    { from: spec.a, to: spec.b, fromShard: shardOf.a, toShard: shardOf.b, offer: spec.aGives },
    { from: spec.b, to: spec.a, fromShard: shardOf.b, toShard: shardOf.a, offer: spec.bGives },
  ];
  of(shardOf.a);
  of(shardOf.b);
  for (const s of sides) {
    for (const itemId of s.offer.items) {
      const info = items.get(itemId);
      if (!info) throw new Error(`no info for item ${itemId}`);
      of(s.fromShard).check.push({ ...info, userId: s.from });
      if (s.fromShard === s.toShard) {
        of(s.fromShard).reassign.push({ itemId, from: s.from, to: s.to });
      } else {
        of(s.fromShard).remove.push({ itemId, from: s.from, to: s.to });
        of(s.toShard).insert.push({ itemId, from: s.from, to: s.to, kind: info.kind, qty: info.qty });
      }
    }
    if (s.offer.currency > 0) {
      of(s.fromShard).debit.push({ userId: s.from, amount: s.offer.currency, to: s.to });
      of(s.toShard).credit.push({ userId: s.to, amount: s.offer.currency, from: s.from });
    }
  }
  for (const w of work.values()) {
    // a fixed lock order (item id, then user id) keeps concurrent trades on one shard from deadlocking
    w.check.sort((x, y) => x.itemId - y.itemId);
    w.debit.sort((x, y) => x.userId - y.userId);
    w.credit.sort((x, y) => x.userId - y.userId);
  }
  return [...work.values()].sort((x, y) => (x.shard < y.shard ? -1 : x.shard > y.shard ? 1 : 0));
}

const GID_PREFIX = "rift_trade_";
const GID_RE = /^rift_trade_([0-9a-f]{32})_(.+)$/;

/** Name of a trade's prepared transaction on a shard (≤ 200 chars, cluster-wide unique). */
export function tradeGid(tradeId: string, shard: string): string {
  if (!/^[0-9a-f]{32}$/.test(tradeId)) throw new Error(`bad trade id ${tradeId}`);
  // the gid is spliced into PREPARE/COMMIT PREPARED (no bind parameters there)
  if (!/^[A-Za-z0-9_.-]{1,100}$/.test(shard)) throw new Error(`bad shard name ${shard}`);
  return `${GID_PREFIX}${tradeId}_${shard}`;
}

/** Inverse of tradeGid; undefined for other gids. */
export function parseTradeGid(gid: string): { tradeId: string; shard: string } | undefined {
  const m = GID_RE.exec(gid);
  return m ? { tradeId: m[1]!, shard: m[2]! } : undefined;
}

export type TradeState = "preparing" | "committing" | "aborting" | "done";
export type TradeOutcome = "committed" | "aborted";

/**
 * What recovery does with a trade that is not done (pure):
 * - 'commit'  — decision 'committing' recorded: COMMIT PREPARED everywhere, then done.
 * - 'abort'   — decision 'aborting', or 'preparing' older than `abandonAfterMs` (its
 *               coordinator is presumed dead): record 'aborting' first, ROLLBACK PREPARED, done.
 * - 'wait'    — 'preparing' and young: a live coordinator may still be working on it.
 */
export function recoveryAction(state: TradeState, ageMs: number, abandonAfterMs: number): "commit" | "abort" | "wait" | "none" {
  switch (state) {
    case "committing":
      return "commit";
    case "aborting":
      return "abort";
    case "preparing":
      return ageMs >= abandonAfterMs ? "abort" : "wait";
    case "done":
      return "none";
  }
}

/**
 * What to do with a prepared transaction found on a shard, given its trade row (pure):
 * no row → roll back (an orphan: the row is written before any prepare); decided commit →
 * commit; decided abort (or done/aborted) → roll back; still preparing → leave to the trade pass.
 */
export function preparedAction(trade: { state: TradeState; outcome: TradeOutcome | null } | undefined): "commit" | "rollback" | "leave" {
  if (!trade) return "rollback";
  if (trade.state === "committing" || (trade.state === "done" && trade.outcome === "committed")) return "commit";
  if (trade.state === "preparing") return "leave";
  return "rollback";
}

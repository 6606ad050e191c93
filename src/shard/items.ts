/**
 * Items and currency on the player's shard (issue #7).
 *
 * Item ids are globally unique bigints from the global DB's `item_id_blocks` sequence
 * (INCREMENT 1000): one `nextval` hands this process a block of 1000 ids, so creating items
 * costs no global round trip per item. Chosen over UUIDs because ids stay 8 bytes, sort by
 * creation, and are readable in ledgers and support tickets; a sequence never repeats a value
 * (even across failover, where it may skip ahead), so uniqueness holds — gaps are fine.
 *
 * Tables on each shard (SHARD_MIGRATIONS v2): `inventory(item_id PK, user_id, kind, qty)`,
 * `wallets(user_id PK, currency CHECK >= 0)`, and `item_ledger`, which gets a row in the
 * same transaction as every item creation ('create'), deletion ('delete'), trade move
 * ('trade_move' same shard, 'trade_out'/'trade_in' across shards) and currency change
 * ('grant', 'trade_debit', 'trade_credit').
 */
import { RiftError } from "../core/errors.js";
import type { ItemInfo } from "../game/trade-rules.js";
import type { Queryable, ShardRouter } from "./router.js";
import type { ShardMap } from "./types.js";

/** Item and wallet access for one user at a time. */
export interface ItemRepository {
  /** Create items for `userId` (ids allocated globally), ledger 'create'. Returns the new ids in order. */
  grantItems(userId: number, items: { kind: string; qty: number }[]): Promise<number[]>;
  /** Add currency (amount > 0), ledger 'grant'. Returns the new balance. */
  grantCurrency(userId: number, amount: number): Promise<number>;
  /**
   * A reward drop in ONE shard transaction: items (ledger 'create') and currency (ledger
   * 'grant'). With `epoch`, only while the user's row still has that owner epoch (the granting
   * game server still owns the user) — otherwise nothing is written and it throws
   * PERSIST_REJECTED. Returns the new item ids and the new balance.
   */
  grantReward(userId: number, reward: { items: { kind: string; qty: number }[]; currency: number }, epoch?: number): Promise<{ itemIds: number[]; balance: number }>;
  /** The user's items, by item id. */
  inventory(userId: number): Promise<ItemInfo[]>;
  /** The user's currency (0 without a wallet). */
  balance(userId: number): Promise<number>;
  /** Delete an item the user owns, ledger 'delete'. False when the user does not own it. */
  destroyItem(userId: number, itemId: number): Promise<boolean>;
}

export interface PgItemRepositoryOptions {
  router: ShardRouter;
  shardMap: ShardMap;
  globalScope: string;
  /** Must equal the sequence's INCREMENT (1000). */
  blockSize?: number;
}

/** Hands out globally unique item ids from blocks of the global sequence. */
export class ItemIdAllocator {
  private next = 0;
  private end = 0;
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly router: ShardRouter,
    private readonly globalScope: string,
    private readonly blockSize = 1000,
  ) {}

  /** `n` fresh ids (serialised, so concurrent callers never share a block slot). */
  allocate(n: number): Promise<number[]> {
    const p = this.chain.then(async () => {
      const out: number[] = [];
      while (out.length < n) {
        if (this.next >= this.end) {
          // nextval is not rolled back and never repeats: retrying it only wastes a block
          const { rows } = await this.router.query<{ v: string }>(this.globalScope, "SELECT nextval('item_id_blocks') AS v", [], { idempotent: true });
          this.next = Number(rows[0]!.v);
          this.end = this.next + this.blockSize;
        }
        out.push(this.next++);
      }
      return out;
    });
    this.chain = p.catch(() => undefined);
    return p;
  }
}

export class PgItemRepository implements ItemRepository {
  readonly ids: ItemIdAllocator;

  constructor(private readonly opts: PgItemRepositoryOptions) {
    this.ids = new ItemIdAllocator(opts.router, opts.globalScope, opts.blockSize ?? 1000);
  }

  async grantItems(userId: number, items: { kind: string; qty: number }[]): Promise<number[]> {
    checkItems(items);
    if (items.length === 0) return [];
    const shard = await this.shardOf(userId);
    const ids = await this.ids.allocate(items.length);
    const kinds = items.map((i) => i.kind);
    const qtys = items.map((i) => i.qty);
    await this.opts.router.transaction(shard, async (tx) => {
      await tx.query("INSERT INTO inventory (item_id, user_id, kind, qty) SELECT id, $1, k, q FROM unnest($2::bigint[], $3::text[], $4::int[]) AS t(id, k, q)", [userId, ids, kinds, qtys]);
      await tx.query("INSERT INTO item_ledger (op, item_id, kind, qty, to_user) SELECT 'create', id, k, q, $1 FROM unnest($2::bigint[], $3::text[], $4::int[]) AS t(id, k, q)", [userId, ids, kinds, qtys]);
    });
    return ids;
  }

  async grantCurrency(userId: number, amount: number): Promise<number> {
    if (!Number.isSafeInteger(amount) || amount <= 0) throw new RiftError("OPS_BAD_REQUEST", `bad currency amount ${amount}`);
    const shard = await this.shardOf(userId);
    return this.opts.router.transaction(shard, async (tx) => {
      const { rows } = await tx.query<{ currency: string }>(
        `INSERT INTO wallets (user_id, currency) VALUES ($1, $2)
         ON CONFLICT (user_id) DO UPDATE SET currency = wallets.currency + EXCLUDED.currency, updated_at = now()
         RETURNING currency`,
        [userId, amount],
      );
      await tx.query("INSERT INTO item_ledger (op, currency, to_user) VALUES ('grant', $1, $2)", [amount, userId]);
      return Number(rows[0]!.currency);
    });
  }

  async grantReward(userId: number, reward: { items: { kind: string; qty: number }[]; currency: number }, epoch?: number): Promise<{ itemIds: number[]; balance: number }> {
    checkItems(reward.items);
    if (!Number.isSafeInteger(reward.currency) || reward.currency < 0) throw new RiftError("OPS_BAD_REQUEST", `bad currency amount ${reward.currency}`);
    const shard = await this.shardOf(userId);
    const ids = await this.ids.allocate(reward.items.length);
    const kinds = reward.items.map((i) => i.kind);
    const qtys = reward.items.map((i) => i.qty);
    return this.opts.router.transaction(shard, async (tx) => {
      if (epoch !== undefined) {
        const { rows } = await tx.query("SELECT 1 FROM players WHERE user_id = $1 AND owner_epoch = $2 FOR SHARE", [userId, epoch]);
        if (rows.length === 0) throw new RiftError("PERSIST_REJECTED", `user ${userId}: owner epoch ${epoch} is no longer current`);
      }
      if (ids.length > 0) {
        await tx.query("INSERT INTO inventory (item_id, user_id, kind, qty) SELECT id, $1, k, q FROM unnest($2::bigint[], $3::text[], $4::int[]) AS t(id, k, q)", [userId, ids, kinds, qtys]);
        await tx.query("INSERT INTO item_ledger (op, item_id, kind, qty, to_user) SELECT 'create', id, k, q, $1 FROM unnest($2::bigint[], $3::text[], $4::int[]) AS t(id, k, q)", [userId, ids, kinds, qtys]);
      }
      let balance: number;
      if (reward.currency > 0) {
        const { rows } = await tx.query<{ currency: string }>(
          `INSERT INTO wallets (user_id, currency) VALUES ($1, $2)
           ON CONFLICT (user_id) DO UPDATE SET currency = wallets.currency + EXCLUDED.currency, updated_at = now()
           RETURNING currency`,
          [userId, reward.currency],
        );
        await tx.query("INSERT INTO item_ledger (op, currency, to_user) VALUES ('grant', $1, $2)", [reward.currency, userId]);
        balance = Number(rows[0]!.currency);
      } else {
        const { rows } = await tx.query<{ currency: string }>("SELECT currency FROM wallets WHERE user_id = $1", [userId]);
        balance = rows.length ? Number(rows[0]!.currency) : 0;
      }
      return { itemIds: ids, balance };
    });
  }

  async inventory(userId: number): Promise<ItemInfo[]> {
    const shard = await this.shardOf(userId);
    return inventoryOn(this.opts.router, shard, [userId]);
  }

  async balance(userId: number): Promise<number> {
    const shard = await this.shardOf(userId);
    const { rows } = await this.opts.router.query<{ currency: string }>(shard, "SELECT currency FROM wallets WHERE user_id = $1", [userId], { idempotent: true });
    return rows.length ? Number(rows[0]!.currency) : 0;
  }

  async destroyItem(userId: number, itemId: number): Promise<boolean> {
    const shard = await this.shardOf(userId);
    return this.opts.router.transaction(shard, async (tx) => {
      const { rows } = await tx.query<{ kind: string; qty: number }>("DELETE FROM inventory WHERE item_id = $1 AND user_id = $2 RETURNING kind, qty", [itemId, userId]);
      if (rows.length === 0) return false;
      await tx.query("INSERT INTO item_ledger (op, item_id, kind, qty, from_user) VALUES ('delete', $1, $2, $3, $4)", [itemId, rows[0]!.kind, rows[0]!.qty, userId]);
      return true;
    });
  }

  private async shardOf(userId: number): Promise<string> {
    const shard = await this.opts.shardMap.shardOf(userId);
    if (!shard) throw new RiftError("OPS_BAD_REQUEST", `unknown user ${userId}`);
    return shard;
  }
}

function checkItems(items: readonly { kind: string; qty: number }[]): void {
  for (const it of items) if (!it.kind || !Number.isSafeInteger(it.qty) || it.qty <= 0) throw new RiftError("OPS_BAD_REQUEST", `bad item ${JSON.stringify(it)}`);
}

/** Items of `users` on `shard` (no locks), ordered by item id. */
export async function inventoryOn(q: ShardRouter | Queryable, shard: string, users: number[]): Promise<ItemInfo[]> {
  const sql = "SELECT item_id, user_id, kind, qty FROM inventory WHERE user_id = ANY($1::bigint[]) ORDER BY item_id";
  const { rows } =
    "transaction" in q
      ? await q.query<{ item_id: string; user_id: string; kind: string; qty: number }>(shard, sql, [users], { idempotent: true })
      : await q.query<{ item_id: string; user_id: string; kind: string; qty: number }>(sql, [users]);
  return rows.map((r) => ({ itemId: Number(r.item_id), userId: Number(r.user_id), kind: r.kind, qty: r.qty }));
}

/** Attributes of the given items on `shard` (no locks). */
export async function itemsOn(router: ShardRouter, shard: string, itemIds: number[]): Promise<ItemInfo[]> {
  if (itemIds.length === 0) return [];
  const { rows } = await router.query<{ item_id: string; user_id: string; kind: string; qty: number }>(
    shard,
    "SELECT item_id, user_id, kind, qty FROM inventory WHERE item_id = ANY($1::bigint[])",
    [itemIds],
    { idempotent: true },
  );
  return rows.map((r) => ({ itemId: Number(r.item_id), userId: Number(r.user_id), kind: r.kind, qty: r.qty }));
}

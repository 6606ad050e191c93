/**
 * Message handlers every scene host serves the same way (field and dungeon servers):
 * movement, ping, and the user's inventory. Pure rules live in src/game; these only route a
 * validated message to them and report.
 */
import type { Logger } from "../log.js";
import type { ItemRepository } from "../../shard/items.js";
import type { SceneHandlers } from "./handlers.js";

export const movementHandlers: SceneHandlers = {
  move(ctx, s, body) {
    const out = ctx.world(s.zone)?.move(s.user, body, ctx.now);
    if (!out) return;
    if (out.kind === "replay" || out.kind === "invalid") ctx.dropped(out.kind);
    else if (out.distance > 0) ctx.dirty(s);
  },

  ping(ctx, s, body) {
    ctx.reply(s, "pong", { t: body.t, s: Date.now() });
  },
};

/**
 * `inventory`: read the user's items and currency from its shard (off the logic thread) and
 * answer `inventory`, or `error RIFT_ITEMS_UNAVAILABLE` when the shard cannot answer.
 */
export function inventoryHandlers(items: Pick<ItemRepository, "inventory" | "balance">, log: Logger): SceneHandlers {
  return {
    inventory(ctx, s) {
      Promise.all([items.inventory(s.user), items.balance(s.user)]).then(
        ([list, currency]) => {
          if (ctx.session(s.user) !== s) return; // left meanwhile
          ctx.reply(s, "inventory", { items: list.map((i) => ({ id: i.itemId, kind: i.kind, qty: i.qty })), currency });
        },
        (err: unknown) => {
          log.warn({ err: err instanceof Error ? err.message : String(err), user: s.user }, "inventory read failed");
          if (ctx.session(s.user) === s) ctx.error(s, "ITEMS_UNAVAILABLE");
        },
      );
    },
  };
}

/**
 * Role wiring of player trades on a game server (field or dungeon): ONE TradeCoordinator per
 * process on the data layer, its recovery task (`startTradeRecovery`: on start and every 10 s),
 * the Redis trade book and notice channel, and the TradeDesk whose handlers and hooks the scene
 * serves. On shutdown (registered before the scene, so it runs after the scene's graceful
 * sequence): stop recovery, stop taking notices, close both Redis connections.
 */
import type { ProcessContext } from "../runtime.js";
import type { GameLogSink } from "../ops/game-log.js";
import { TradeCoordinator, startTradeRecovery, type TradeCoordinatorOptions } from "../../shard/trades.js";
import type { ShardRouter } from "../../shard/router.js";
import { RedisTradeBook, RedisTradeNotifier } from "./trade-book.js";
import { TradeDesk } from "./trade-desk.js";

export function openTradeDesk(ctx: ProcessContext, data: { router: ShardRouter; shardMap: TradeCoordinatorOptions["shardMap"] }, gameLog?: GameLogSink): TradeDesk {
  const { config, lifecycle, nodeId, log } = ctx;
  const { url, keyPrefix } = config.cluster.redis;
  const coordinator = new TradeCoordinator({ router: data.router, shardMap: data.shardMap, globalScope: config.db.globalScope, log });
  const recovery = startTradeRecovery(coordinator, log);
  const book = new RedisTradeBook({ url, keyPrefix, log, connectionName: `rift-trade-book/${nodeId}` });
  const notifier = new RedisTradeNotifier({ url, keyPrefix, log, connectionName: `rift-trade-notices/${nodeId}` });
  const desk = new TradeDesk({ book, notifier, trades: coordinator, nodeId, log, ...(gameLog ? { gameLog } : {}) });
  lifecycle.onShutdown("trades", async () => {
    recovery.stop();
    desk.close();
    await Promise.all([book.close(), notifier.close()]);
  });
  return desk;
}

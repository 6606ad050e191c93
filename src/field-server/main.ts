/**
 * Field server role wiring: ZooKeeper session → member view + coordinator placement → data
 * layer → scene host (IO workers, packet queue, tick loop, write-behind) serving the zones the
 * coordinator places here, with inventory, dungeon entry (dungeon-entry.ts) and player trades
 * (core/scene/trade-wiring.ts: 2PC coordinator + recovery, Redis trade book) → what every game
 * server wires the same way (core/scene/serve.ts: shard-move holds, placement follower,
 * session guard, health, monitor, drain, membership with the zones we can host and per-zone
 * load).
 */
import { joinCluster } from "../core/cluster/wiring.js";
import { removeInstance, requestInstance, waitPlaced } from "../core/cluster/instances.js";
import type { RoleMain } from "../core/runtime.js";
import { openDataLayer } from "../shard/data-layer.js";
import { PgItemRepository } from "../shard/items.js";
import { inventoryHandlers } from "../core/scene/common-handlers.js";
import { openTradeDesk } from "../core/scene/trade-wiring.js";
import { mergeHooks } from "../core/scene/handlers.js";
import { openGlobalGameLog } from "../core/ops/log-wiring.js";
import { FIELD_MONITOR_METRICS } from "../core/ops/monitor.js";
import { serveScene } from "../core/scene/serve.js";
import { createFieldScene } from "./scene.js";
import { DungeonEntry } from "./dungeon-entry.js";

export const fieldMain: RoleMain = async (ctx) => {
  const { config, nodeId, log } = ctx;
  const { zk, placement } = await joinCluster(ctx, log);
  const data = await openDataLayer(ctx);
  const root = config.cluster.zookeeper.root;
  const items = new PgItemRepository({ router: data.router, shardMap: data.shardMap, globalScope: config.db.globalScope });
  const dungeons = new DungeonEntry({
    broker: { request: (req) => requestInstance(zk, root, req), waitPlaced: (key, ms) => waitPlaced(placement, key, ms), remove: (key) => removeInstance(zk, root, key) },
    nodeId,
    partyFormMs: config.dungeon.partyFormMs,
    placeTimeoutMs: config.dungeon.placeTimeoutMs,
    log,
  });
  const gameLog = openGlobalGameLog(ctx, data.router);
  const trades = openTradeDesk(ctx, data, gameLog);
  const scene = createFieldScene({
    gameLog,
    config,
    nodeId,
    repo: data.players,
    registry: ctx.metrics,
    log,
    placedHere: (zone) => placement.placedOn(zone) === nodeId,
    zoneExists: (zone) => placement.placedOn(zone) !== undefined,
    handlers: { ...inventoryHandlers(items, log), ...dungeons.handlers, ...trades.handlers },
    hooks: mergeHooks(dungeons.hooks, trades.hooks),
  });
  const linkPorts = await serveScene(ctx, {
    zk,
    placement,
    scene,
    shardMap: data.shardMap,
    monitor: FIELD_MONITOR_METRICS,
    drainTimeoutMs: config.field.drainTimeoutMs,
    facts: { zones: [...scene.zones] },
    dynamic: () => ({ zoneLoad: scene.zoneLoad() }),
    healthDetail: () => `${scene.ccu} users`,
  });
  log.info({ linkPorts, zones: scene.zones, opsPort: ctx.opsPort }, "field server listening");
};

/**
 * Dungeon server role wiring (issue #7): ZooKeeper session → member view + coordinator
 * placement → data layer (players, items) → scene host running dungeon instances (scene.ts,
 * runs.ts) and player trades → what every game server wires the same way
 * (core/scene/serve.ts: placement follower — an instance taken away sends its users home —,
 * session guard, health, monitor, membership as role `dungeon`, drain: the leader places no
 * new instances here; running ones may finish within `dungeon.drainTimeoutMs`, then their
 * parties go home) → instance prefetch (placed instances are loaded ahead of their party).
 */
import { joinCluster } from "../core/cluster/wiring.js";
import { readInstanceRequest, removeInstance } from "../core/cluster/instances.js";
import type { RoleMain } from "../core/runtime.js";
import { openDataLayer } from "../shard/data-layer.js";
import { PgItemRepository } from "../shard/items.js";
import { openGlobalGameLog } from "../core/ops/log-wiring.js";
import { openTradeDesk } from "../core/scene/trade-wiring.js";
import { DUNGEON_MONITOR_METRICS } from "../core/ops/monitor.js";
import { serveScene } from "../core/scene/serve.js";
import { createDungeonScene } from "./scene.js";

export const dungeonMain: RoleMain = async (ctx) => {
  const { config, lifecycle, nodeId, log } = ctx;
  const { zk, placement } = await joinCluster(ctx, log);
  const data = await openDataLayer(ctx);
  const root = config.cluster.zookeeper.root;
  const gameLog = openGlobalGameLog(ctx, data.router);
  const trades = openTradeDesk(ctx, data, gameLog);
  const { scene, runs } = createDungeonScene({
    config,
    nodeId,
    repo: data.players,
    items: new PgItemRepository({ router: data.router, shardMap: data.shardMap, globalScope: config.db.globalScope }),
    instances: { read: (key) => readInstanceRequest(zk, root, key), remove: (key) => removeInstance(zk, root, key) },
    registry: ctx.metrics,
    log,
    // an instance our view does not know yet: the gateway (whose view is newer) sent the party
    // here, so it is ours — instance keys are never placed twice, and the attach is fenced anyway
    placedHere: (key) => {
      const on = placement.placedOn(key);
      return on === nodeId || on === undefined;
    },
    gameLog,
    handlers: trades.handlers,
    hooks: trades.hooks,
  });
  const linkPorts = await serveScene(ctx, {
    zk,
    placement,
    scene,
    shardMap: data.shardMap,
    monitor: DUNGEON_MONITOR_METRICS,
    drainTimeoutMs: config.dungeon.drainTimeoutMs,
    healthDetail: () => `${scene.ccu} users in ${runs.count} instances`,
  });
  // instances placed here are loaded ahead of their party
  const unprefetch = placement.onChange(() => runs.placed(placement.zonesOf(nodeId)));
  lifecycle.onShutdown("instance-prefetch", unprefetch);
  ctx.ops.addJsonRoute("/instances", () => ({ instances: runs.keys() }));
  log.info({ linkPorts, opsPort: ctx.opsPort }, "dungeon server listening");
};

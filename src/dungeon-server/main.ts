/**
 * Dungeon server role wiring (issue #7): ZooKeeper session → member view + coordinator
 * placement → data layer (players, items) → scene host running dungeon instances (scene.ts,
 * runs.ts) → placement follower (instances placed here are loaded ahead of the party; an
 * instance taken away sends its users home) and session guard → membership registration
 * (role `dungeon`, `linkPorts`, load = users) → drain (the leader places no new instances
 * here; running ones may finish within `dungeon.drainTimeoutMs`, then their parties go home).
 */
import { joinCluster, registerSelf } from "../core/cluster/wiring.js";
import { readInstanceRequest, removeInstance } from "../core/cluster/instances.js";
import type { RoleMain } from "../core/runtime.js";
import { openDataLayer } from "../shard/data-layer.js";
import { PgItemRepository } from "../shard/items.js";
import { SceneDrain, followPlacement, guardSession } from "../core/scene/ownership.js";
import { ShardMoveParticipant } from "../core/scene/shard-moves.js";
import { registerFaultDrill } from "../core/scene/fault-drill.js";
import { openGlobalGameLog } from "../core/ops/log-wiring.js";
import { openTradeDesk } from "../core/scene/trade-wiring.js";
import { DUNGEON_MONITOR_METRICS, metricsSource, startMonitor } from "../core/ops/monitor.js";
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
  const moves = new ShardMoveParticipant({ writes: scene, cache: data.shardMap, log });
  moves.register(ctx.ops);
  if (config.field.faultInjection) registerFaultDrill(ctx.ops, scene, log);
  lifecycle.onShutdown("shard-moves", () => moves.close());
  const linkPorts = await scene.start();
  lifecycle.onShutdown("scene", () => scene.shutdown());
  const unfollow = followPlacement(placement, scene);
  const unprefetch = placement.onChange(() => runs.placed(placement.zonesOf(nodeId)));
  const unguard = guardSession(zk, scene);
  lifecycle.onShutdown("ownership", () => (unfollow(), unprefetch(), unguard()));
  ctx.ops.addHealthCheck("scene", () => ({ ok: !lifecycle.shuttingDown && !scene.isFenced, detail: `${scene.ccu} users in ${runs.count} instances` }));
  ctx.ops.addJsonRoute("/instances", () => ({ instances: runs.keys() }));

  startMonitor(ctx, metricsSource(ctx.metrics, DUNGEON_MONITOR_METRICS, () => scene.ccu));
  const drain = new SceneDrain({ zk, root, nodeId, placement, scene, timeoutMs: config.dungeon.drainTimeoutMs, log });
  await drain.clearStale();
  await registerSelf(ctx, zk, log, {
    facts: { linkPorts },
    load: () => scene.ccu,
    beforeDeregister: () => scene.stopAccepting(),
  });
  lifecycle.onShutdown("drain", (reason) => drain.run(reason));
  drain.watch(() => void lifecycle.terminate("drain requested"));
  log.info({ linkPorts, opsPort: ctx.opsPort }, "dungeon server listening");
};

/**
 * Field server role wiring: ZooKeeper session → member view + coordinator placement → data
 * layer → scene host (IO workers, packet queue, tick loop, write-behind) serving the zones the
 * coordinator places here, with inventory, dungeon entry (dungeon-entry.ts) and player trades
 * (core/scene/trade-wiring.ts: 2PC coordinator + recovery, Redis trade book) → placement
 * follower and session guard (core/scene/ownership.ts) → membership registration
 * (`linkPorts`, the zones we can host, load and per-zone load) → drain. The ops API also
 * serves the shard-move holds of the online user mover (core/scene/shard-moves.ts).
 *
 * Shutdown hooks run in reverse: drain (refuse new users, let the coordinator move our
 * zones, hand every user over), deregister, the scene's graceful sequence (hand over what is
 * left, close links), then the data layer, the view and the session.
 */
import { joinCluster, registerSelf } from "../core/cluster/wiring.js";
import { removeInstance, requestInstance, waitPlaced } from "../core/cluster/instances.js";
import type { RoleMain } from "../core/runtime.js";
import { openDataLayer } from "../shard/data-layer.js";
import { PgItemRepository } from "../shard/items.js";
import { SceneDrain, followPlacement, guardSession } from "../core/scene/ownership.js";
import { inventoryHandlers } from "../core/scene/common-handlers.js";
import { openTradeDesk } from "../core/scene/trade-wiring.js";
import { mergeHooks } from "../core/scene/handlers.js";
import { ShardMoveParticipant } from "../core/scene/shard-moves.js";
import { registerFaultDrill } from "../core/scene/fault-drill.js";
import { openGlobalGameLog } from "../core/ops/log-wiring.js";
import { FIELD_MONITOR_METRICS, metricsSource, startMonitor } from "../core/ops/monitor.js";
import { createFieldScene } from "./scene.js";
import { DungeonEntry } from "./dungeon-entry.js";

export const fieldMain: RoleMain = async (ctx) => {
  const { config, lifecycle, nodeId, log } = ctx;
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
  const moves = new ShardMoveParticipant({ writes: scene, cache: data.shardMap, log });
  moves.register(ctx.ops);
  if (config.field.faultInjection) registerFaultDrill(ctx.ops, scene, log);
  lifecycle.onShutdown("shard-moves", () => moves.close()); // runs after the scene's drain
  const linkPorts = await scene.start();
  lifecycle.onShutdown("scene", () => scene.shutdown());
  const unfollow = followPlacement(placement, scene);
  const unguard = guardSession(zk, scene);
  lifecycle.onShutdown("ownership", () => (unfollow(), unguard()));
  ctx.ops.addHealthCheck("scene", () => ({ ok: !lifecycle.shuttingDown && !scene.isFenced, detail: `${scene.ccu} users` }));

  startMonitor(ctx, metricsSource(ctx.metrics, FIELD_MONITOR_METRICS, () => scene.ccu));
  const drain = new SceneDrain({ zk, root, nodeId, placement, scene, timeoutMs: config.field.drainTimeoutMs, log });
  await drain.clearStale();
  await registerSelf(ctx, zk, log, {
    facts: { linkPorts, zones: [...scene.zones] },
    load: () => scene.ccu,
    dynamic: () => ({ zoneLoad: scene.zoneLoad() }),
    beforeDeregister: () => scene.stopAccepting(),
  });
  lifecycle.onShutdown("drain", (reason) => drain.run(reason));
  drain.watch(() => void lifecycle.terminate("drain requested"));
  log.info({ linkPorts, zones: scene.zones, opsPort: ctx.opsPort }, "field server listening");
};

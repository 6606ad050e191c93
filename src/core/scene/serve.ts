/**
 * What field and dungeon servers wire the same way once their scene host is built: the
 * shard-move holds of the ops API, the fault drill (`field.faultInjection`), start, the
 * scene's graceful shutdown, the placement follower and ZooKeeper session guard
 * (ownership.ts), the health check, the live monitor, drain and the membership node.
 *
 * Shutdown hooks (run in reverse): drain (refuse new users, let the coordinator move our
 * zones / finish our instances, hand users over), deregister, ownership watchers, the scene's
 * graceful sequence, then the shard-move holds.
 */
import type { ClusterHandles } from "../cluster/wiring.js";
import { registerSelf } from "../cluster/wiring.js";
import type { MemberInfo } from "../cluster/types.js";
import type { ProcessContext } from "../runtime.js";
import { metricsSource, startMonitor, type MonitorMetricNames } from "../ops/monitor.js";
import { registerFaultDrill } from "./fault-drill.js";
import { SceneDrain, followPlacement, guardSession } from "./ownership.js";
import type { SceneHost } from "./scene-host.js";
import { ShardMoveParticipant, type MappingCache } from "./shard-moves.js";

export interface ServeSceneOptions extends Pick<ClusterHandles, "zk" | "placement"> {
  scene: SceneHost;
  /** The data layer's shard map (shard-move cache invalidation). */
  shardMap: MappingCache;
  monitor: MonitorMetricNames;
  drainTimeoutMs: number;
  /** Role facts of the member node besides `linkPorts` (e.g. `zones`). */
  facts?: Partial<MemberInfo>;
  /** Facts published with the load (e.g. `zoneLoad`). */
  dynamic?: () => Partial<MemberInfo>;
  /** Detail of the `scene` health check. */
  healthDetail: () => string;
}

/** Start serving; resolves with the link ports once the member node is registered. */
export async function serveScene(ctx: ProcessContext, o: ServeSceneOptions): Promise<number[]> {
  const { config, lifecycle, nodeId, log } = ctx;
  const { scene, zk, placement } = o;
  const moves = new ShardMoveParticipant({ writes: scene, cache: o.shardMap, log });
  moves.register(ctx.ops);
  if (config.field.faultInjection) registerFaultDrill(ctx.ops, scene, log);
  lifecycle.onShutdown("shard-moves", () => moves.close()); // runs after the scene's drain
  const linkPorts = await scene.start();
  lifecycle.onShutdown("scene", () => scene.shutdown());
  const unfollow = followPlacement(placement, scene);
  const unguard = guardSession(zk, scene);
  lifecycle.onShutdown("ownership", () => (unfollow(), unguard()));
  ctx.ops.addHealthCheck("scene", () => ({ ok: !lifecycle.shuttingDown && !scene.isFenced, detail: o.healthDetail() }));

  startMonitor(ctx, metricsSource(ctx.metrics, o.monitor, () => scene.ccu));
  const drain = new SceneDrain({ zk, root: config.cluster.zookeeper.root, nodeId, placement, scene, timeoutMs: o.drainTimeoutMs, log });
  await drain.clearStale();
  await registerSelf(ctx, zk, log, {
    facts: { linkPorts, ...o.facts },
    load: () => scene.ccu,
    ...(o.dynamic ? { dynamic: o.dynamic } : {}),
    beforeDeregister: () => scene.stopAccepting(),
  });
  lifecycle.onShutdown("drain", (reason) => drain.run(reason));
  drain.watch(() => void lifecycle.terminate("drain requested"));
  return linkPorts;
}

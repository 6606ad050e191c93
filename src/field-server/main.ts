/**
 * Field server role wiring: ZooKeeper session → member view + zone placement (travel
 * targets) → data layer → scene host (IO workers, packet queue, tick loop, write-behind) →
 * membership registration with `linkPorts`, `zones` and load (CCU, updated every second).
 *
 * Shutdown hooks run in reverse: deregister (gateways stop routing new attaches here), then
 * the scene's graceful sequence (refuse attaches, flush everyone, `transfer` each user to
 * its zone's next owner, close links), then the data layer, the view and the session.
 */
import { joinCluster, registerSelf } from "../core/cluster/wiring.js";
import type { RoleMain } from "../core/runtime.js";
import { openDataLayer } from "../shard/data-layer.js";
import { createFieldScene } from "./scene.js";

export const fieldMain: RoleMain = async (ctx) => {
  const { config, lifecycle, nodeId, log } = ctx;
  const { zk, placement } = await joinCluster(ctx, log);
  const data = await openDataLayer(ctx);

  const scene = createFieldScene({
    config,
    nodeId,
    repo: data.players,
    registry: ctx.metrics,
    log,
    zoneExists: (zone) => placement.serverForZone(zone) !== undefined,
  });
  const linkPorts = await scene.start();
  lifecycle.onShutdown("scene", () => scene.shutdown());
  ctx.ops.addHealthCheck("scene", () => ({ ok: !lifecycle.shuttingDown, detail: `${scene.ccu} users` }));

  await registerSelf(ctx, zk, log, {
    facts: { linkPorts, zones: [...scene.zones] },
    load: () => scene.ccu,
    beforeDeregister: () => scene.stopAccepting(),
  });
  log.info({ linkPorts, zones: scene.zones, opsPort: ctx.opsPort }, "field server listening");
};

/**
 * Gateway role wiring: ZooKeeper session → member view + zone placement → data layer →
 * gateway (client ws server + links) → membership registration (with `clientPort`).
 * Shutdown hooks run in reverse: deregister, stop the gateway (clients get SHUTTING_DOWN,
 * users are detached, links flushed), close the data layer, the view and the session.
 */
import { joinCluster, registerSelf } from "../core/cluster/wiring.js";
import type { RoleMain } from "../core/runtime.js";
import { openDataLayer } from "../shard/data-layer.js";
import { DataLayerAuthenticator } from "./auth.js";
import { Gateway, startZoneOf } from "./gateway.js";

export const startGateway: RoleMain = async (ctx) => {
  const { config, lifecycle, nodeId } = ctx;
  const log = ctx.log.child({ component: "gateway" });
  const { zk, view, placement } = await joinCluster(ctx, log);
  const data = await openDataLayer(ctx);
  const auth = new DataLayerAuthenticator({ accounts: data.accounts, tokens: data.tokens, players: data.players, startZone: startZoneOf(config) });

  const gateway = new Gateway({ id: nodeId, host: config.node.host, config: config.gateway, auth, placement, view, log, registry: ctx.metrics });
  const port = await gateway.start();
  lifecycle.onShutdown("gateway", () => gateway.stop());
  ctx.ops.addHealthCheck("gateway", () => ({ ok: !lifecycle.shuttingDown, detail: `${gateway.connectionCount} connections` }));

  await registerSelf(ctx, zk, log, { facts: { clientPort: port }, load: () => gateway.connectionCount });
  log.info({ port, opsPort: ctx.opsPort }, "gateway listening");
};

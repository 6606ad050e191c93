/**
 * Gateway role wiring: ZooKeeper session → member view + zone placement → data layer →
 * gateway (client ws server + links) → membership registration (with `clientPort`).
 * Shutdown hooks run in reverse: deregister, stop the gateway (clients get SHUTTING_DOWN,
 * users are detached, links flushed), close the data layer, the view and the session.
 */
import { ZkMemberView } from "../core/cluster/member-view.js";
import { joinCluster, registerSelf } from "../core/cluster/wiring.js";
import type { RoleMain } from "../core/runtime.js";
import { openDataLayer } from "../shard/data-layer.js";
import { DataLayerAuthenticator } from "./auth.js";
import { Gateway, startZoneOf } from "./gateway.js";
import { GATEWAY_MONITOR_METRICS, metricsSource, startMonitor } from "../core/ops/monitor.js";
import { openOpsState } from "../core/ops/wiring.js";
import { followOps } from "./ops.js";
import { shopCatalogFromConfig } from "./shop-catalog.js";
import { openAnalyticsProducer, openGlobalGameLog } from "../core/ops/log-wiring.js";

export const startGateway: RoleMain = async (ctx) => {
  const { config, lifecycle, nodeId } = ctx;
  const log = ctx.log.child({ component: "gateway" });
  const { zk, view, placement } = await joinCluster(ctx, log);
  const data = await openDataLayer(ctx);
  const auth = new DataLayerAuthenticator({ accounts: data.accounts, tokens: data.tokens, players: data.players, startZone: startZoneOf(config) });

  const chatView = new ZkMemberView(zk, { root: config.cluster.zookeeper.root, roles: ["chat"], log });
  lifecycle.onShutdown("chat-view", () => chatView.close());
  await chatView.ready();

  const ops = await openOpsState(ctx, (sql, p) => data.router.query(config.db.globalScope, sql, p, { idempotent: true }));
  // game log + analytics queue: opened before the gateway so they flush after it stopped
  const gameLog = openGlobalGameLog(ctx, data.router);
  const opsSinks = { gameLog, analytics: openAnalyticsProducer(ctx) };
  const shop = shopCatalogFromConfig(config.gateway.shopCatalog, { registry: ctx.metrics, log });
  lifecycle.onShutdown("shop-catalog", () => shop.close());
  const gateway = new Gateway({ id: nodeId, host: config.node.host, config: config.gateway, auth, placement, view, log, registry: ctx.metrics, ops, chat: { view: chatView, config: config.chat }, shop, ...opsSinks });
  followOps(ops, gateway);
  const port = await gateway.start();
  lifecycle.onShutdown("gateway", () => gateway.stop());
  ctx.ops.addHealthCheck("gateway", () => ({ ok: !lifecycle.shuttingDown, detail: `${gateway.connectionCount} connections` }));

  startMonitor(ctx, metricsSource(ctx.metrics, GATEWAY_MONITOR_METRICS, () => gateway.connectionCount));
  await registerSelf(ctx, zk, log, { facts: { clientPort: port }, load: () => gateway.connectionCount });
  log.info({ port, opsPort: ctx.opsPort }, "gateway listening");
};

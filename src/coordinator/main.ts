/**
 * Coordinator role wiring: ZooKeeper session → member view (all roles) → leader election →
 * placer (writes the placement document while leading) → ops API (`GET /cluster`,
 * `GET /placement`) → data layer + Redis → web dashboard (`/dashboard/`, dashboard.ts) →
 * membership registration. Run two or more: exactly one leads; every one serves the dashboard.
 *
 * Shutdown hooks run in reverse: deregister, stop the placer, leave the election (the next
 * candidate leads at once), close the view and the session.
 */
import { ZkLeaderElection } from "../core/cluster/election.js";
import { ZkMemberView } from "../core/cluster/member-view.js";
import { registerSelf } from "../core/cluster/wiring.js";
import { Zk } from "../core/cluster/zk.js";
import type { RoleMain } from "../core/runtime.js";
import { createCoordinatorMetrics } from "./metrics.js";
import { Placer } from "./placer.js";
import { metricsSource, startMonitor } from "../core/ops/monitor.js";
import { startOpsBackground } from "../core/ops/log-wiring.js";
import { applyMigrations, GLOBAL_MIGRATIONS } from "../shard/migrations.js";
import { PgOpsStore } from "../core/ops/events.js";
import { createDataLayer } from "../shard/data-layer.js";
import { Redis } from "ioredis";
import { Dashboard } from "./dashboard.js";

export const coordinatorMain: RoleMain = async (ctx) => {
  const { config, lifecycle, nodeId } = ctx;
  const log = ctx.log.child({ component: "coordinator" });
  const zkConf = config.cluster.zookeeper;
  const zk = await Zk.connect({ connect: zkConf.connect, sessionTimeoutMs: zkConf.sessionTimeoutMs, log });
  lifecycle.onShutdown("zookeeper", () => zk.close());
  const view = new ZkMemberView(zk, { root: zkConf.root, log });
  lifecycle.onShutdown("member-view", () => view.close());
  await view.ready();

  const election = new ZkLeaderElection(zk, { root: zkConf.root, id: nodeId, log });
  const placer = new Placer({
    zk,
    root: zkConf.root,
    id: nodeId,
    election,
    view,
    graceMs: config.coordinator.reassignGraceMs,
    reconcileMs: config.coordinator.reconcileMs,
    channelCapacity: config.coordinator.channelCapacity,
    channelIdleMs: config.coordinator.channelIdleMs,
    log,
    metrics: createCoordinatorMetrics(ctx.metrics),
  });
  await placer.start();
  lifecycle.onShutdown("election", () => election.close());
  lifecycle.onShutdown("placer", () => placer.close());
  await election.start();

  ctx.ops.addJsonRoute("/cluster", () => ({ leader: election.leaderId() ?? null, self: { id: nodeId, state: election.state }, members: view.members() }));
  ctx.ops.addJsonRoute("/placement", () => ({ placement: placer.placement() ?? null }));
  ctx.ops.addHealthCheck("coordinator", () => ({ ok: !lifecycle.shuttingDown, detail: election.state }));

  // the dashboard's view of the databases: lazy (no start-up dependency on Postgres — placement
  // must work while a database is down; the dashboard shows what it could not read)
  const data = createDataLayer({ config, log: log.child({ component: "data" }), metrics: ctx.metrics, client: nodeId });
  lifecycle.onShutdown("data-layer", () => data.close());
  const redis = new Redis(config.cluster.redis.url, { maxRetriesPerRequest: 2, connectionName: `rift-dashboard/${nodeId}` });
  redis.on("error", (err: Error) => log.warn({ err: err.message }, "redis (dashboard) error"));
  lifecycle.onShutdown("dashboard-redis", () => void redis.disconnect());
  const dashboard = new Dashboard({
    nodeId,
    members: () => view.members(),
    leader: () => election.leaderId() ?? null,
    placement: () => placer.placement(),
    data,
    globalScope: config.db.globalScope,
    opsStore: new PgOpsStore((sql, p) => data.router.query(config.db.globalScope, sql, p, { idempotent: true })),
    redis,
    keyPrefix: config.cluster.redis.keyPrefix,
    log,
  });
  dashboard.register(ctx.ops);
  lifecycle.onShutdown("dashboard", () => dashboard.close());

  // game-log partition maintenance + analytics consumer (global DB only; background, see log-wiring.ts)
  const g = config.db.globalScope;
  startOpsBackground(
    ctx,
    (sql, p) => data.router.query(g, sql, p, { idempotent: true }),
    (fn) => data.router.transaction(g, (c) => fn((sql, p) => c.query(sql, p)), { idempotent: true }),
    () => data.router.transaction(g, (c) => applyMigrations(c, GLOBAL_MIGRATIONS, log), { idempotent: true }),
  );

  startMonitor(ctx, metricsSource(ctx.metrics, {}, () => 0, () => election.state));
  await registerSelf(ctx, zk, log, { facts: {}, load: () => (election.state === "leader" ? 1 : 0) });
  log.info({ opsPort: ctx.opsPort, dashboard: `http://${config.node.host}:${ctx.opsPort}/dashboard/`, state: election.state, leader: election.leaderId() }, "coordinator listening");
};

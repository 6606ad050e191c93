/**
 * Role wiring shared by every process that joins the cluster: the ZooKeeper session, the view
 * of game servers, the coordinator's zone placement resolved against it, and the process's own ephemeral
 * member node with its load refreshed every second. Each piece registers its shutdown hook on
 * the process lifecycle (hooks run in reverse: deregister first, close the session last).
 */
import type { ProcessContext } from "../runtime.js";
import type { Logger } from "../log.js";
import { ZkMemberView } from "./member-view.js";
import { ZkMembership } from "./membership.js";
import { ZkPlacementView } from "./placement-view.js";
import type { MemberInfo } from "./types.js";
import { Zk } from "./zk.js";

export interface ClusterHandles {
  zk: Zk;
  view: ZkMemberView;
  placement: ZkPlacementView;
}

/** Connect to ZooKeeper and build the view of game servers and the zone placement. */
export async function joinCluster(ctx: ProcessContext, log: Logger): Promise<ClusterHandles> {
  const { lifecycle } = ctx;
  const zkConf = ctx.config.cluster.zookeeper;
  const zk = await Zk.connect({ connect: zkConf.connect, sessionTimeoutMs: zkConf.sessionTimeoutMs, log });
  lifecycle.onShutdown("zookeeper", () => zk.close());
  const view = new ZkMemberView(zk, { root: zkConf.root, roles: ["field", "dungeon"], log });
  lifecycle.onShutdown("member-view", () => view.close());
  await view.ready();
  const placement = new ZkPlacementView(zk, view, { root: zkConf.root, role: "field", log });
  lifecycle.onShutdown("placement", () => placement.close());
  await placement.ready();
  return { zk, view, placement };
}

export interface SelfRegistration {
  /** Role-specific facts: `linkPorts`, `zones`, `clientPort`… */
  facts: Partial<MemberInfo>;
  /** Current load (CCU, connections); published when it changes, at most once per second. */
  load: () => number;
  /** Other facts that change at run time (e.g. `zoneLoad`), published with the load. */
  dynamic?: () => Partial<MemberInfo>;
  /** Runs just before the node is removed on shutdown (e.g. stop accepting users). */
  beforeDeregister?: () => void;
}

/** Register this process's ephemeral member node; deregistered first on shutdown. */
export async function registerSelf(ctx: ProcessContext, zk: Zk, log: Logger, reg: SelfRegistration): Promise<void> {
  const { config } = ctx;
  const membership = new ZkMembership(zk, { root: config.cluster.zookeeper.root, log });
  await membership.register({
    role: ctx.role,
    id: ctx.nodeId,
    host: config.node.host,
    opsPort: ctx.opsPort,
    colour: config.node.colour,
    version: config.node.version,
    load: 0,
    startedAt: Date.now(),
    ...reg.facts,
  });
  let last = "";
  const loadTimer = setInterval(() => {
    const patch = { load: reg.load(), ...reg.dynamic?.() };
    const key = JSON.stringify(patch);
    if (key === last) return;
    last = key;
    membership.update(patch).catch((err: unknown) => log.warn({ err }, "membership update failed"));
  }, 1000);
  loadTimer.unref();
  ctx.lifecycle.onShutdown("membership", async () => {
    clearInterval(loadTimer);
    reg.beforeDeregister?.();
    await membership.deregister();
  });
}

/**
 * Role wiring of the operations plane (issue #9): the live-state follower of switches and
 * flags (`openOpsState`) and the live monitor (`startMonitor` in monitor.ts). Both close on
 * shutdown through the process lifecycle.
 */
import type { ProcessContext } from "../runtime.js";
import { PgOpsStore, RedisOpsBus, type SqlRunner } from "./events.js";
import { OpsState } from "./state.js";

/**
 * Follow switches and flags: load them from the global DB (`run` executes one statement
 * there), subscribe to `<keyPrefix>events`, reload on reconnect and every `ops.reconcileMs`.
 * Resolves after the first load attempt (a DB failure leaves the built-in defaults and is
 * retried by the next reconcile / reconnect).
 */
export async function openOpsState(ctx: ProcessContext, run: SqlRunner): Promise<OpsState> {
  const log = ctx.log.child({ component: "ops-state" });
  const { url, keyPrefix } = ctx.config.cluster.redis;
  const bus = new RedisOpsBus({ url, keyPrefix, log, connectionName: `rift-ops-events/${ctx.nodeId}` });
  const state = new OpsState({ store: new PgOpsStore(run), bus, role: ctx.role, log, reconcileMs: ctx.config.ops.reconcileMs });
  ctx.lifecycle.onShutdown("ops-state", () => state.close());
  await state.start();
  await Promise.race([bus.ready(), new Promise((r) => setTimeout(r, 3000).unref())]);
  ctx.ops.addJsonRoute("/ops-state", () => state.snapshot);
  return state;
}

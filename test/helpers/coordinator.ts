/**
 * A real coordinator for tests that start game servers without a TestCluster: field servers
 * serve only the zones the coordinator leader places on them.
 *
 *   await startCoordinator(env);                                   // same RIFT__* env as the field
 *   await waitForPlacement(infra.zookeeper.connect, root, ["z1"]);  // before the first attach
 */
import { placementPath } from "../../src/core/cluster/paths.js";
import { decodePlacement, type PlacementDoc } from "../../src/core/cluster/placement-doc.js";
import { isZkError, Zk } from "../../src/core/cluster/zk.js";
import { startRift, waitFor, type ManagedProcess } from "./processes.js";
import { uniqueId } from "./isolation.js";

/** Start `rift --role coordinator` (stopped by `stopAll()` or its own `stop()`). */
export function startCoordinator(env: NodeJS.ProcessEnv, name = `coord-${uniqueId()}`): Promise<ManagedProcess> {
  return startRift(["--role", "coordinator"], { name, env: { ...env, RIFT__NODE__ID: name }, readyWhen: /coordinator listening/, timeoutMs: 60_000 });
}

/** Read the placement document under `root` (undefined when there is none). */
export async function readPlacement(zk: Zk, root: string): Promise<PlacementDoc | undefined> {
  try {
    return decodePlacement((await zk.getData(placementPath(root))).data);
  } catch (e) {
    if (isZkError(e, "NO_NODE")) return undefined;
    throw e;
  }
}

/** Wait until every zone in `zones` is placed (optionally: on `server`). */
export async function waitForPlacement(connect: string, root: string, zones: string[], opts: { server?: string; timeoutMs?: number } = {}): Promise<PlacementDoc> {
  const zk = await Zk.connect({ connect, sessionTimeoutMs: 5000 });
  try {
    return await waitFor(
      async () => {
        const doc = await readPlacement(zk, root);
        return doc && zones.every((z) => doc.zones[z] && (!opts.server || doc.zones[z]!.server === opts.server)) ? doc : undefined;
      },
      { timeoutMs: opts.timeoutMs ?? 30_000, intervalMs: 50, what: `placement of ${zones.join(", ")}${opts.server ? ` on ${opts.server}` : ""}` },
    );
  } finally {
    await zk.close();
  }
}

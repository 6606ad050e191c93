/**
 * How a game server (field or dungeon) follows the cluster's decisions about its users:
 *
 * - `followPlacement`: whenever the coordinator's placement changes, every zone channel this
 *   server holds users of but no longer serves is handed over (final write, then `transfer` to the
 *   gateway, which re-attaches each user at the zone's new owner; see SceneHost).
 * - `guardSession`: ZooKeeper connection states as Curator names them — suspended
 *   (`disconnected`: hold writes), reconnected (`connected`: write again), lost (`expired`:
 *   self-fence before anyone takes our users over), new session (`renewed`: accept again).
 * - `SceneDrain`: graceful drain on SIGTERM or an operator's drain request
 *   (`<root>/drain/<id>`): refuse new users, ask the coordinator to move our zones (the
 *   request node), wait until no zone is placed here and every user was handed over (or
 *   `timeoutMs`), then let the rest of the shutdown run. Zones no other server can host stay
 *   here; their users are handed back to the gateways by the shutdown itself. Runs BEFORE the member node is
 *   removed, so gateways never treat a draining server as dead.
 */
import type { Logger } from "../log.js";
import { drainRequestPath } from "../cluster/paths.js";
import { encodeDrainRequest } from "../cluster/placement-doc.js";
import type { ZkPlacementView } from "../cluster/placement-view.js";
import { WatchedNode } from "../cluster/watched.js";
import { isZkError, type Zk } from "../cluster/zk.js";
import type { SceneHost } from "./scene-host.js";

export function followPlacement(placement: Pick<ZkPlacementView, "onChange">, scene: SceneHost): () => void {
  const check = () => {
    for (const key of scene.channels) if (!scene.serves(key)) void scene.handOverZone(key);
  };
  return placement.onChange(check);
}

export function guardSession(zk: Pick<Zk, "onSession">, scene: SceneHost): () => void {
  return zk.onSession((e) => {
    if (e === "disconnected") scene.suspendWrites();
    else if (e === "connected") scene.resumeWrites();
    else if (e === "expired") scene.fence();
    else if (e === "renewed") scene.unfence();
  });
}

export interface SceneDrainOptions {
  zk: Zk;
  root: string;
  nodeId: string;
  placement: Pick<ZkPlacementView, "zonesOf" | "doc">;
  scene: SceneHost;
  timeoutMs: number;
  log: Logger;
}

export class SceneDrain {
  private watcher: WatchedNode<Buffer> | undefined;

  constructor(private readonly opts: SceneDrainOptions) {}

  /** Remove a drain request left over by an earlier process with our id (it finished). */
  async clearStale(): Promise<void> {
    try {
      await this.opts.zk.remove(drainRequestPath(this.opts.root, this.opts.nodeId));
      this.opts.log.info("removed a stale drain request of an earlier process with this id");
    } catch (e) {
      if (!isZkError(e, "NO_NODE")) throw e;
    }
  }

  /** Call `onRequested` once when an operator asks to drain this server. */
  watch(onRequested: () => void): void {
    let fired = false;
    this.watcher = new WatchedNode<Buffer>(this.opts.zk, drainRequestPath(this.opts.root, this.opts.nodeId), {
      kind: "data",
      log: this.opts.log,
      onValue: (data) => {
        if (data === undefined || fired) return;
        fired = true;
        this.opts.log.info("drain requested");
        onRequested();
      },
    });
  }

  /**
   * Done when the coordinator acknowledged the drain (we are listed as draining) and every
   * user left is in a zone still placed here — zones nobody else can host stay with us, and
   * their users are handed back to the gateways by the shutdown (they wait for a server).
   */
  private done(): boolean {
    const { placement, scene, nodeId } = this.opts;
    if (scene.ccu === 0 && scene.handoversInFlight === 0) return true; // nobody to hand over
    if (!placement.doc()?.draining.includes(nodeId) || scene.handoversInFlight > 0) return false;
    const mine = new Set(placement.zonesOf(nodeId));
    const load = scene.zoneLoad();
    return Object.entries(load).every(([zone, n]) => n === 0 || mine.has(zone));
  }

  /** The drain sequence (see module comment). Never throws. */
  async run(reason: string): Promise<void> {
    this.watcher?.close();
    const { scene, log, zk, root, nodeId } = this.opts;
    const t0 = performance.now();
    const users = scene.ccu;
    scene.stopAccepting();
    try {
      await zk.create(drainRequestPath(root, nodeId), encodeDrainRequest({ requestedAt: Date.now(), by: reason }));
    } catch (e) {
      if (!isZkError(e, "NODE_EXISTS")) {
        log.warn({ err: String(e) }, "drain: could not create the drain request; shutting down without waiting for the coordinator");
        return;
      }
    }
    log.info({ users, zones: this.opts.placement.zonesOf(nodeId) }, "drain: waiting for the coordinator to move our zones");
    const deadline = Date.now() + this.opts.timeoutMs;
    while (!this.done() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const ms = Math.round(performance.now() - t0);
    if (this.done()) log.info({ users, left: scene.ccu, kept: this.opts.placement.zonesOf(nodeId), ms }, `drain: zones and users moved away in ${ms} ms`);
    else log.warn({ left: scene.ccu, zones: this.opts.placement.zonesOf(nodeId), ms }, "drain: timed out; the remaining users are handed back to their gateways by the shutdown");
  }
}

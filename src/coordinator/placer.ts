/**
 * The coordinator's placement loop. Only the elected leader (state `leader`, connected)
 * writes; followers and a `suspended` leader do nothing, so a ZooKeeper hiccup never changes
 * placement.
 *
 * One reconcile pass (serialised; triggered by membership, drain requests, placement and
 * leadership changes, and every `reconcileMs`):
 *  1. read the placement document and its version;
 *  2. update absence bookkeeping: a field server that is not a member is "absent since" the
 *     first pass that noticed it; within `graceMs` it keeps its zones (a member that
 *     re-registers after a session renewal loses nothing);
 *  3. `planPlacement` (pure rules, placement-rules.ts); zones never placed yet wait until no
 *     new field server joined for `graceMs` (servers starting together all get a share);
 *  4. if the zone map or the draining list changed, write generation + 1 with a fenced
 *     multi-op: check our election node exists + setData at the version read in 1. A deposed
 *     leader (node gone) or a concurrent writer (version moved) fails and changes nothing;
 *  5. remove drain requests of servers that are gone for good (past the grace period).
 *
 * Dungeon instances (issue #7, instances.ts) share the document's `zones` map under their
 * instance keys `<name>@<home>`. The placer watches the request nodes `<root>/instances/*`
 * (each node's data read once and cached; a malformed node is deleted by the leader), and in
 * step 3 splits the map: zone keys go through `planPlacement` exactly as before, instance keys
 * through `planInstances` (instance-rules.ts) against the live `dungeon` members; ONE document
 * holds both. After the write, the request nodes of instances whose dungeon server is gone are
 * deleted; until such a node has vanished from the watched children it is never re-placed.
 * Drain requests apply to dungeon ids too (no new instances; live instances stay).
 */
import type { Logger } from "../core/log.js";
import { decodeDrainRequest, decodePlacement, emptyPlacement, encodePlacement, type PlacementDoc } from "../core/cluster/placement-doc.js";
import { drainPath, drainRequestPath, placementPath } from "../core/cluster/paths.js";
import { instanceKey, InstanceRequestSchema, instancesPath, isInstanceKey, isRequestName, parseInstance, type InstanceRequest } from "../core/cluster/instances.js";
import { decodeJsonNode } from "../core/cluster/json-node.js";
import type { LeaderElection, MemberView } from "../core/cluster/types.js";
import { WatchedNode } from "../core/cluster/watched.js";
import { CreateMode, isZkError, zkJoin, type Zk } from "../core/cluster/zk.js";
import { planInstances } from "./instance-rules.js";
import type { CoordinatorMetrics } from "./metrics.js";
import { collectZoneLoad, planPlacement, samePlacement } from "./placement-rules.js";

export interface PlacerOptions {
  zk: Zk;
  root: string;
  /** This coordinator's node id (written as `leader`). */
  id: string;
  election: LeaderElection;
  /** View including roles `field` and `dungeon`. */
  view: MemberView;
  graceMs: number;
  reconcileMs: number;
  /** Users per channel before another opens (0 = off); see placement-rules.ts rule 5. */
  channelCapacity?: number;
  channelIdleMs?: number;
  log: Logger;
  metrics: CoordinatorMetrics;
  now?: () => number;
}

export class Placer {
  private readonly absentSince = new Map<string, number>();
  private readonly seen = new Set<string>();
  /** When a field server id was last seen for the first time. */
  private lastJoinAt = -Infinity;
  private drainIds = new Set<string>();
  private zoneLoad = new Map<string, number>();
  private last: PlacementDoc | undefined;
  private running = false;
  private again = false;
  private closed = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly unsubscribe: (() => void)[] = [];
  private drainNode: WatchedNode<string[]> | undefined;
  private placementNode: WatchedNode<Buffer> | undefined;
  private instancesNode: WatchedNode<string[]> | undefined;
  /** Children of the instances dir (request node names `d<seq>`), as last watched. */
  private requestNames = new Set<string>();
  /** Request node name → its request (read once). */
  private readonly requestCache = new Map<string, InstanceRequest>();
  /** Request nodes this leader deleted or must delete (name → instance key): never placed again. */
  private readonly doomed = new Map<string, string>();
  /** Requests already counted as unplaced (counted once each). */
  private readonly unplacedSeen = new Set<string>();
  private readonly now: () => number;

  constructor(private readonly opts: PlacerOptions) {
    this.now = opts.now ?? Date.now;
  }

  /** Start following; resolves once the inputs have been read once. */
  async start(): Promise<void> {
    const { zk, root } = this.opts;
    await zk.mkdirp(drainPath(root));
    await zk.mkdirp(instancesPath(root));
    this.drainNode = new WatchedNode<string[]>(zk, drainPath(root), {
      kind: "children",
      log: this.opts.log,
      onValue: (ids) => {
        this.drainIds = new Set(ids ?? []);
        this.trigger();
      },
    });
    this.instancesNode = new WatchedNode<string[]>(zk, instancesPath(root), {
      kind: "children",
      log: this.opts.log,
      onValue: (names) => {
        this.requestNames = new Set(names ?? []);
        for (const name of [...this.requestCache.keys()]) if (!this.requestNames.has(name)) this.requestCache.delete(name);
        for (const name of [...this.doomed.keys()]) if (!this.requestNames.has(name)) this.doomed.delete(name);
        this.trigger();
      },
    });
    this.placementNode = new WatchedNode<Buffer>(zk, placementPath(root), {
      kind: "data",
      log: this.opts.log,
      onValue: (data) => {
        this.last = decodePlacement(data);
        this.setPlacedGauges(this.last);
        this.trigger();
      },
    });
    await Promise.all([this.opts.view.ready(), this.drainNode.ready(), this.instancesNode.ready(), this.placementNode.ready()]);
    this.unsubscribe.push(this.opts.view.onChange(() => this.trigger()));
    this.unsubscribe.push(
      this.opts.election.onChange((state) => {
        this.opts.metrics.isLeader.set(state === "leader" ? 1 : 0);
        this.opts.log.info({ state }, state === "leader" ? "coordinator: leading" : `coordinator: ${state}`);
        this.trigger();
      }),
    );
    this.timer = setInterval(() => this.trigger(), this.opts.reconcileMs);
    this.timer.unref();
    this.trigger();
  }

  /** The last placement document read or written (for the ops API). */
  placement(): PlacementDoc | undefined {
    return this.last;
  }

  /** Wait for the current reconcile pass (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.running) await new Promise((r) => setTimeout(r, 5));
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    for (const u of this.unsubscribe) u();
    this.drainNode?.close();
    this.instancesNode?.close();
    this.placementNode?.close();
  }

  private setPlacedGauges(doc: PlacementDoc | undefined): void {
    const keys = Object.keys(doc?.zones ?? {});
    const instances = keys.filter(isInstanceKey).length;
    this.opts.metrics.zonesPlaced.set(keys.length - instances);
    this.opts.metrics.instances.set(instances);
  }

  /**
   * The live instance requests by instance key: reads the data of request nodes not read yet
   * (a node that vanished meanwhile is skipped; a malformed one is deleted, leader only).
   * Doomed requests (their instance was removed as server-gone) are left out.
   */
  private async liveRequests(): Promise<Map<string, InstanceRequest>> {
    const { zk, root, log } = this.opts;
    for (const name of [...this.requestNames].sort()) {
      if (this.requestCache.has(name) || this.doomed.has(name)) continue;
      const path = zkJoin(instancesPath(root), name);
      let data: Buffer | undefined;
      try {
        data = (await zk.getData(path)).data ?? undefined;
      } catch (e) {
        if (isZkError(e, "NO_NODE")) continue;
        throw e;
      }
      const req = isRequestName(name) ? decodeJsonNode(InstanceRequestSchema, data) : undefined;
      if (req) {
        if (this.requestNames.has(name)) this.requestCache.set(name, req);
        continue;
      }
      log.warn({ node: path }, "coordinator: deleting a malformed instance request node");
      try {
        await zk.remove(path);
      } catch (e) {
        if (!isZkError(e, "NO_NODE")) throw e;
      }
    }
    const out = new Map<string, InstanceRequest>();
    for (const [name, req] of this.requestCache) if (this.requestNames.has(name) && !this.doomed.has(name)) out.set(instanceKey(name, req.home), req);
    return out;
  }

  /** Delete doomed request nodes still present (after the write that removed their instances). */
  private async deleteDoomed(): Promise<void> {
    const { zk, root, log } = this.opts;
    for (const [name, key] of this.doomed) {
      if (!this.requestNames.has(name)) continue;
      try {
        await zk.remove(zkJoin(instancesPath(root), name));
        log.info({ instance: key }, "coordinator: request of a lost instance deleted");
      } catch (e) {
        if (!isZkError(e, "NO_NODE")) throw e;
      }
    }
  }

  private trigger(): void {
    if (this.closed) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    void (async () => {
      try {
        do {
          this.again = false;
          await this.reconcile();
        } while (this.again && !this.closed);
      } catch (err) {
        this.opts.log.warn({ err: String(err) }, "coordinator: reconcile failed; retrying on the next pass");
      } finally {
        this.running = false;
      }
    })();
  }

  /** `present`: field server ids (joins hold new zones); `dungeons`: live dungeon ids (never absent, no join effect). */
  private trackAbsence(present: Set<string>, doc: PlacementDoc, now: number, dungeons: ReadonlySet<string>): void {
    for (const id of present) {
      if (!this.seen.has(id)) this.lastJoinAt = now;
      this.seen.add(id);
      this.absentSince.delete(id);
    }
    for (const id of dungeons) this.absentSince.delete(id);
    const watched = new Set<string>([...this.seen, ...Object.values(doc.zones).map((p) => p.server), ...this.drainIds]);
    for (const id of watched) {
      if (!present.has(id) && !dungeons.has(id) && !this.absentSince.has(id)) this.absentSince.set(id, now);
    }
  }

  private async reconcile(): Promise<void> {
    const { zk, root, election, log, metrics } = this.opts;
    const members = this.opts.view.members("field");
    const present = new Set(members.map((m) => m.id));
    const dungeons = this.opts.view.members("dungeon");
    const dungeonIds = new Set(dungeons.map((m) => m.id));
    const now = this.now();
    // Absence is tracked by every coordinator (followers too, from the watched document), so
    // a new leader does not restart the grace period of a server that has been gone a while.
    const fence = election.state === "leader" ? election.nodePath() : undefined;
    if (!fence) {
      this.trackAbsence(present, this.last ?? emptyPlacement(), now, dungeonIds);
      return;
    }
    const t0 = performance.now();

    let doc: PlacementDoc;
    let version: number;
    try {
      const { data, stat } = await zk.getData(placementPath(root));
      doc = decodePlacement(data) ?? emptyPlacement();
      version = stat.version;
    } catch (e) {
      if (!isZkError(e, "NO_NODE")) throw e;
      doc = emptyPlacement();
      version = -1;
    }
    this.trackAbsence(present, doc, now, dungeonIds);
    const inGrace = new Set<string>();
    for (const [id, since] of this.absentSince) if (now - since < this.opts.graceMs) inGrace.add(id);
    const draining = new Set([...this.drainIds].filter((id) => present.has(id) || inGrace.has(id) || dungeonIds.has(id)));
    // Zone keys and instance keys share the document's map; each goes through its own rules.
    const zoneEntries: PlacementDoc["zones"] = {};
    const instanceEntries: PlacementDoc["zones"] = {};
    for (const [key, p] of Object.entries(doc.zones)) (isInstanceKey(key) ? instanceEntries : zoneEntries)[key] = p;
    this.zoneLoad = collectZoneLoad(members, zoneEntries, this.zoneLoad);

    const holdNew = now - this.lastJoinAt < this.opts.graceMs;
    const channelCapacity = this.opts.channelCapacity ?? 0;
    const plan = planPlacement({
      current: zoneEntries,
      members,
      absentInGrace: inGrace,
      draining,
      zoneLoad: this.zoneLoad,
      now,
      holdNew,
      channelCapacity,
      ...(this.opts.channelIdleMs !== undefined ? { channelIdleMs: this.opts.channelIdleMs } : {}),
    });
    const requests = await this.liveRequests();
    const inst = planInstances({ current: instanceEntries, requests, dungeons, draining: new Set([...draining].filter((id) => dungeonIds.has(id))), now });
    for (const key of inst.unplaced) {
      if (this.unplacedSeen.has(key)) continue;
      this.unplacedSeen.add(key);
      metrics.instanceEvents.inc({ event: "unplaced" });
      log.warn({ instance: key, dungeons: dungeons.length }, `coordinator: instance ${key} waits: no dungeon server can take it`);
    }
    for (const key of this.unplacedSeen) if (!requests.has(key) || !inst.unplaced.includes(key)) this.unplacedSeen.delete(key);
    const zones: PlacementDoc["zones"] = { ...plan.zones, ...inst.instances };
    const drainingList = [...draining].sort();
    const changed =
      !samePlacement(zones, doc.zones) || drainingList.join(",") !== doc.draining.join(",") || (doc.channelCapacity ?? 0) !== channelCapacity || version === -1;
    if (changed && election.state === "leader") {
      const next: PlacementDoc = { generation: doc.generation + 1, leader: this.opts.id, updatedAt: now, zones, draining: drainingList, channelCapacity };
      const data = encodePlacement(next);
      const path = placementPath(root);
      await zk.commitFenced(fence, [version === -1 ? { op: "create", path, data, mode: CreateMode.PERSISTENT } : { op: "setData", path, data, version }]);
      this.last = next;
      metrics.placementWrites.inc();
      this.setPlacedGauges(next);
      for (const m of plan.moves) {
        metrics.moves.inc({ reason: m.reason });
        const since = m.from ? this.absentSince.get(m.from) : undefined;
        const absentForMs = since === undefined ? undefined : now - since;
        if (m.reason === "server-gone" && absentForMs !== undefined) metrics.replaceSeconds.observe(absentForMs / 1000);
        log.info({ zone: m.zone, from: m.from, to: m.to, reason: m.reason, absentForMs, generation: next.generation }, `coordinator: zone ${m.zone} ${m.from ?? "-"} → ${m.to ?? "(nobody)"} (${m.reason})`);
      }
      for (const p of inst.placed) {
        metrics.instanceEvents.inc({ event: "placed" });
        log.info({ instance: p.key, server: p.server, generation: next.generation }, `coordinator: instance ${p.key} → ${p.server}`);
      }
      for (const r of inst.removed) {
        metrics.instanceEvents.inc({ event: r.reason });
        log.info({ instance: r.key, server: r.server, reason: r.reason, generation: next.generation }, `coordinator: instance ${r.key} removed from ${r.server} (${r.reason})`);
      }
      for (const key of inst.deleteRequests) this.doomed.set(parseInstance(key)!.name, key);
      if (plan.moves.length === 0 && inst.placed.length === 0 && inst.removed.length === 0) log.info({ generation: next.generation, draining: drainingList }, "coordinator: placement written");
    }
    // Request nodes of instances lost with their server (retried on every pass until gone).
    await this.deleteDoomed();

    // Drain requests of servers gone past the grace period are done.
    for (const id of this.drainIds) {
      if (present.has(id) || inGrace.has(id) || dungeonIds.has(id)) continue;
      try {
        const { data } = await zk.getData(drainRequestPath(root, id));
        await zk.remove(drainRequestPath(root, id));
        log.info({ server: id, request: decodeDrainRequest(data) }, "coordinator: drain finished; request removed");
      } catch (e) {
        if (!isZkError(e, "NO_NODE")) throw e;
      }
    }
    // Forget servers gone for good that no longer hold anything.
    for (const [id, since] of this.absentSince) {
      const holds = Object.values(zones).some((p) => p.server === id) || this.drainIds.has(id);
      if (!holds && now - since > this.opts.graceMs) {
        this.absentSince.delete(id);
        this.seen.delete(id);
      }
    }
    metrics.reconcileSeconds.observe((performance.now() - t0) / 1000);
  }
}

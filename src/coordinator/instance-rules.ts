/**
 * Pure placement rules for dungeon instances (issue #7): given the instance entries of the
 * placement document, the live request nodes and the live dungeon servers, compute the next
 * instance entries. No IO, unit- and property-tested. Zones and channels are placement-rules.ts.
 *
 * Rules (in order, keys sorted so every coordinator computes the same plan from the same input):
 *  1. An entry whose request node is gone was destroyed (by its dungeon server): removed,
 *     reason `destroyed`.
 *  2. An entry whose server is not a live dungeon member is removed, reason `server-gone`,
 *     and its request node must be deleted by the leader (`deleteRequests`). It is NOT
 *     re-placed: the gateway has already sent the party of a crashed dungeon back to the field.
 *     There is no grace period (an instance's state lives only in its dungeon process).
 *  3. Every other entry stays where it is — a live instance never moves, not even off a
 *     draining server (draining servers keep their instances until they are destroyed).
 *  4. A request without an entry is placed on the non-draining dungeon member with the lowest
 *     projected load: its published `load` (CCU) plus `INSTANCE_BASE_LOAD` per instance on it,
 *     counting instances kept and those placed earlier in the same pass; ties by member id.
 *  5. No eligible member: the request stays unplaced (the field server that asked times out
 *     and deletes it).
 * Idempotent: planning again on the output (with the deleted requests gone) changes nothing.
 */
import type { InstanceRequest } from "../core/cluster/instances.js";
import type { PlacementDoc } from "../core/cluster/placement-doc.js";
import type { MemberInfo } from "../core/cluster/types.js";

/** Load one instance counts for when spreading instances over dungeon servers. */
export const INSTANCE_BASE_LOAD = 4;

export type InstanceEntries = PlacementDoc["zones"];

export interface InstancePlanInput {
  /** The instance entries of the placement document (keys `<name>@<home>`). */
  current: InstanceEntries;
  /** Live request nodes, by instance key. */
  requests: ReadonlyMap<string, InstanceRequest>;
  /** Live members of role `dungeon`. */
  dungeons: readonly MemberInfo[];
  draining: ReadonlySet<string>;
  now: number;
}

export interface InstanceRemoval {
  key: string;
  server: string;
  reason: "destroyed" | "server-gone";
}

export interface InstancePlan {
  instances: InstanceEntries;
  placed: { key: string; server: string }[];
  removed: InstanceRemoval[];
  /** Keys whose request node the leader must delete (instances of gone servers). */
  deleteRequests: string[];
  /** Requests no dungeon server can take now. */
  unplaced: string[];
}

export function planInstances(input: InstancePlanInput): InstancePlan {
  const live = new Set(input.dungeons.map((m) => m.id));
  const instances: InstanceEntries = {};
  const placed: InstancePlan["placed"] = [];
  const removed: InstanceRemoval[] = [];
  const deleteRequests: string[] = [];
  const unplaced: string[] = [];
  const count = new Map<string, number>();

  // Rules 1–3.
  for (const key of Object.keys(input.current).sort()) {
    const cur = input.current[key]!;
    if (!input.requests.has(key)) {
      removed.push({ key, server: cur.server, reason: "destroyed" });
    } else if (!live.has(cur.server)) {
      removed.push({ key, server: cur.server, reason: "server-gone" });
      deleteRequests.push(key);
    } else {
      instances[key] = cur;
      count.set(cur.server, (count.get(cur.server) ?? 0) + 1);
    }
  }

  // Rules 4–5.
  const eligible = input.dungeons.filter((m) => !input.draining.has(m.id));
  const projected = (m: MemberInfo) => m.load + INSTANCE_BASE_LOAD * (count.get(m.id) ?? 0);
  const gone = new Set(deleteRequests);
  for (const key of [...input.requests.keys()].sort()) {
    if (Object.hasOwn(input.current, key)) continue; // kept, or removed above (never re-placed)
    if (gone.has(key)) continue;
    let best: MemberInfo | undefined;
    for (const m of eligible) {
      if (!best) best = m;
      else {
        const a = projected(m);
        const b = projected(best);
        if (a < b || (a === b && m.id < best.id)) best = m;
      }
    }
    if (!best) {
      unplaced.push(key);
      continue;
    }
    instances[key] = { server: best.id, since: input.now };
    count.set(best.id, (count.get(best.id) ?? 0) + 1);
    placed.push({ key, server: best.id });
  }
  return { instances, placed, removed, deleteRequests, unplaced };
}

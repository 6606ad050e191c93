/**
 * Pure placement rules of the coordinator leader: given the current placement document and
 * the live field servers, compute the next placement. No IO, unit- and property-tested.
 *
 * Rules (in order):
 *  1. Stability: a zone stays on its server while that server is `alive` (a member now, or
 *     absent for less than the grace period — the caller decides), not draining and still
 *     able to host it. Load imbalance alone never moves a zone (moving players costs more
 *     than it saves; operators drain or add servers to rebalance).
 *  2. A zone without a usable server goes to the eligible server (member now, not draining,
 *     lists the zone in `zones`) with the lowest projected load: its published load plus the
 *     estimated load of zones already given to it in this plan; ties by id. The estimate of a
 *     moving zone is its last known `zoneLoad` on the old server (0 if unknown) plus a
 *     constant so empty zones still spread over servers.
 *  3. A zone nobody can host: if its old server is still `alive` (e.g. the only server is
 *     draining) the zone stays there; otherwise it is removed (gateways wait for a server).
 *  4. Zones that some eligible server can host and that are not placed yet are placed (rule 2),
 *     in name order, so every coordinator computes the same plan from the same input — unless
 *     `holdNew` is set (servers are still joining, e.g. at cluster start: placing now would put
 *     every zone on whichever server registered first).
 *  5. Channels (`channelCapacity` > 0): when every channel of a zone holds at least
 *     `channelCapacity` users, one more channel (`<zone>#<n>`, its own world) is opened on the
 *     least loaded eligible server. An extra channel (n ≥ 2) that has been empty for
 *     `channelIdleMs` since it was placed is closed when the zone's other channels have room
 *     for its share; at most one channel is opened or closed per zone and pass.
 */
import { baseZone, channelKey, parseChannel } from "../core/cluster/channels.js";
import type { MemberInfo } from "../core/cluster/types.js";
import type { PlacementDoc } from "../core/cluster/placement-doc.js";

/** Load a zone counts for when spreading zones (so empty zones do not all land on one server). */
export const ZONE_BASE_LOAD = 10;

export interface PlanInput {
  current: PlacementDoc["zones"];
  /** Field servers that are members right now. */
  members: readonly MemberInfo[];
  /** Server ids absent from membership for less than the grace period (still considered alive). */
  absentInGrace: ReadonlySet<string>;
  draining: ReadonlySet<string>;
  /** Last known per-zone user counts (from any server's `zoneLoad`), for estimates. */
  zoneLoad: ReadonlyMap<string, number>;
  now: number;
  /** Leave not-yet-placed zones unplaced for now (rule 4). */
  holdNew?: boolean;
  /** Users per channel before another channel opens (rule 5); 0 = one channel per zone. */
  channelCapacity?: number;
  /** An extra channel must have been placed at least this long ago to close (default 60 s). */
  channelIdleMs?: number;
}

export interface Move {
  zone: string;
  from: string | undefined;
  to: string | undefined;
  reason: "unplaced" | "server-gone" | "draining" | "not-capable" | "no-server" | "channel-added" | "channel-removed";
}

export interface Plan {
  zones: PlacementDoc["zones"];
  moves: Move[];
}

export function planPlacement(input: PlanInput): Plan {
  const byId = new Map(input.members.map((m) => [m.id, m]));
  const projected = new Map<string, number>();
  for (const m of input.members) projected.set(m.id, m.load);
  const zones: PlacementDoc["zones"] = {};
  const moves: Move[] = [];

  const capable = (m: MemberInfo, key: string) => (m.zones ?? []).includes(baseZone(key));
  const eligible = (zone: string) => input.members.filter((m) => !input.draining.has(m.id) && capable(m, zone));
  const estimate = (zone: string) => (input.zoneLoad.get(zone) ?? 0) + ZONE_BASE_LOAD;

  const allZones = new Set<string>(Object.keys(input.current));
  for (const m of input.members) for (const z of m.zones ?? []) allZones.add(z);
  const sorted = [...allZones].sort();

  // Rule 1: keep what is fine. Account the load of kept zones only through the servers'
  // published load (already includes their users).
  const needPlace: { zone: string; from: string | undefined; reason: Move["reason"] }[] = [];
  for (const zone of sorted) {
    const cur = input.current[zone];
    if (!cur) {
      if (!input.holdNew) needPlace.push({ zone, from: undefined, reason: "unplaced" });
      continue;
    }
    const m = byId.get(cur.server);
    const inGrace = !m && input.absentInGrace.has(cur.server);
    if (inGrace || (m && !input.draining.has(m.id) && capable(m, zone))) {
      zones[zone] = cur;
      continue;
    }
    needPlace.push({ zone, from: cur.server, reason: !m ? "server-gone" : input.draining.has(m.id) ? "draining" : "not-capable" });
  }

  const leastLoaded = (zone: string): MemberInfo | undefined => {
    let best: MemberInfo | undefined;
    for (const m of eligible(zone)) {
      if (!best) best = m;
      else {
        const a = projected.get(m.id)!;
        const b = projected.get(best.id)!;
        if (a < b || (a === b && m.id < best.id)) best = m;
      }
    }
    return best;
  };

  // Rules 2–4.
  for (const { zone, from, reason } of needPlace) {
    const best = leastLoaded(zone);
    if (best) {
      zones[zone] = { server: best.id, since: input.now };
      projected.set(best.id, projected.get(best.id)! + estimate(zone));
      moves.push({ zone, from, to: best.id, reason });
      continue;
    }
    const cur = input.current[zone];
    if (cur && (byId.has(cur.server) || input.absentInGrace.has(cur.server))) {
      zones[zone] = cur; // nobody else can take it: stay (drain cannot progress for this zone)
      continue;
    }
    if (cur) moves.push({ zone, from, to: undefined, reason: "no-server" });
  }

  // Rule 5.
  const cap = input.channelCapacity ?? 0;
  if (cap > 0 && !input.holdNew) {
    const byBase = new Map<string, string[]>();
    for (const key of Object.keys(zones)) {
      const b = baseZone(key);
      byBase.set(b, [...(byBase.get(b) ?? []), key]);
    }
    const load = (key: string) => input.zoneLoad.get(key) ?? 0;
    for (const [b, keys] of [...byBase].sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))) {
      keys.sort((x, y) => parseChannel(x).n - parseChannel(y).n);
      if (keys.every((k) => load(k) >= cap)) {
        const key = channelKey(b, Math.max(...keys.map((k) => parseChannel(k).n)) + 1);
        const best = leastLoaded(key);
        if (best) {
          zones[key] = { server: best.id, since: input.now };
          projected.set(best.id, projected.get(best.id)! + ZONE_BASE_LOAD);
          moves.push({ zone: key, from: undefined, to: best.id, reason: "channel-added" });
        }
        continue;
      }
      const idleMs = input.channelIdleMs ?? 60_000;
      const total = keys.reduce((n, k) => n + load(k), 0);
      const closable = [...keys].reverse().find((k) => parseChannel(k).n >= 2 && load(k) === 0 && input.now - zones[k]!.since >= idleMs);
      if (closable && total < cap * (keys.length - 1)) {
        moves.push({ zone: closable, from: zones[closable]!.server, to: undefined, reason: "channel-removed" });
        delete zones[closable];
      }
    }
  }
  return { zones, moves };
}

/** Whether two zone maps place every zone on the same server. */
export function samePlacement(a: PlacementDoc["zones"], b: PlacementDoc["zones"]): boolean {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((z) => b[z]?.server === a[z]!.server);
}

/** Per-zone user counts merged from every member's `zoneLoad` (the hosting server's figure wins). */
export function collectZoneLoad(members: readonly MemberInfo[], current: PlacementDoc["zones"], previous?: ReadonlyMap<string, number>): Map<string, number> {
  const out = new Map(previous ?? []);
  for (const m of members) {
    for (const [zone, n] of Object.entries(m.zoneLoad ?? {})) {
      if (current[zone]?.server === m.id || !out.has(zone)) out.set(zone, n);
    }
  }
  return out;
}

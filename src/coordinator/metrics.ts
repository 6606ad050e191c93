/** Coordinator metrics (documented in docs/OPERATIONS.md). */
import { Counter, Gauge, Histogram, type Registry } from "prom-client";

export interface CoordinatorMetrics {
  isLeader: Gauge;
  zonesPlaced: Gauge;
  placementWrites: Counter;
  moves: Counter<"reason">;
  replaceSeconds: Histogram;
  reconcileSeconds: Histogram;
  /** Dungeon instances in the placement document (instance keys `<name>@<home>`). */
  instances: Gauge;
  instanceEvents: Counter<"event">;
}

export function createCoordinatorMetrics(r: Registry): CoordinatorMetrics {
  return {
    isLeader: new Gauge({ name: "rift_coordinator_is_leader", help: "1 while this coordinator leads (and is connected), else 0", registers: [r] }),
    zonesPlaced: new Gauge({ name: "rift_coordinator_zones_placed", help: "Zones (channels, not dungeon instances) in the placement document this leader last wrote or read", registers: [r] }),
    placementWrites: new Counter({ name: "rift_coordinator_placement_writes_total", help: "Placement documents written by this coordinator", registers: [r] }),
    moves: new Counter({ name: "rift_coordinator_zone_moves_total", help: "Zones placed or moved, by reason (unplaced, server-gone, draining, not-capable, no-server)", labelNames: ["reason"], registers: [r] }),
    replaceSeconds: new Histogram({
      name: "rift_coordinator_replace_seconds",
      help: "Time from a field server vanishing from membership to its zones being re-placed",
      buckets: [0.5, 1, 2, 5, 10, 30],
      registers: [r],
    }),
    reconcileSeconds: new Histogram({ name: "rift_coordinator_reconcile_seconds", help: "Duration of one reconcile pass of the leader", buckets: [0.001, 0.005, 0.02, 0.1, 0.5, 2], registers: [r] }),
    instances: new Gauge({ name: "rift_coordinator_instances", help: "Dungeon instances placed in the placement document this coordinator last wrote or read", registers: [r] }),
    instanceEvents: new Counter({
      name: "rift_coordinator_instance_events_total",
      help: "Dungeon instance placement events (placed, destroyed, server-gone, unplaced)",
      labelNames: ["event"],
      registers: [r],
    }),
  };
}

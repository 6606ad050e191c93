/**
 * Zone placement derived from membership alone, without a coordinator — the in-process
 * double of `ZkPlacementView` for unit tests of gateways (production processes always follow
 * the coordinator's placement document). The owner of a zone is the member of the game role
 * whose `zones` lists it; if several do, the one with the smallest id (plain string order).
 */
import type { Role } from "../config.js";
import type { MemberInfo, MemberView, ZonePlacement } from "./types.js";

/** Pure placement rule. */
export function placeZone(members: readonly MemberInfo[], zone: string, role: Role = "field"): MemberInfo | undefined {
  let best: MemberInfo | undefined;
  for (const m of members) {
    if (m.role !== role || !m.zones?.includes(zone)) continue;
    if (!best || m.id < best.id) best = m;
  }
  return best;
}

/** zone → owner id (+ the address fields a client of the owner needs), for change detection. */
function placementKey(members: readonly MemberInfo[], role: Role): string {
  const zones = new Set<string>();
  for (const m of members) if (m.role === role) for (const z of m.zones ?? []) zones.add(z);
  const parts: string[] = [];
  for (const z of [...zones].sort()) {
    const m = placeZone(members, z, role)!;
    parts.push(`${z}=${m.id}@${m.host}:${(m.linkPorts ?? []).join("/")}`);
  }
  return parts.join(",");
}

/**
 * ZonePlacement over a MemberView. `onChange` listeners fire when the zone → owner mapping
 * (or an owner's address) changes — not on mere load updates.
 */
export class MembershipZonePlacement implements ZonePlacement {
  private readonly view: MemberView;
  private readonly role: Role;
  private key: string;
  private readonly listeners = new Set<() => void>();
  private readonly unsubscribe: () => void;

  constructor(view: MemberView, role: Role = "field") {
    this.view = view;
    this.role = role;
    this.key = placementKey(view.members(role), role);
    this.unsubscribe = view.onChange((members) => {
      const key = placementKey(members, role);
      if (key === this.key) return;
      this.key = key;
      for (const fn of [...this.listeners]) fn();
    });
  }

  /** No channels without a coordinator: always the zone itself. */
  pickChannel(zone: string): string {
    return zone;
  }

  serverForZone(zone: string): MemberInfo | undefined {
    return placeZone(this.view.members(this.role), zone, this.role);
  }

  placedOn(zone: string): string | undefined {
    return this.serverForZone(zone)?.id;
  }

  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  close(): void {
    this.unsubscribe();
    this.listeners.clear();
  }
}

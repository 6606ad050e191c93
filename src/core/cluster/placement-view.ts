/**
 * `ZkPlacementView`: the ZonePlacement every gateway and game server uses in production —
 * the coordinator leader's placement document (`<root>/placement`, watched) resolved against
 * the live member view.
 *
 * - `serverForZone(zone)` is the placed server's MemberInfo only while that server is a live
 *   member of role `role` (default `field`) or `dungeon` — the document places dungeon
 *   instances (`<name>@<home>`, instances.ts) beside zones (a dead owner yields undefined:
 *   callers wait for the leader to re-place the zone; a dead dungeon's instance is gone).
 * - `onChange` listeners fire when the resolved mapping zone → (server id, address) changes or
 *   when the document's zone → server map changes; never on mere load updates.
 * - Before the first document exists (no coordinator yet) nothing is placed.
 */
import type { Role } from "../config.js";
import type { Logger } from "../log.js";
import { baseZone, parseChannel } from "./channels.js";
import { placementPath } from "./paths.js";
import { decodePlacement, zonesOf, type PlacementDoc } from "./placement-doc.js";
import type { MemberInfo, MemberView, ZonePlacement } from "./types.js";
import { WatchedNode } from "./watched.js";
import type { Zk } from "./zk.js";

export interface PlacementViewOptions {
  root: string;
  role?: Role;
  log?: Logger;
}

export class ZkPlacementView implements ZonePlacement {
  private current: PlacementDoc | undefined;
  private key = "";
  private readonly listeners = new Set<() => void>();
  private readonly node: WatchedNode<Buffer>;
  private readonly unsubscribe: () => void;
  private readonly role: Role;

  constructor(
    zk: Zk,
    private readonly view: MemberView,
    opts: PlacementViewOptions,
  ) {
    this.role = opts.role ?? "field";
    this.node = new WatchedNode<Buffer>(zk, placementPath(opts.root), {
      kind: "data",
      log: opts.log,
      onValue: (data) => {
        const doc = decodePlacement(data);
        if (data && data.length > 0 && !doc) opts.log?.warn("placement view: ignoring an invalid placement document");
        this.current = doc;
        this.check();
      },
    });
    this.unsubscribe = view.onChange(() => this.check());
  }

  ready(): Promise<void> {
    return this.node.ready();
  }

  /** The latest placement document (undefined before a coordinator wrote one). */
  doc(): PlacementDoc | undefined {
    return this.current;
  }

  /** Server id the document places `zone` on (live or not). */
  placedOn(zone: string): string | undefined {
    return this.current?.zones[zone]?.server;
  }

  /** Zones the document places on `serverId`, sorted. */
  zonesOf(serverId: string): string[] {
    return zonesOf(this.current, serverId);
  }

  serverForZone(zone: string): MemberInfo | undefined {
    const id = this.placedOn(zone);
    if (!id) return undefined;
    // zones live on `role` servers, dungeon instances (`<name>@<home>` keys) on dungeon servers
    return this.view.members().find((m) => m.id === id && (m.role === this.role || m.role === "dungeon"));
  }

  pickChannel(zone: string): string {
    const doc = this.current;
    if (!doc) return zone;
    const live = Object.keys(doc.zones)
      .filter((k) => baseZone(k) === zone && this.serverForZone(k) !== undefined)
      .sort((a, b) => parseChannel(a).n - parseChannel(b).n);
    if (live.length <= 1) return live[0] ?? zone;
    const load = (k: string) => this.serverForZone(k)?.zoneLoad?.[k] ?? 0;
    const cap = doc.channelCapacity ?? 0;
    const free = cap > 0 ? live.find((k) => load(k) < cap) : undefined;
    if (free) return free;
    return live.reduce((best, k) => (load(k) < load(best) ? k : best));
  }

  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  close(): void {
    this.node.close();
    this.unsubscribe();
    this.listeners.clear();
  }

  private resolvedKey(): string {
    if (!this.current) return "";
    const parts: string[] = [];
    for (const zone of Object.keys(this.current.zones).sort()) {
      const id = this.current.zones[zone]!.server;
      const m = this.serverForZone(zone);
      parts.push(`${zone}=${id}@${m ? `${m.host}:${(m.linkPorts ?? []).join("/")}` : "-"}`);
    }
    return parts.join(",");
  }

  private check(): void {
    const key = this.resolvedKey();
    if (key === this.key) return;
    this.key = key;
    for (const fn of [...this.listeners]) fn();
  }
}

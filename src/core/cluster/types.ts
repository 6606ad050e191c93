/**
 * Cluster membership and zone placement contracts.
 *
 * Every process registers one EPHEMERAL znode `<root>/members/<role>/<nodeId>` whose data is
 * the JSON of `MemberInfo`; it disappears when the process's ZooKeeper session ends. Readers
 * watch the member list and see a consistent snapshot. ZooKeeper holds server-level state
 * only — never one node per user (DESIGN §8).
 */
import type { Role } from "../config.js";

export interface MemberInfo {
  role: Role;
  id: string;
  host: string;
  /** Per-process ops HTTP port (/metrics, /healthz). */
  opsPort: number;
  /** Game servers: link ports (one per IO worker) gateways connect to. */
  linkPorts?: number[];
  /** Gateways: client WebSocket port. */
  clientPort?: number;
  /** Field servers: zones this server is configured/placed to host. */
  zones?: string[];
  colour: string;
  version: string;
  /** Current load (e.g. CCU); updated at most once per second. */
  load: number;
  startedAt: number;
}

/** A process's own registration. */
export interface Membership {
  /** Create the ephemeral node (re-created automatically after a session expiry). */
  register(info: MemberInfo): Promise<void>;
  /** Update the data of our node (load, zones). Rate-limit callers to ~1/s. */
  update(patch: Partial<MemberInfo>): Promise<void>;
  /** Remove our node (graceful shutdown). */
  deregister(): Promise<void>;
}

/** A live view of the members of the cluster. */
export interface MemberView {
  /** Current snapshot (possibly empty before the first read completes). */
  members(role?: Role): MemberInfo[];
  /** Called after every change with the new snapshot. Returns an unsubscribe function. */
  onChange(fn: (members: MemberInfo[]) => void): () => void;
  /** Resolves once the first snapshot has been read. */
  ready(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Which game server owns a zone. Until the coordinator issue lands this is derived
 * deterministically from membership (the member listing the zone with the smallest id);
 * the leader-elected coordinator will implement the same interface from its placement znode.
 */
export interface ZonePlacement {
  serverForZone(zone: string): MemberInfo | undefined;
  onChange(fn: () => void): () => void;
}

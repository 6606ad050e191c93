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
  /** Field servers: zones this server is able to host (the coordinator places each zone on one of them). */
  zones?: string[];
  /** Field servers: users per zone hosted now (placement estimates the load a zone brings). */
  zoneLoad?: Record<string, number>;
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
 * Which game server owns a zone. Production: `ZkPlacementView` (the coordinator leader's
 * placement znode, resolved against the member view). Unit tests: `MembershipZonePlacement`
 * (derived from membership, no coordinator).
 */
export interface ZonePlacement {
  /** The live server hosting a zone channel key (`z1`, `z1#2`) or dungeon instance key, if any. */
  serverForZone(zone: string): MemberInfo | undefined;
  /** The server id a key is placed on, live or not (undefined: not placed at all). */
  placedOn(zone: string): string | undefined;
  /**
   * The channel key a user arriving in `zone` should join: the first placed channel (on a
   * live server) below the channel capacity, else the least loaded one; `zone` itself when
   * the zone has one channel or none is placed.
   */
  pickChannel(zone: string): string;
  onChange(fn: () => void): () => void;
}

/**
 * Leader election among coordinators (ZooKeeper recipe: ephemeral sequential nodes, the lowest
 * leads, each candidate watches only its predecessor — no herd effect).
 *
 * States, as Curator names them:
 *  - `leader`: we hold the lowest node and our session is connected — act as leader;
 *  - `suspended`: we held leadership but the connection is lost (session maybe alive) — do
 *    nothing that needs leadership until `leader` again or `follower`;
 *  - `follower`: someone else leads (or we have not joined yet / were closed).
 * After a session expiry the node is gone: state becomes `follower` at once, and the
 * candidate re-joins under the renewed session (at the back of the line).
 */
export type ElectionState = "leader" | "suspended" | "follower";

export interface LeaderElection {
  /** Create our candidate node and start following. Resolves when the first state is known. */
  start(): Promise<void>;
  readonly state: ElectionState;
  /** Node id of the current leader (data of the lowest candidate node), if known. */
  leaderId(): string | undefined;
  /** Full path of our own candidate node (for fenced multi-ops), if we have one. */
  nodePath(): string | undefined;
  /** Called on every state change. Returns an unsubscribe function. */
  onChange(fn: (state: ElectionState) => void): () => void;
  /** Leave the election (delete our node). Another candidate takes over at once. */
  close(): Promise<void>;
}

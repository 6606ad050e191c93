/**
 * Contracts of the data layer (DESIGN §2 "Shard router"). Real implementations talk to the
 * Patroni-managed Postgres clusters; in-memory doubles implement the same contracts for unit
 * tests, and ONE contract test suite runs against both.
 */

export interface Account {
  userId: number;
  name: string;
}

/** Accounts live in the global database. */
export interface AccountStore {
  /** Create an account (scrypt-hashed password) and assign it a shard. Throws RiftError(USER_EXISTS). */
  register(name: string, password: string): Promise<Account>;
  /** Check credentials. Throws RiftError(AUTH_FAILED). */
  verify(name: string, password: string): Promise<Account>;
}

/** Signed, expiring session tokens (HMAC); stateless, verifiable by any gateway. */
export interface TokenService {
  issue(account: Account): string;
  /** Throws RiftError(AUTH_TOKEN_INVALID). */
  verify(token: string): Account;
}

/** The mapping table user → shard, in the global DB, cached in process. */
export interface ShardMap {
  /** The shard of a user (cached; a miss reads the global DB). Undefined if unknown user. */
  shardOf(userId: number): Promise<string | undefined>;
  /** Assign a new user to a shard by the configured weights; idempotent for a given user. */
  assign(userId: number): Promise<string>;
  /** Drop a cached entry (called on mapping-change notifications). */
  invalidate(userId: number): void;
  /** Names of all shards known to the map. */
  shards(): Promise<string[]>;
}

/** Persistent player state (one row on the user's shard). */
export interface PlayerState {
  userId: number;
  name: string;
  zone: string;
  x: number;
  y: number;
  hp: number;
}

export interface OwnedPlayer {
  state: PlayerState;
  /** Owner epoch obtained by this takeover; every later write must carry it. */
  epoch: number;
}

/**
 * Player rows with owner-epoch fencing (DESIGN "Ownership and fencing").
 * `takeOwnership` atomically increments `owner_epoch` and records the new owner; `save`
 * succeeds only while the row's epoch still equals the caller's. A stale owner's write
 * affects nothing and returns false — it never overwrites newer state.
 */
export interface PlayerRepository {
  /** Create the row if absent (new user) with the given initial state. */
  ensure(initial: PlayerState): Promise<void>;
  /** Bump the epoch, set owner, return the state and the new epoch. Undefined if no row. */
  takeOwnership(userId: number, owner: string): Promise<OwnedPlayer | undefined>;
  /** Conditional write. Returns false when the epoch no longer matches (fenced). */
  save(state: PlayerState, epoch: number): Promise<boolean>;
  /** Batched conditional writes (one round trip per shard); returns the user ids that were rejected. */
  saveMany(items: { state: PlayerState; epoch: number }[]): Promise<number[]>;
  /** Read without taking ownership (tests, tools). */
  load(userId: number): Promise<{ state: PlayerState; epoch: number; owner: string | null } | undefined>;
}

/** Where the current primary of each Patroni cluster is (follows failover). */
export interface PrimaryLocator {
  /** postgres:// URL of the current primary of `scope`; waits (bounded) while there is none. */
  primaryUrl(scope: string): Promise<string>;
  /** Called when the primary of a scope changes. */
  onChange(fn: (scope: string, url: string) => void): () => void;
  close(): Promise<void>;
}

/** Operator view of the shards table (weights and states drive new-user assignment). */
export interface ShardInfo {
  name: string;
  /** Relative share of NEW users; 0 = receives none. */
  weight: number;
  /** `active` shards receive new users; any other state (e.g. `draining`) receives none. */
  state: string;
}

export interface ShardAdmin {
  /** All shards with weight and state, ordered by name. */
  listShards(): Promise<ShardInfo[]>;
  /** Create or update a shard row. */
  setShard(info: ShardInfo): Promise<void>;
}

/** Everything a role needs from the data layer (real: data-layer.ts; double: memory.ts). */
export interface DataLayer {
  accounts: AccountStore;
  tokens: TokenService;
  shardMap: ShardMap & ShardAdmin;
  players: PlayerRepository;
  /** Create databases if missing, apply migrations everywhere, seed shard rows. Idempotent. */
  migrate(): Promise<void>;
  close(): Promise<void>;
}

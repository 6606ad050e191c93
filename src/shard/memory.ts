/**
 * In-memory doubles of the data-layer contracts, for unit tests of other modules (gateway,
 * scene host, write-behind...). They follow the same contract suite as the Postgres
 * implementation (test/contract/shard-contract.ts), including float4 rounding of x/y as pg reads it back, epoch
 * fencing and the mapping cache. They add small test hooks (`failNext…`, `setMapping`) but
 * no behaviour the real layer lacks.
 */
import { RiftError } from "../core/errors.js";
import { checkCredentialsShape } from "./accounts.js";
import { hashPassword, verifyAgainstDummy, verifyPassword, TEST_SCRYPT, type ScryptParams } from "./passwords.js";
import { assertEpoch, assertPlayerState, latestValidItems } from "./player-state.js";
import { assertUserId, SHARD_STATE_ACTIVE } from "./shard-map.js";
import { HmacTokenService } from "./tokens.js";
import type { Account, AccountStore, DataLayer, OwnedPlayer, PlayerRepository, PlayerState, ShardAdmin, ShardInfo, ShardMap } from "./types.js";
import { pickWeighted } from "./weighted.js";

export class MemoryShardMap implements ShardMap, ShardAdmin {
  /** The "global database" table; tests may edit it to simulate another process's change. */
  readonly table = new Map<number, string>();
  private readonly rows = new Map<string, ShardInfo>();
  private readonly cache = new Map<number, string>();

  constructor(shards: readonly (string | ShardInfo)[] = ["shard0"]) {
    for (const s of shards) {
      const info = typeof s === "string" ? { name: s, weight: 1, state: SHARD_STATE_ACTIVE } : s;
      this.rows.set(info.name, { ...info });
    }
  }

  async shardOf(userId: number): Promise<string | undefined> {
    await Promise.resolve();
    const hit = this.cache.get(userId);
    if (hit !== undefined) return hit;
    const shard = this.table.get(userId);
    if (shard !== undefined) this.cache.set(userId, shard);
    return shard;
  }

  async assign(userId: number): Promise<string> {
    assertUserId(userId);
    await Promise.resolve();
    const existing = this.table.get(userId);
    if (existing !== undefined) {
      this.cache.set(userId, existing);
      return existing;
    }
    const active = [...this.rows.values()].filter((r) => r.state === SHARD_STATE_ACTIVE);
    const shard = pickWeighted(userId, active);
    if (!shard) throw new RiftError("DEPENDENCY_UNAVAILABLE", "no active shard with a positive weight to place a new user on");
    this.table.set(userId, shard);
    this.cache.set(userId, shard);
    return shard;
  }

  invalidate(userId: number): void {
    this.cache.delete(userId);
  }

  async shards(): Promise<string[]> {
    return (await this.listShards()).map((s) => s.name);
  }

  async listShards(): Promise<ShardInfo[]> {
    await Promise.resolve();
    return [...this.rows.values()].map((r) => ({ ...r })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  async setShard(info: ShardInfo): Promise<void> {
    if (!Number.isInteger(info.weight) || info.weight < 0) throw new RiftError("INTERNAL", `invalid shard weight ${info.weight}`);
    await Promise.resolve();
    this.rows.set(info.name, { ...info });
  }

  /** Test hook: change the stored mapping behind the cache (as another process would). */
  setMapping(userId: number, shard: string): void {
    if (!this.rows.has(shard)) throw new Error(`unknown shard ${shard}`);
    this.table.set(userId, shard);
  }
}

export class MemoryAccountStore implements AccountStore {
  private readonly users = new Map<string, { userId: number; passHash: string }>();
  private nextId = 1;

  constructor(
    private readonly shardMap: ShardMap,
    private readonly scrypt: ScryptParams = TEST_SCRYPT,
  ) {}

  async register(name: string, password: string): Promise<Account> {
    if (!checkCredentialsShape(name, password)) throw new RiftError("PROTO_SCHEMA", "name or password out of bounds");
    if (this.users.has(name)) throw new RiftError("USER_EXISTS", name);
    const passHash = await hashPassword(password, this.scrypt);
    if (this.users.has(name)) throw new RiftError("USER_EXISTS", name);
    const userId = this.nextId++;
    this.users.set(name, { userId, passHash });
    await this.shardMap.assign(userId);
    return { userId, name };
  }

  async verify(name: string, password: string): Promise<Account> {
    if (!checkCredentialsShape(name, password)) throw new RiftError("AUTH_FAILED");
    const u = this.users.get(name);
    const ok = u ? await verifyPassword(password, u.passHash) : await verifyAgainstDummy(password, this.scrypt);
    if (!ok || !u) throw new RiftError("AUTH_FAILED");
    return { userId: u.userId, name };
  }
}

interface MemoryRow {
  state: PlayerState;
  epoch: number;
  owner: string | null;
}

/**
 * What a `real` (float4) column gives back through pg: the value rounded to float4, printed
 * by Postgres as the shortest decimal that round-trips (so 1.1 stays 1.1, 1.23456789 becomes
 * 1.2345679, 16777217 becomes 16777216), parsed as a double.
 */
export function float4RoundTrip(v: number): number {
  const f = Math.fround(v);
  if (!Number.isFinite(f) || f === 0) return f;
  for (let p = 1; p <= 9; p++) {
    const d = Number(f.toPrecision(p));
    if (Math.fround(d) === f) return d;
  }
  return f;
}

/** Mimic Postgres column types: `real` is float4. */
function stored(s: PlayerState): PlayerState {
  return { userId: s.userId, name: s.name, zone: s.zone, x: float4RoundTrip(s.x), y: float4RoundTrip(s.y), hp: s.hp };
}

export class MemoryPlayerRepository implements PlayerRepository {
  /** Rows by user id (one logical table across shards; routing is checked via the map). */
  readonly rows = new Map<number, MemoryRow>();
  private failures: { left: number; error: () => Error } = { left: 0, error: () => new Error("injected") };
  /** Number of save/saveMany calls that reached the "database" (for write-behind tests). */
  writes = 0;

  constructor(private readonly shardMap: ShardMap) {}

  /** Test hook: the next `n` save/saveMany calls reject (default DEPENDENCY_UNAVAILABLE). */
  failNextWrites(n: number, error: () => Error = () => new RiftError("DEPENDENCY_UNAVAILABLE", "memory double: injected write failure")): void {
    this.failures = { left: n, error };
  }

  private maybeFail(): void {
    if (this.failures.left > 0) {
      this.failures.left--;
      throw this.failures.error();
    }
  }

  async ensure(initial: PlayerState): Promise<void> {
    assertPlayerState(initial);
    if ((await this.shardMap.shardOf(initial.userId)) === undefined) await this.shardMap.assign(initial.userId);
    if (!this.rows.has(initial.userId)) this.rows.set(initial.userId, { state: stored(initial), epoch: 0, owner: null });
  }

  async takeOwnership(userId: number, owner: string): Promise<OwnedPlayer | undefined> {
    if ((await this.shardMap.shardOf(userId)) === undefined) return undefined;
    const row = this.rows.get(userId);
    if (!row) return undefined;
    row.epoch += 1;
    row.owner = owner;
    return { state: { ...row.state }, epoch: row.epoch };
  }

  async save(state: PlayerState, epoch: number): Promise<boolean> {
    assertPlayerState(state);
    assertEpoch(epoch);
    this.maybeFail();
    this.writes++;
    if ((await this.shardMap.shardOf(state.userId)) === undefined) return false;
    const row = this.rows.get(state.userId);
    if (!row || row.epoch !== epoch) return false;
    row.state = stored(state);
    return true;
  }

  async saveMany(items: { state: PlayerState; epoch: number }[]): Promise<number[]> {
    const latest = latestValidItems(items);
    this.maybeFail();
    this.writes++;
    const rejected: number[] = [];
    for (const it of latest.values()) {
      const row = this.rows.get(it.state.userId);
      if ((await this.shardMap.shardOf(it.state.userId)) === undefined || !row || row.epoch !== it.epoch) {
        rejected.push(it.state.userId);
        continue;
      }
      row.state = stored(it.state);
    }
    return rejected;
  }

  async load(userId: number): Promise<{ state: PlayerState; epoch: number; owner: string | null } | undefined> {
    if ((await this.shardMap.shardOf(userId)) === undefined) return undefined;
    const row = this.rows.get(userId);
    return row ? { state: { ...row.state }, epoch: row.epoch, owner: row.owner } : undefined;
  }
}

export interface MemoryDataLayerOptions {
  /** Shard names or rows (default one shard `shard0`). */
  shards?: readonly (string | ShardInfo)[];
  tokenSecret?: string;
  tokenTtlSec?: number;
  /** Clock for tokens (ms). */
  now?: () => number;
  scrypt?: ScryptParams;
}

export interface MemoryDataLayer extends DataLayer {
  accounts: MemoryAccountStore;
  shardMap: MemoryShardMap;
  players: MemoryPlayerRepository;
  tokens: HmacTokenService;
}

export function createMemoryDataLayer(opts: MemoryDataLayerOptions = {}): MemoryDataLayer {
  const shardMap = new MemoryShardMap(opts.shards ?? ["shard0"]);
  const tokenOpts: ConstructorParameters<typeof HmacTokenService>[0] = {
    secret: opts.tokenSecret ?? "memory-data-layer-test-secret",
    ttlSec: opts.tokenTtlSec ?? 3600,
  };
  if (opts.now) tokenOpts.now = opts.now;
  return {
    accounts: new MemoryAccountStore(shardMap, opts.scrypt ?? TEST_SCRYPT),
    tokens: new HmacTokenService(tokenOpts),
    shardMap,
    players: new MemoryPlayerRepository(shardMap),
    migrate: async () => undefined,
    close: async () => undefined,
  };
}

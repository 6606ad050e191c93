/**
 * The cluster a benchmark runs against: infrastructure (a private `infraUp` in a fresh run
 * dir under /tmp, or a running one reused with `--infra-dir`), per-run isolation inside it
 * (own ZooKeeper root, Redis prefix and database name, removed at the end), role processes,
 * and pre-provisioned bot accounts.
 *
 * Accounts are provisioned through the real data layer (`AccountStore.register`, one
 * transaction each, with the cheap TEST scrypt parameters so that a login costs ~2 ms of
 * scrypt instead of ~50 ms — the benchmark measures the game loop, not password hashing),
 * and each gets a player row at a uniformly random position in the zone, so the measured
 * crowd is spread over the world from the first second (the DESIGN §7 workload) instead of
 * all spawning at the centre.
 */
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../../src/core/config.js";
import { silentLogger } from "../../src/core/log.js";
import { TEST_SCRYPT } from "../../src/shard/passwords.js";
import { createDataLayer, type PgDataLayer } from "../../src/shard/data-layer.js";
import { findPrimary, infraDown, infraEnv, infraStatus, infraUp, readState, withDatabase, withPg, type InfraState } from "../../src/tools/infra/infra.js";
import { quoteIdent } from "../../src/tools/infra/pg.js";
import { connectZk, withZk, zkMkdirp, zkRemoveTree } from "../../src/tools/infra/zk.js";
import type { Credentials } from "../../src/tools/loadbot/options.js";
import { mulberry32 } from "../../src/tools/loadbot/prng.js";

export interface BenchInfra {
  state: InfraState;
  /** True when we started it (and must stop it). */
  owned: boolean;
  stop(): Promise<void>;
}

export async function benchInfra(opts: { infraDir?: string; log: (l: string) => void; signal?: AbortSignal }): Promise<BenchInfra> {
  if (opts.infraDir) {
    const state = readState(opts.infraDir);
    if (!state) throw new Error(`--infra-dir ${opts.infraDir}: no state.json (start one with: npm run infra -- up --profile test --run-dir ${opts.infraDir})`);
    const st = await infraStatus(opts.infraDir);
    if (st.some((s) => !s.healthy)) throw new Error(`--infra-dir ${opts.infraDir} is not healthy`);
    opts.log(`reusing infra in ${opts.infraDir}`);
    return { state, owned: false, stop: async () => {} };
  }
  // a fresh path (infraUp creates it traversable for the postgres user; mkdtemp's 0700 is not)
  const runDir = join(tmpdir(), `rift-bench-${process.pid}-${randomBytes(3).toString("hex")}`);
  opts.log(`starting private infra in ${runDir} (profile test, 1 shard)`);
  const upOpts: Parameters<typeof infraUp>[0] = { runDir, shards: 1, zk: 1, profile: "test", log: (l) => opts.log(`infra: ${l}`) };
  if (opts.signal) upOpts.signal = opts.signal;
  const state = await infraUp(upOpts);
  return { state, owned: true, stop: () => infraDown(runDir, { log: (l) => opts.log(`infra: ${l}`) }) };
}

/** Names unique to one benchmark run inside a (possibly shared) infra. */
export interface RunScope {
  id: string;
  zkRoot: string;
  redisPrefix: string;
  database: string;
  /** RIFT__* variables pointing a role at this scope. */
  env: Record<string, string>;
  dispose(): Promise<void>;
}

export async function runScope(infra: InfraState, tag: string): Promise<RunScope> {
  const id = `${Date.now().toString(36)}${randomBytes(3).toString("hex")}`;
  const zkRoot = `/rift-bench/${tag}-${id}`;
  const database = `rift_bench_${id}`;
  const redisPrefix = `rift-bench:${id}:`;
  await withZk(infra.zookeeper.connect, (c) => zkMkdirp(c, zkRoot));
  return {
    id,
    zkRoot,
    redisPrefix,
    database,
    env: {
      ...infraEnv(infra),
      RIFT__CLUSTER__ZOOKEEPER__ROOT: zkRoot,
      RIFT__CLUSTER__REDIS__KEYPREFIX: JSON.stringify(redisPrefix),
      RIFT__DB__DATABASE: database,
    },
    dispose: async () => {
      await withZk(infra.zookeeper.connect, (c) => zkRemoveTree(c, zkRoot)).catch(() => {});
      await dropDatabase(infra, database).catch(() => {});
    },
  };
}

async function dropDatabase(infra: InfraState, name: string): Promise<void> {
  const zk = await connectZk(infra.zookeeper.connect);
  try {
    await Promise.all(
      infra.patroni.clusters.map(async (c) => {
        const p = await findPrimary(zk, c.scope, infra.patroni.namespace);
        await withPg(withDatabase(p.connUrl, "postgres"), (pg) => pg.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`));
      }),
    );
  } finally {
    zk.close();
  }
}

/** Provisions bot accounts (and account-less player rows) at random positions; grows on demand. */
export class AccountPool {
  readonly accounts: Credentials[] = [];
  private readonly data: PgDataLayer;
  private readonly rng = mulberry32(0x5eed);
  private migrated = false;
  private players = 0;

  constructor(
    private readonly scope: RunScope,
    private readonly zone: string,
    private readonly worldSize: number,
  ) {
    const config = loadConfig({ env: { ...scope.env } });
    this.data = createDataLayer({ config, log: silentLogger(), database: scope.database, scrypt: TEST_SCRYPT });
  }

  /** Make sure at least `n` accounts exist (registers the missing ones, `concurrency` at a time). */
  async ensure(n: number, concurrency = 12): Promise<Credentials[]> {
    if (!this.migrated) {
      await this.data.migrate();
      this.migrated = true;
    }
    const start = this.accounts.length;
    const todo = Array.from({ length: Math.max(0, n - start) }, (_, i) => start + i);
    const made: (Credentials | undefined)[] = new Array<Credentials | undefined>(todo.length);
    let next = 0;
    const margin = 10;
    const worker = async () => {
      while (next < todo.length) {
        const k = next++;
        const i = todo[k]!;
        const c = { name: `bb${this.scope.id.slice(-6)}_${i}`, password: "bench-password" };
        const acc = await this.data.accounts.register(c.name, c.password);
        const x = margin + this.rng() * (this.worldSize - 2 * margin);
        const y = margin + this.rng() * (this.worldSize - 2 * margin);
        await this.data.players.ensure({ userId: acc.userId, name: c.name, zone: this.zone, x, y, hp: 100 });
        made[k] = c;
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    for (const c of made) this.accounts.push(c!);
    return this.accounts.slice(0, n);
  }

  /**
   * Player rows without accounts (for drivers that attach users over the link directly):
   * user ids `PLAYER_ID_BASE + i`, random positions. Returns the ids of the first `n`.
   */
  async ensurePlayers(n: number, concurrency = 16): Promise<number[]> {
    if (!this.migrated) {
      await this.data.migrate();
      this.migrated = true;
    }
    const todo = Array.from({ length: Math.max(0, n - this.players) }, (_, i) => this.players + i);
    let next = 0;
    const margin = 10;
    const worker = async () => {
      while (next < todo.length) {
        const userId = PLAYER_ID_BASE + todo[next++]!;
        const x = margin + this.rng() * (this.worldSize - 2 * margin);
        const y = margin + this.rng() * (this.worldSize - 2 * margin);
        await this.data.players.ensure({ userId, name: `lk${userId}`, zone: this.zone, x, y, hp: 100 });
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    this.players = Math.max(this.players, n);
    return Array.from({ length: n }, (_, i) => PLAYER_ID_BASE + i);
  }

  close(): Promise<void> {
    return this.data.close();
  }
}

/** First user id of account-less player rows (far above the accounts' sequence). */
export const PLAYER_ID_BASE = 1_000_000_000;

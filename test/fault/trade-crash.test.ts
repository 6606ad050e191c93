/**
 * Trade fault test (issue #7 "Done when"): the trade coordinator runs in a child process
 * (test/fault/trade-worker.ts) that SIGKILLs itself at every step of the two-phase commit —
 * before prepare, after the first / second prepare, after the decision, after the first /
 * second commit — cycling through the steps, with several trades in flight. Each new worker
 * runs recovery on start; the test runs a last recovery pass. Then:
 *   - no item is duplicated or lost (every item id on exactly one shard, one owner; the set of
 *     ids and the total currency are conserved),
 *   - pg_prepared_xacts holds no rift_trade_% row of this database on any shard,
 *   - every trade is done, and fully applied (committed: marker + ledger rows on each of its
 *     shards) or not at all (aborted: none anywhere),
 *   - replaying the committed trades' specs onto the initial state gives exactly the final
 *     owners and balances.
 * Runs on the shared Patroni clusters with its own databases (no infra is killed).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Config } from "../../src/core/config.js";
import { silentLogger } from "../../src/core/log.js";
import type { TradeSpec } from "../../src/game/trade-rules.js";
import { createDataLayer, type PgDataLayer } from "../../src/shard/data-layer.js";
import { PgItemRepository } from "../../src/shard/items.js";
import { TradeCoordinator, type TradeStep } from "../../src/shard/trades.js";
import { getInfra, infraTestConfig, type InfraState } from "../helpers/infra.js";
import { freshDatabases, type FreshDatabases } from "../helpers/isolation.js";
import type { WorkerConfig } from "./trade-worker.js";

const STEPS: TradeStep[] = ["before_prepare", "after_prepare_1", "after_prepare_2", "after_decision", "after_commit_1", "after_commit_2"];
const USERS_PER_SHARD = 16;
const ITEMS_PER_USER = 6;
const START_CURRENCY = 1000;
const TARGET_TRADES = Number(process.env.TRADE_FAULT_TRADES ?? 1000);
const CYCLES = Number(process.env.TRADE_FAULT_CYCLES ?? 2);

const testConfig = (infra: InfraState, database: string) => infraTestConfig(infra, database, 6);

interface WorkerRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  lines: Record<string, unknown>[];
  stderr: string;
}

describe("cross-shard trades survive a coordinator crash at every step", { timeout: 300_000 }, () => {
  let dbs: FreshDatabases | undefined;
  let layer: PgDataLayer | undefined;
  let config: Config;
  const children = new Set<ChildProcess>();

  beforeAll(async () => {
    const infra = getInfra();
    dbs = await freshDatabases(infra);
    config = testConfig(infra, dbs.name);
    layer = createDataLayer({ config, log: silentLogger(), database: dbs.name, client: "trade-fault-test" });
    await layer.migrate();
  }, 120_000);

  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null && c.pid) process.kill(c.pid, "SIGKILL");
    await layer?.close();
    await dbs?.dispose();
  });

  function runWorker(cfg: WorkerConfig): Promise<WorkerRun> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ["--import", "tsx", "test/fault/trade-worker.ts", JSON.stringify(cfg)], { stdio: ["ignore", "pipe", "pipe"] });
      children.add(child);
      let stdout = "";
      let stderr = "";
      child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
      child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
      const timer = setTimeout(() => child.pid && process.kill(child.pid, "SIGKILL"), 120_000);
      child.on("error", reject);
      child.on("exit", (code, signal) => {
        clearTimeout(timer);
        children.delete(child);
        const lines = stdout
          .split("\n")
          .filter((l) => l.startsWith("{"))
          .map((l) => JSON.parse(l) as Record<string, unknown>);
        resolve({ code, signal, lines, stderr });
      });
    });
  }

  /** Wait (bounded) until no backend of worker `life` is left on any cluster: a killed client's open transaction is rolled back only when its backend notices. */
  async function waitBackendsGone(life: number): Promise<void> {
    const deadline = Date.now() + 15_000;
    const scopes = [config.db.globalScope, ...config.db.shardScopes];
    for (;;) {
      let n = 0;
      for (const s of scopes) {
        const { rows } = await layer!.router.query<{ n: string }>(s, "SELECT count(*) AS n FROM pg_stat_activity WHERE application_name LIKE $1", [`trade-worker-${life}/%`], { idempotent: true });
        n += Number(rows[0]!.n);
      }
      if (n === 0) return;
      if (Date.now() > deadline) throw new Error(`backends of worker ${life} still alive`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  it("≥ 1000 trades with crashes at every step: no item duplicated or lost, nothing left prepared, every trade all-or-nothing", async () => {
    const data = layer!;
    const shards = config.db.shardScopes;
    expect(shards.length).toBeGreaterThanOrEqual(2);
    const g = config.db.globalScope;

    // users: USERS_PER_SHARD on each shard
    const usersByShard: Record<string, number[]> = {};
    let uid = 1000;
    for (const s of shards) usersByShard[s] = Array.from({ length: USERS_PER_SHARD }, () => ++uid);
    const allUsers = Object.values(usersByShard).flat();
    await data.router.query(g, "INSERT INTO shard_map (user_id, shard) SELECT * FROM unnest($1::bigint[], $2::text[])", [
      allUsers,
      shards.flatMap((s) => usersByShard[s]!.map(() => s)),
    ]);
    const items = new PgItemRepository({ router: data.router, shardMap: data.shardMap, globalScope: g });
    const initialOwner = new Map<number, number>();
    const initialBalance = new Map<number, number>();
    for (const u of allUsers) {
      const ids = await items.grantItems(u, Array.from({ length: ITEMS_PER_USER }, (_, i) => ({ kind: `k${i % 3}`, qty: 1 + (i % 2) })));
      for (const id of ids) initialOwner.set(id, u);
      initialBalance.set(u, await items.grantCurrency(u, START_CURRENCY));
    }
    const totalCurrency = allUsers.length * START_CURRENCY;

    const base: Omit<WorkerConfig, "life" | "crashStep" | "crashAtHit" | "trades" | "seed"> = {
      zk: config.cluster.zookeeper.connect,
      namespace: config.db.patroniNamespace,
      globalScope: g,
      shardScopes: shards,
      database: dbs!.name,
      concurrency: 4,
      usersByShard,
    };
    let life = 0;
    let crashes = 0;
    let recoveredCommit = 0;
    let recoveredAbort = 0;
    let orphans = 0;
    const crashSteps = new Map<string, number>();
    const t0 = Date.now();
    const tradeCount = async () => Number((await data.router.query<{ n: string }>(g, "SELECT count(*) AS n FROM trades", [], { idempotent: true })).rows[0]!.n);
    const absorb = (run: WorkerRun) => {
      for (const l of run.lines) {
        if (l.type === "recovered") {
          recoveredCommit += Number(l.committed) + Number(l.orphansCommitted);
          recoveredAbort += Number(l.aborted) + Number(l.orphansRolledBack);
          orphans += Number(l.orphansCommitted) + Number(l.orphansRolledBack);
          expect(l.anomalies).toEqual([]);
        }
        if (l.type === "error" || l.type === "fatal") throw new Error(`worker ${life}: ${JSON.stringify(l)}\n${run.stderr}`);
      }
    };

    // crash lives: every step, CYCLES times; each crashes after a random number of hits
    const plan: TradeStep[] = [];
    for (let c = 0; c < CYCLES; c++) plan.push(...STEPS);
    const perLife = Math.ceil(TARGET_TRADES / (plan.length + 1));
    for (const step of plan) {
      life++;
      const run = await runWorker({ ...base, life, crashStep: step, crashAtHit: 5 + ((life * 7) % Math.max(6, Math.floor(perLife * 0.6))), trades: 100_000, seed: life * 7919 });
      absorb(run);
      const crash = run.lines.find((l) => l.type === "crash");
      expect(run.signal, `worker ${life} (${step}) should have killed itself: ${run.stderr.slice(-2000)}`).toBe("SIGKILL");
      expect(crash?.step).toBe(step);
      crashes++;
      crashSteps.set(step, (crashSteps.get(step) ?? 0) + 1);
      await waitBackendsGone(life);
    }
    // a last, clean life recovers the previous crash and tops the count up to TARGET_TRADES
    life++;
    const remaining = Math.max(50, TARGET_TRADES - (await tradeCount()) + 20);
    const last = await runWorker({ ...base, life, crashStep: null, crashAtHit: 0, trades: remaining, seed: 424242 });
    absorb(last);
    expect(last.code, last.stderr.slice(-2000)).toBe(0);
    await waitBackendsGone(life);
    const elapsed = (Date.now() - t0) / 1000;

    // final recovery by the test (the last worker exited cleanly: nothing should be pending)
    const coordinator = new TradeCoordinator({ router: data.router, shardMap: data.shardMap, globalScope: g, log: silentLogger() });
    const fin = await coordinator.recover({ abandonAfterMs: 0 });
    expect(fin.anomalies).toEqual([]);
    recoveredCommit += fin.committed + fin.orphansCommitted;
    recoveredAbort += fin.aborted + fin.orphansRolledBack;

    // ---- checks ----
    for (const s of shards) {
      const { rows } = await data.router.query(s, "SELECT gid FROM pg_prepared_xacts WHERE database = current_database()", [], { idempotent: true });
      expect(rows, `prepared transactions left on ${s}`).toEqual([]);
    }
    const { rows: trades } = await data.router.query<{ id: string; state: string; outcome: string | null; shards: string[]; spec: TradeSpec }>(
      g,
      "SELECT id, state, outcome, shards, spec FROM trades",
      [],
      { idempotent: true },
    );
    expect(trades.length).toBeGreaterThanOrEqual(TARGET_TRADES);
    expect(trades.filter((t) => t.state !== "done")).toEqual([]);

    // items: each id exactly once across shards, same set as created
    const owner = new Map<number, number>();
    const dup: number[] = [];
    const marker = new Map<string, Set<string>>(); // shard → trade ids with trade_applied
    const ledgerTrades = new Map<string, Set<string>>();
    let currency = 0;
    const balance = new Map<number, number>();
    for (const s of shards) {
      const inv = await data.router.query<{ item_id: string; user_id: string }>(s, "SELECT item_id, user_id FROM inventory", [], { idempotent: true });
      for (const r of inv.rows) {
        const id = Number(r.item_id);
        if (owner.has(id)) dup.push(id);
        owner.set(id, Number(r.user_id));
      }
      const w = await data.router.query<{ user_id: string; currency: string }>(s, "SELECT user_id, currency FROM wallets", [], { idempotent: true });
      for (const r of w.rows) {
        currency += Number(r.currency);
        balance.set(Number(r.user_id), (balance.get(Number(r.user_id)) ?? 0) + Number(r.currency));
      }
      const m = await data.router.query<{ trade_id: string }>(s, "SELECT trade_id FROM trade_applied", [], { idempotent: true });
      marker.set(s, new Set(m.rows.map((r) => r.trade_id)));
      const l = await data.router.query<{ trade_id: string }>(s, "SELECT DISTINCT trade_id FROM item_ledger WHERE trade_id IS NOT NULL", [], { idempotent: true });
      ledgerTrades.set(s, new Set(l.rows.map((r) => r.trade_id)));
    }
    const lost = [...initialOwner.keys()].filter((id) => !owner.has(id));
    const extra = [...owner.keys()].filter((id) => !initialOwner.has(id));
    expect(dup, "duplicated items").toEqual([]);
    expect(lost, "lost items").toEqual([]);
    expect(extra, "items from nowhere").toEqual([]);
    expect(currency).toBe(totalCurrency);

    // all-or-nothing per trade, and replay of the committed ones
    const partial: string[] = [];
    const net = new Map<number, Map<number, number>>(); // item → user → count
    for (const [id, u] of initialOwner) net.set(id, new Map([[u, 1]]));
    const expectBalance = new Map(initialBalance);
    let committed = 0;
    for (const t of trades) {
      const applied = t.shards.map((s) => marker.get(s)!.has(t.id));
      const ledgered = shards.map((s) => ledgerTrades.get(s)!.has(t.id));
      if (t.outcome === "committed") {
        committed++;
        if (!applied.every(Boolean) || !t.shards.every((s) => ledgerTrades.get(s)!.has(t.id))) partial.push(`${t.id} committed but not applied everywhere`);
        const { a, b, aGives, bGives } = t.spec;
        for (const [from, to, give] of [[a, b, aGives], [b, a, bGives]] as const) {
          for (const id of give.items) {
            const m = net.get(id)!;
            m.set(from, (m.get(from) ?? 0) - 1);
            m.set(to, (m.get(to) ?? 0) + 1);
          }
          expectBalance.set(from, expectBalance.get(from)! - give.currency);
          expectBalance.set(to, expectBalance.get(to)! + give.currency);
        }
      } else {
        if (applied.some(Boolean) || ledgered.some(Boolean)) partial.push(`${t.id} aborted but applied somewhere`);
      }
    }
    expect(partial).toEqual([]);
    const wrongOwner: string[] = [];
    for (const [id, m] of net) {
      const holders = [...m].filter(([, n]) => n !== 0);
      if (holders.length !== 1 || holders[0]![1] !== 1 || owner.get(id) !== holders[0]![0]) wrongOwner.push(`${id}: replay ${JSON.stringify(holders)} vs db ${owner.get(id)}`);
    }
    expect(wrongOwner).toEqual([]);
    for (const u of allUsers) expect(balance.get(u) ?? 0, `balance of ${u}`).toBe(expectBalance.get(u));
    for (const step of STEPS) expect(crashSteps.get(step) ?? 0).toBeGreaterThanOrEqual(1);
    // crashes after the decision must have been rolled forward, crashes before it rolled back
    expect(recoveredCommit).toBeGreaterThan(0);
    expect(recoveredAbort).toBeGreaterThan(0);
    const { rows: reasons } = await data.router.query<{ reason: string; n: string }>(
      g,
      "SELECT regexp_replace(coalesce(reason, '-'), '[0-9]+', 'N', 'g') AS reason, count(*) AS n FROM trades WHERE outcome = 'aborted' GROUP BY 1 ORDER BY 2 DESC",
      [],
      { idempotent: true },
    );
    const done = last.lines.find((l) => l.type === "done");
    console.log(`abort reasons: ${reasons.map((r) => `${r.n}× ${r.reason}`).join("; ")}`);

    console.log(
      `RESULT trades=${trades.length} committed=${committed} aborted=${trades.length - committed} crashes=${crashes} recovered_commit=${recoveredCommit} recovered_abort=${recoveredAbort} orphans=${orphans} lives=${life} elapsed_s=${elapsed.toFixed(1)} trades_per_s=${(trades.length / elapsed).toFixed(1)} clean_life_trades_per_s=${done ? ((remaining / Number(done.ms)) * 1000).toFixed(1) : "?"}`,
    );
  });
});

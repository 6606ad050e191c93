/**
 * Child process of test/fault/trade-crash.test.ts: a trade coordinator that
 *   1. runs trade recovery on start (as every process that coordinates trades must),
 *   2. performs random trades between the given users (mostly across shards), `concurrency`
 *      at a time, and
 *   3. SIGKILLs itself the `crashAtHit`-th time any trade reaches `crashStep`.
 * Usage: node --import tsx test/fault/trade-worker.ts '<json WorkerConfig>'
 * Prints JSON lines: {type:"recovered",...}, {type:"crash",step,tradeId}, {type:"done",...}.
 */
import { isRiftError } from "../../src/core/errors.js";
import { loadConfig } from "../../src/core/config.js";
import { silentLogger } from "../../src/core/log.js";
import { createDataLayer } from "../../src/shard/data-layer.js";
import { inventoryOn } from "../../src/shard/items.js";
import { TradeCoordinator, type TradeStep } from "../../src/shard/trades.js";

export interface WorkerConfig {
  zk: string;
  namespace: string;
  globalScope: string;
  shardScopes: string[];
  database: string;
  life: number;
  crashStep: TradeStep | null;
  crashAtHit: number;
  trades: number;
  concurrency: number;
  /** shard → users mapped there */
  usersByShard: Record<string, number[]>;
  seed: number;
}

function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 0x100000000;
  };
}

function out(o: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify(o) + "\n");
}

async function main(): Promise<void> {
  const cfg = JSON.parse(process.argv[2]!) as WorkerConfig;
  const config = loadConfig({
    env: {},
    overrides: {
      cluster: { zookeeper: { connect: cfg.zk } },
      db: { patroniNamespace: cfg.namespace, globalScope: cfg.globalScope, shardScopes: cfg.shardScopes, database: cfg.database, poolSize: cfg.concurrency + 2 },
      auth: { tokenSecret: "trade-worker-secret-0123456789abc", tokenTtlSec: 3600 },
    },
  });
  const log = silentLogger();
  const data = createDataLayer({ config, log, database: cfg.database, client: `trade-worker-${cfg.life}` });
  let hits = 0;
  const coordinator = new TradeCoordinator({
    router: data.router,
    shardMap: data.shardMap,
    globalScope: cfg.globalScope,
    log,
    lockTimeoutMs: 1000,
    hook: (step, tradeId) => {
      if (step !== cfg.crashStep) return;
      hits++;
      if (hits === cfg.crashAtHit) {
        out({ type: "crash", step, tradeId });
        process.kill(process.pid, "SIGKILL");
      }
    },
  });

  // the previous coordinator is dead (the test waited for its exit and its backends), so
  // every undecided trade is abandoned
  const rep = await coordinator.recover({ abandonAfterMs: 0 });
  out({ type: "recovered", ...rep });

  const rand = rng(cfg.seed);
  const shards = Object.keys(cfg.usersByShard).sort();
  const shardOfUser = new Map<number, string>();
  for (const [s, us] of Object.entries(cfg.usersByShard)) for (const u of us) shardOfUser.set(u, s);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  let started = 0;
  const stats = { committed: 0, rejected: 0, inDoubt: 0, failed: 0 };

  async function view(user: number): Promise<{ items: number[]; balance: number }> {
    const shard = shardOfUser.get(user)!;
    const [items, w] = await Promise.all([
      inventoryOn(data.router, shard, [user]),
      data.router.query<{ currency: string }>(shard, "SELECT currency FROM wallets WHERE user_id = $1", [user], { idempotent: true }),
    ]);
    return { items: items.map((i) => i.itemId), balance: w.rows.length ? Number(w.rows[0]!.currency) : 0 };
  }

  function choose(items: number[], max: number): number[] {
    const n = Math.floor(rand() * (Math.min(max, items.length) + 1));
    const copy = [...items];
    const outItems: number[] = [];
    for (let i = 0; i < n; i++) outItems.push(copy.splice(Math.floor(rand() * copy.length), 1)[0]!);
    return outItems;
  }

  async function loop(): Promise<void> {
    while (started < cfg.trades) {
      started++;
      const sa = pick(shards);
      const sb = rand() < 0.85 ? pick(shards.filter((s) => s !== sa)) ?? sa : sa;
      const a = pick(cfg.usersByShard[sa]!);
      let b = pick(cfg.usersByShard[sb]!);
      if (b === a) b = cfg.usersByShard[sb]!.find((u) => u !== a)!;
      const [va, vb] = await Promise.all([view(a), view(b)]);
      // 1 in 10 asks for more currency than a has: must abort with nothing changed
      const aCur = rand() < 0.1 ? va.balance + 1 + Math.floor(rand() * 50) : Math.floor(rand() * Math.min(va.balance, 40));
      const bCur = Math.floor(rand() * Math.min(vb.balance, 40));
      let aItems = choose(va.items, 2);
      const bItems = choose(vb.items, 2);
      if (aItems.length + bItems.length === 0 && aCur + bCur === 0) aItems = va.items.slice(0, 1);
      if (aItems.length + bItems.length === 0 && aCur + bCur === 0) continue;
      try {
        await coordinator.trade({ a, b, aGives: { items: aItems, currency: aCur }, bGives: { items: bItems, currency: bCur } });
        stats.committed++;
      } catch (e) {
        if (isRiftError(e, "TRADE_REJECTED")) stats.rejected++;
        else if (isRiftError(e, "TRADE_IN_DOUBT")) stats.inDoubt++;
        else {
          stats.failed++;
          out({ type: "error", err: e instanceof Error ? e.message : String(e) });
        }
      }
    }
  }

  const t0 = Date.now();
  await Promise.all(Array.from({ length: cfg.concurrency }, () => loop()));
  out({ type: "done", ...stats, ms: Date.now() - t0 });
  await data.close();
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    out({ type: "fatal", err: e instanceof Error ? e.stack : String(e) });
    process.exit(1);
  },
);

/**
 * Game log and analytics on the real shared infra (fresh global DB + own Redis prefix):
 * - partition maintenance creates today..today+ahead and detaches/drops days past the retention;
 * - the batched writer lands rows (one INSERT per flush), creating a missing partition on demand;
 * - a time-bounded query prunes partitions (EXPLAIN), `opsctl logs --user` returns the rows;
 * - analytics: XADD → consumer group → analytics_events, XACKed, nothing pending.
 */
import { execFile } from "node:child_process";
import { Redis } from "ioredis";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../src/core/log.js";
import { AnalyticsConsumer, AnalyticsProducer, ANALYTICS_GROUP, analyticsStreamKey } from "../../src/core/ops/analytics.js";
import type { SqlRunner } from "../../src/core/ops/events.js";
import { GameLogWriter, maintainPartitions, partitionName, queryGameLog } from "../../src/core/ops/game-log.js";
import { infraEnv } from "../../src/tools/infra/infra.js";
import { getInfra } from "../helpers/infra.js";
import { opsTestEnv, type OpsTestEnv } from "../helpers/ops-env.js";
import type { FreshDatabases, RedisPrefix } from "../helpers/isolation.js";
import { tsxCommand, waitFor } from "../helpers/processes.js";

const DAY = 86_400_000;

describe("game log partitions + analytics stream (Postgres + Redis)", () => {
  let ns: RedisPrefix;
  let dbs: FreshDatabases;
  let db: pg.Pool;
  let admin: Redis;
  const run: SqlRunner = (sql, p) => db.query(sql, p);
  const tx = async <T,>(fn: (r: SqlRunner) => Promise<T>): Promise<T> => {
    const c = await db.connect();
    try {
      await c.query("BEGIN");
      const out = await fn((sql, p) => c.query(sql, p));
      await c.query("COMMIT");
      return out;
    } catch (e) {
      await c.query("ROLLBACK").catch(() => undefined);
      throw e;
    } finally {
      c.release();
    }
  };
  const partitions = async () =>
    (await db.query<{ n: string }>("SELECT c.relname AS n FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'game_log' ORDER BY 1")).rows.map((r) => r.n);

  let env: OpsTestEnv | undefined;

  beforeAll(async () => {
    env = await opsTestEnv(4);
    ({ ns, dbs, db, admin } = env);
  });
  afterAll(async () => {
    await env?.dispose();
  });

  it("maintenance: partitions created ahead, old ones detached and dropped per retention (two runs in parallel are serialised)", async () => {
    const now = Date.now();
    // a cluster that ran 20 days ago left partitions behind
    await tx((r) => maintainPartitions(r, { now: now - 20 * DAY, retentionDays: 30, ahead: 2 }));
    expect(await partitions()).toEqual([0, 1, 2].map((i) => partitionName(now - 20 * DAY + i * DAY)));
    const [a, b] = await Promise.all([
      tx((r) => maintainPartitions(r, { now, retentionDays: 7, ahead: 3 })),
      tx((r) => maintainPartitions(r, { now, retentionDays: 7, ahead: 3 })),
    ]);
    const want = [0, 1, 2, 3].map((i) => partitionName(now + i * DAY));
    expect(await partitions()).toEqual(want);
    expect([...a.created, ...b.created].sort()).toEqual(want); // each created once
    expect([...a.dropped, ...b.dropped].length).toBe(3);
    const left = await db.query("SELECT count(*)::int AS n FROM pg_class WHERE relname = $1", [partitionName(now - 20 * DAY)]);
    expect(left.rows[0].n).toBe(0); // dropped, not only detached
  });

  it("writer: batched rows land; a row for a day without partition triggers maintenance; query prunes partitions", async () => {
    let clock = Date.now();
    const statements: string[] = [];
    const w = new GameLogWriter({
      node: "gw-test",
      run: (sql, p) => (statements.push(sql), run(sql, p)),
      ensurePartitions: () => tx((r) => maintainPartitions(r, { now: clock, retentionDays: 30, ahead: 1 })),
      maxBuffer: 10_000,
      flushMs: 50,
      log: silentLogger(),
      now: () => clock,
    }).start();
    for (let i = 0; i < 2000; i++) w.log(i % 2 ? "login" : "logout", 1000 + (i % 10), { i });
    const t0 = performance.now();
    await waitFor(async () => w.written === 2000, { timeoutMs: 15_000, intervalMs: 20, what: "2000 rows written" });
    const ms = performance.now() - t0;
    const inserts = statements.filter((s) => s.includes("INSERT")).length;
    expect(inserts).toBeLessThanOrEqual(4); // batches, not one per row
    console.log(`RESULT game-log-batch rows=2000 inserts=${inserts} ms=${ms.toFixed(0)}`);

    clock = Date.now() + 10 * DAY; // no partition yet for that day
    w.log("error", 0, { msg: "future" });
    await w.close();
    expect(w.written).toBe(2001);
    expect(await partitions()).toContain(partitionName(clock));

    const mine = await queryGameLog(run, { userId: 1003, since: Date.now() - 3_600_000, limit: 1000 });
    expect(mine.length).toBe(200);
    expect(mine.every((r) => r.userId === 1003 && r.node === "gw-test")).toBe(true);
    const plan = (await db.query(`EXPLAIN SELECT * FROM game_log WHERE at >= now() - interval '1 hour' AND at < now() + interval '1 minute' AND user_id = 1003`)).rows.map((r) => String(r["QUERY PLAN"])).join("\n");
    const scanned = new Set(plan.match(/game_log_\d{8}/g) ?? []);
    console.log(`RESULT game-log-pruning partitions=${(await partitions()).length} scanned=${scanned.size}`);
    expect(scanned.size).toBeLessThanOrEqual(2); // today (and yesterday near midnight) only
  });

  it("opsctl logs --user returns the user's rows (JSON) and admin actions are logged", async () => {
    const env = { ...infraEnv(getInfra()), RIFT__DB__DATABASE: dbs.name, RIFT__CLUSTER__REDIS__KEYPREFIX: JSON.stringify(ns.prefix) };
    const opsctl = (args: string[]) =>
      new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        const [cmd, argv] = tsxCommand("src/tools/opsctl/cli.ts", args);
        execFile(cmd, argv, { env: { ...process.env, ...env }, timeout: 45_000, killSignal: "SIGKILL" }, (err, stdout, stderr) =>
          resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
        );
      });
    const r = await opsctl(["logs", "--user", "1004", "--since", "1h", "--limit", "500", "--json"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { entries: { userId: number; kind: string }[] };
    expect(out.entries.length).toBe(200);
    expect(new Set(out.entries.map((e) => e.userId))).toEqual(new Set([1004]));

    const bad = await opsctl(["logs", "--kind", "nope"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/RIFT_USAGE/);

    const ev = await opsctl(["event", "switch", "logtest", "off"]);
    expect(ev.code).toBe(0);
    const adm = await opsctl(["logs", "--kind", "admin", "--json"]);
    const entries = (JSON.parse(adm.stdout) as { entries: { kind: string; detail: { action: string; args: string[] } }[] }).entries;
    expect(entries[0]?.detail.action).toBe("event");
    expect(entries[0]?.detail.args).toEqual(["switch", "logtest", "off"]);
    const text = await opsctl(["logs", "--kind", "admin"]);
    expect(text.stdout).toMatch(/admin/);
  });

  it("analytics: XADD → consumer group → analytics_events; all XACKed; MAXLEN bounds the stream", async () => {
    const producer = new AnalyticsProducer({ url: ns.url, keyPrefix: ns.prefix, maxLen: 100_000, log: silentLogger() });
    const consumer = new AnalyticsConsumer({ url: ns.url, keyPrefix: ns.prefix, consumer: "c1", run, log: silentLogger(), batchMax: 200, blockMs: 200, claimIdleMs: 1000, claimEveryMs: 1000 });
    await consumer.start();
    const t0 = performance.now();
    const ids = await Promise.all(Array.from({ length: 1000 }, (_, i) => producer.append({ userId: 1 + (i % 5), name: "ev", props: { i }, receivedAt: Date.now() })));
    const xaddMs = performance.now() - t0;
    await waitFor(async () => (await db.query("SELECT count(*)::int AS n FROM analytics_events")).rows[0].n === 1000, { timeoutMs: 20_000, intervalMs: 50, what: "1000 rows" });
    console.log(`RESULT analytics-pipeline events=1000 xadd-ms=${xaddMs.toFixed(0)} end-to-end-ms=${(performance.now() - t0).toFixed(0)} batches=${consumer.batches}`);
    expect(new Set(ids).size).toBe(1000);
    const pending = (await admin.xpending(analyticsStreamKey(ns.prefix), ANALYTICS_GROUP)) as [number, ...unknown[]];
    expect(pending[0]).toBe(0);
    await consumer.close();
    await producer.close();

    // bound: a tiny MAXLEN keeps the stream near it (approximate trimming works per macro node)
    const small = new AnalyticsProducer({ url: ns.url, keyPrefix: `${ns.prefix}small:`, maxLen: 100, log: silentLogger() });
    for (let i = 0; i < 10; i++) await Promise.all(Array.from({ length: 100 }, () => small.append({ userId: 1, name: "x", props: {}, receivedAt: 0 })));
    const len = await admin.xlen(analyticsStreamKey(`${ns.prefix}small:`));
    console.log(`RESULT analytics-maxlen bound=100 appended=1000 xlen=${len}`);
    expect(len).toBeLessThan(300);
    await small.close();
  });
});

/**
 * Killing the analytics consumer mid-batch loses nothing acknowledged and stores nothing twice
 * (issue #9 item 4). A child process consumes `<prefix>analytics` with a pause between the
 * committed INSERT and the XACK; it is SIGKILLed (by PID) while events keep arriving. A second
 * consumer starts, claims the dead one's pending entries (XAUTOCLAIM) and drains the stream.
 * Counted: events acknowledged by Redis to the producer (= what the gateway acknowledges to
 * clients) vs rows in analytics_events, distinct client sequence numbers, pending entries.
 */
import { Redis } from "ioredis";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../src/core/log.js";
import { AnalyticsConsumer, AnalyticsProducer, ANALYTICS_GROUP, analyticsStreamKey } from "../../src/core/ops/analytics.js";
import { opsTestEnv, type OpsTestEnv } from "../helpers/ops-env.js";
import type { FreshDatabases, RedisPrefix } from "../helpers/isolation.js";
import { startProcess, tsxCommand, waitFor, type ManagedProcess } from "../helpers/processes.js";

describe("analytics consumer crash (SIGKILL mid-batch)", () => {
  let ns: RedisPrefix;
  let dbs: FreshDatabases;
  let db: pg.Pool;
  let admin: Redis;
  let child: ManagedProcess | undefined;

  let env: OpsTestEnv | undefined;

  beforeAll(async () => {
    env = await opsTestEnv(3);
    ({ ns, dbs, db, admin } = env);
  });
  afterAll(async () => {
    await child?.stop().catch(() => undefined);
    await env?.dispose();
  });

  it("0 acknowledged events lost, 0 duplicates", async () => {
    const key = analyticsStreamKey(ns.prefix);
    const [cmd, argv] = tsxCommand("test/fault/analytics-consumer-child.ts");
    child = await startProcess(cmd, argv, {
      name: "analytics-consumer",
      env: { REDIS_URL: ns.url, KEY_PREFIX: ns.prefix, PG_URL: dbs.global.url, CONSUMER: "victim", ACK_DELAY_MS: "1500", BATCH: "50" },
      readyWhen: /consumer ready/,
      timeoutMs: 30_000,
    });
    const producer = new AnalyticsProducer({ url: ns.url, keyPrefix: ns.prefix, maxLen: 1_000_000, log: silentLogger() });
    let acked = 0;
    let failed = 0;
    let seq = 0;
    const TOTAL = 3000;
    const sending = (async () => {
      while (seq < TOTAL) {
        const chunk = Array.from({ length: 50 }, () => ++seq);
        await Promise.all(chunk.map((s) => producer.append({ userId: 1 + (s % 7), name: "ev", props: { seq: s }, receivedAt: Date.now() }).then(() => acked++, () => failed++)));
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    // kill it right after a batch was inserted, before its XACK (the child waits ACK_DELAY_MS there:
    // wide enough for this process to react on a loaded machine)
    await child.waitForLine((l) => l.startsWith("acked"), 30_000);
    await child.waitForLine(() => child!.lines.filter((l) => l.startsWith("inserted")).length > child!.lines.filter((l) => l.startsWith("acked")).length, 30_000).catch(() => undefined);
    child.kill("SIGKILL");
    await child.exited;
    const rowsAtKill = (await db.query("SELECT count(*)::int AS n FROM analytics_events")).rows[0].n as number;
    const pendingAtKill = ((await admin.xpending(key, ANALYTICS_GROUP)) as [number])[0];
    await sending;
    await producer.close();

    const survivor = new AnalyticsConsumer({ url: ns.url, keyPrefix: ns.prefix, consumer: "survivor", run: (sql, p) => db.query(sql, p), log: silentLogger(), batchMax: 200, blockMs: 200, claimIdleMs: 500, claimEveryMs: 500 });
    const t0 = performance.now();
    await survivor.start();
    try {
      await waitFor(
        async () => {
          const n = (await db.query("SELECT count(*)::int AS n FROM analytics_events")).rows[0].n as number;
          const pend = ((await admin.xpending(key, ANALYTICS_GROUP)) as [number])[0];
          return n === acked && pend === 0;
        },
        { timeoutMs: 30_000, intervalMs: 100, what: "every acknowledged event stored, nothing pending" },
      );
    } finally {
      await survivor.close();
    }
    const recoverMs = performance.now() - t0;
    const { rows } = await db.query<{ n: number; d: number }>("SELECT count(*)::int AS n, count(DISTINCT props->>'seq')::int AS d FROM analytics_events");
    const lost = acked - rows[0]!.d;
    const dup = rows[0]!.n - rows[0]!.d;
    console.log(
      `RESULT analytics-crash sent=${TOTAL} acked=${acked} failed=${failed} rows=${rows[0]!.n} distinct=${rows[0]!.d} lost=${lost} duplicates=${dup} rowsAtKill=${rowsAtKill} pendingAtKill=${pendingAtKill} claimed=${survivor.claimed} recover-ms=${recoverMs.toFixed(0)}`,
    );
    expect(failed).toBe(0);
    expect(acked).toBe(TOTAL);
    expect(lost).toBe(0);
    expect(dup).toBe(0);
    expect(pendingAtKill).toBeGreaterThan(0); // the kill did land inside a batch
    expect(survivor.claimed).toBeGreaterThan(0); // the dead consumer's entries were claimed
  });
});

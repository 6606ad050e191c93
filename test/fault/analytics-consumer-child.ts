/**
 * A stand-alone analytics consumer for test/fault/analytics-consumer.test.ts (killed with
 * SIGKILL mid-batch). Env: REDIS_URL, KEY_PREFIX, PG_URL, CONSUMER, ACK_DELAY_MS (wait between
 * the committed INSERT and the XACK, so a kill lands inside a batch), BATCH.
 */
import pg from "pg";
import { silentLogger } from "../../src/core/log.js";
import { AnalyticsConsumer } from "../../src/core/ops/analytics.js";

const env = process.env;
const pool = new pg.Pool({ connectionString: env.PG_URL, max: 2 });
pool.on("error", () => undefined);
const delay = Number(env.ACK_DELAY_MS ?? 0);
const c = new AnalyticsConsumer({
  url: env.REDIS_URL!,
  keyPrefix: env.KEY_PREFIX!,
  consumer: env.CONSUMER ?? "child",
  run: (sql, p) => pool.query(sql, p),
  log: silentLogger(),
  batchMax: Number(env.BATCH ?? 50),
  blockMs: 200,
  claimIdleMs: 60_000,
  claimEveryMs: 60_000,
  beforeAck: async (ids) => {
    process.stdout.write(`inserted ${ids.length}\n`);
    if (delay) await new Promise((r) => setTimeout(r, delay));
  },
  onStored: (n) => process.stdout.write(`acked ${n}\n`),
});
await c.start();
process.stdout.write("consumer ready\n");

/**
 * Client analytics pipeline (issue #9 item 4):
 *
 *   client ──analytics──▶ gateway ──XADD MAXLEN ~ N──▶ Redis Stream <keyPrefix>analytics
 *        ◀─analyticsAck──┘                                   │ consumer group "rift-analytics"
 *                                                            ▼
 *                         AnalyticsConsumer (coordinator process): XREADGROUP batch →
 *                         INSERT … ON CONFLICT (stream_id) DO NOTHING (committed) → XACK
 *
 * Contract:
 * - `AnalyticsProducer.append` resolves once Redis holds the entry (the gateway acknowledges
 *   the client only then); ioredis auto-pipelining batches concurrent XADDs into one write.
 *   The stream is trimmed approximately to `maxLen` (oldest entries go first).
 * - `AnalyticsConsumer`: entries are XACKed only after the INSERT committed, so a consumer
 *   killed at any point leaves its entries pending; on start and every `claimEveryMs` it
 *   claims (XAUTOCLAIM) entries pending longer than `claimIdleMs` — its own from a previous
 *   life or a dead peer's — and stores them. The stream entry id is the primary key, so a
 *   batch delivered twice is stored once (at-least-once delivery, exactly-once rows).
 * - An entry trimmed by MAXLEN before it was read is lost by design (bounded stream); the
 *   bound is meant to be far above the consumers' lag.
 */
import { Redis } from "ioredis";
import type { Logger } from "../log.js";
import type { SqlRunner } from "./events.js";

export const ANALYTICS_GROUP = "rift-analytics";

export function analyticsStreamKey(keyPrefix: string): string {
  return `${keyPrefix}analytics`;
}

export interface AnalyticsEvent {
  userId: number;
  name: string;
  props: Record<string, unknown>;
  /** Client clock (ms), if sent. */
  clientAt?: number;
  /** Gateway clock (ms). */
  receivedAt: number;
}

export interface AnalyticsSink {
  /** Resolves when the event is durably queued (in the stream); rejects when Redis is unreachable. */
  append(e: AnalyticsEvent): Promise<string>;
}

function redisClient(url: string, name: string, log: Logger, opts: { autoPipeline?: boolean } = {}): Redis {
  const r = new Redis(url, { connectionName: name, maxRetriesPerRequest: 2, enableAutoPipelining: opts.autoPipeline === true });
  r.on("error", (err: Error) => log.debug({ err: err.message }, "analytics: redis error"));
  return r;
}

export function encodeEntry(e: AnalyticsEvent): string[] {
  const f = ["u", String(e.userId), "n", e.name, "p", JSON.stringify(e.props), "r", String(e.receivedAt)];
  if (e.clientAt !== undefined) f.push("c", String(e.clientAt));
  return f;
}

/** Stream entry fields → event (pure; undefined for a malformed entry, which is acked and skipped). */
export function decodeEntry(fields: readonly string[]): AnalyticsEvent | undefined {
  const m = new Map<string, string>();
  for (let i = 0; i + 1 < fields.length; i += 2) m.set(fields[i]!, fields[i + 1]!);
  const userId = Number(m.get("u"));
  const receivedAt = Number(m.get("r"));
  const name = m.get("n");
  if (!Number.isSafeInteger(userId) || !Number.isFinite(receivedAt) || !name) return undefined;
  let props: Record<string, unknown>;
  try {
    props = JSON.parse(m.get("p") ?? "{}") as Record<string, unknown>;
  } catch {
    return undefined;
  }
  const e: AnalyticsEvent = { userId, name, props, receivedAt };
  const c = Number(m.get("c"));
  if (m.has("c") && Number.isFinite(c)) e.clientAt = c;
  return e;
}

export class AnalyticsProducer implements AnalyticsSink {
  private readonly redis: Redis;
  private readonly key: string;

  constructor(private readonly opts: { url: string; keyPrefix: string; maxLen: number; log: Logger; connectionName?: string }) {
    this.redis = redisClient(opts.url, opts.connectionName ?? "rift-analytics-producer", opts.log, { autoPipeline: true });
    this.key = analyticsStreamKey(opts.keyPrefix);
  }

  async append(e: AnalyticsEvent): Promise<string> {
    const id = await this.redis.xadd(this.key, "MAXLEN", "~", this.opts.maxLen, "*", ...encodeEntry(e));
    return id!;
  }

  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}

export interface AnalyticsConsumerOptions {
  url: string;
  keyPrefix: string;
  /** Consumer name in the group (the node id; a restarted process may reuse it). */
  consumer: string;
  /** Runs one statement on the global DB (autocommit: resolved = committed). */
  run: SqlRunner;
  log: Logger;
  batchMax: number;
  /** XREADGROUP BLOCK (ms). */
  blockMs: number;
  /** Pending entries idle longer than this are claimed from any consumer. */
  claimIdleMs: number;
  claimEveryMs: number;
  /** Test hook: awaited after the INSERT committed and before the XACK. */
  beforeAck?: (ids: string[]) => Promise<void> | void;
  onStored?: (n: number) => void;
}

type StreamEntry = [id: string, fields: string[]];

export class AnalyticsConsumer {
  private readonly redis: Redis;
  private readonly key: string;
  private stopped = false;
  private loop: Promise<void> | undefined;
  private lastClaim = 0;
  private grouped = false;
  stored = 0;
  batches = 0;
  claimed = 0;

  constructor(private readonly opts: AnalyticsConsumerOptions) {
    this.redis = redisClient(opts.url, `rift-analytics/${opts.consumer}`, opts.log);
    this.key = analyticsStreamKey(opts.keyPrefix);
  }

  /** Create the group (idempotent; retried by the loop while Redis is unreachable), then run the read loop in the background. */
  async start(): Promise<void> {
    await this.ensureGroup().then(() => (this.grouped = true), (e: unknown) => this.opts.log.warn({ err: String(e) }, "analytics consumer: group not created yet (retrying)"));
    this.loop = this.run();
  }

  private async ensureGroup(): Promise<void> {
    try {
      await this.redis.xgroup("CREATE", this.key, ANALYTICS_GROUP, "0", "MKSTREAM");
    } catch (e) {
      if (!String((e as Error).message).includes("BUSYGROUP")) throw e;
    }
  }

  private async run(): Promise<void> {
    let backoff = 100;
    while (!this.stopped) {
      try {
        if (!this.grouped) {
          await this.ensureGroup();
          this.grouped = true;
        }
        if (Date.now() - this.lastClaim >= this.opts.claimEveryMs) {
          this.lastClaim = Date.now();
          await this.claimStale();
        }
        const res = (await this.redis.xreadgroup(
          "GROUP", ANALYTICS_GROUP, this.opts.consumer, "COUNT", this.opts.batchMax, "BLOCK", this.opts.blockMs, "STREAMS", this.key, ">",
        )) as [string, StreamEntry[]][] | null;
        const entries = res?.[0]?.[1] ?? [];
        if (entries.length) await this.store(entries);
        backoff = 100;
      } catch (e) {
        if (this.stopped) return;
        const msg = e instanceof Error ? e.message : String(e);
        if (msg.includes("NOGROUP")) await this.ensureGroup().catch(() => undefined);
        this.opts.log.warn({ err: msg }, "analytics consumer: batch failed (entries stay pending, retried)");
        await new Promise((r) => setTimeout(r, backoff));
        backoff = Math.min(backoff * 2, 5000);
        this.lastClaim = 0; // re-read our own pending entries
      }
    }
  }

  /** Claim and store every pending entry idle ≥ claimIdleMs (ours after a restart, or a dead peer's). */
  private async claimStale(): Promise<void> {
    let cursor = "0-0";
    do {
      const [next, entries] = (await this.redis.xautoclaim(this.key, ANALYTICS_GROUP, this.opts.consumer, this.opts.claimIdleMs, cursor, "COUNT", this.opts.batchMax)) as [string, StreamEntry[], string[]?];
      cursor = next;
      const live = entries.filter((e) => e && e[1]);
      if (live.length) {
        this.claimed += live.length;
        await this.store(live);
      }
    } while (cursor !== "0-0" && !this.stopped);
  }

  private async store(entries: StreamEntry[]): Promise<void> {
    const ids: string[] = [];
    const rows: { id: string; e: AnalyticsEvent }[] = [];
    for (const [id, fields] of entries) {
      ids.push(id);
      const e = decodeEntry(fields);
      if (e) rows.push({ id, e });
      else this.opts.log.warn({ id }, "analytics consumer: malformed entry skipped");
    }
    if (rows.length) {
      await this.opts.run(
        `INSERT INTO analytics_events (stream_id, user_id, name, props, client_at, received_at)
         SELECT i, u, n, p::jsonb, CASE WHEN c IS NULL THEN NULL ELSE to_timestamp(c / 1000.0) END, to_timestamp(r / 1000.0)
           FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::float8[], $6::float8[]) AS x(i, u, n, p, c, r)
         ON CONFLICT (stream_id) DO NOTHING`,
        [rows.map((r) => r.id), rows.map((r) => r.e.userId), rows.map((r) => r.e.name), rows.map((r) => JSON.stringify(r.e.props)), rows.map((r) => r.e.clientAt ?? null), rows.map((r) => r.e.receivedAt)],
      );
    }
    await this.opts.beforeAck?.(ids);
    await this.redis.xack(this.key, ANALYTICS_GROUP, ...ids);
    this.stored += rows.length;
    this.batches++;
    this.opts.onStored?.(rows.length);
  }

  async close(): Promise<void> {
    this.stopped = true;
    this.redis.disconnect(); // breaks a blocking XREADGROUP; unacked entries stay pending
    await this.loop?.catch(() => undefined);
  }
}

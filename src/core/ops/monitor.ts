/**
 * Live monitor (issue #9 item 1): every process writes a small JSON snapshot of itself to
 * Redis every `ops.monitorIntervalMs` under `<keyPrefix>monitor:<role>:<nodeId>` with a TTL
 * of `ops.monitorTtlMs` (SET … PX), so a dead process disappears by itself; a graceful stop
 * deletes its key at once. `opsctl top` reads them all (SCAN + MGET) and prints a table.
 *
 * Each role supplies its numbers through a `MonitorSource`; `metricsSource` builds one from
 * the process's Prometheus registry (windowed p99 from histogram buckets, gauges summed), so a
 * role's main only names its metrics and its CCU function.
 *
 * Publishing never blocks or fails the process: a Redis error is logged (debug) and the next
 * interval tries again.
 */
import { Redis } from "ioredis";
import { z } from "zod";
import type { Logger } from "../log.js";
import { parseJsonAs } from "../json.js";
import type { Registry } from "../metrics.js";
import type { ProcessContext } from "../runtime.js";

/** The numbers a role reports; every field optional except `ccu`. Times in ms, sizes in bytes. */
export interface RoleNumbers {
  /** Connected / hosted users (gateway: client connections; game server: users in its world). */
  ccu: number;
  tickP99Ms?: number;
  queueLength?: number;
  queueConsumeP99Ms?: number;
  sendQueueP99Bytes?: number;
  flushLagMs?: number;
  /** Anything else worth a glance (e.g. coordinator `state: leader`). */
  note?: string;
}

export interface MonitorSource {
  snapshot(): Promise<RoleNumbers> | RoleNumbers;
}

const num = z.number().finite();
export const MonitorSnapshotSchema = z.object({
  role: z.string(),
  node: z.string(),
  version: z.string(),
  colour: z.string(),
  pid: z.number().int(),
  host: z.string(),
  opsPort: z.number().int(),
  /** Wall clock of this snapshot (ms since the epoch). */
  ts: num,
  uptimeSec: num,
  rssBytes: num,
  ccu: num,
  tickP99Ms: num.optional(),
  queueLength: num.optional(),
  queueConsumeP99Ms: num.optional(),
  sendQueueP99Bytes: num.optional(),
  flushLagMs: num.optional(),
  note: z.string().optional(),
});
export type MonitorSnapshot = z.infer<typeof MonitorSnapshotSchema>;

export function monitorKeyPrefix(keyPrefix: string): string {
  return `${keyPrefix}monitor:`;
}

export function monitorKey(keyPrefix: string, role: string, node: string): string {
  return `${monitorKeyPrefix(keyPrefix)}${role}:${node}`;
}

/** Escape Redis glob characters (a key prefix may contain any). */
export function globEscape(s: string): string {
  return s.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}

// ---- windowed quantiles from Prometheus histograms (pure part) ----

/**
 * Quantile `q` of a histogram given ascending bucket upper bounds and CUMULATIVE counts
 * (Prometheus `le` buckets, the last bound may be +Inf): the upper bound of the first bucket
 * reaching q·total (the last finite bound for +Inf); undefined when there are no samples.
 */
export function quantileFromBuckets(bounds: readonly number[], cumulative: readonly number[], q: number): number | undefined {
  const total = cumulative[cumulative.length - 1] ?? 0;
  if (total <= 0) return undefined;
  const want = q * total;
  for (let i = 0; i < bounds.length; i++) {
    if ((cumulative[i] ?? 0) >= want) {
      const b = bounds[i]!;
      if (Number.isFinite(b)) return b;
      for (let j = i - 1; j >= 0; j--) if (Number.isFinite(bounds[j]!)) return bounds[j]!;
      return undefined;
    }
  }
  return undefined;
}

type MetricLike = { get(): Promise<{ values: { value: number; labels: Record<string, string | number>; metricName?: string }[] }> };

/** Buckets of a histogram summed over its label sets: le → cumulative count. */
async function bucketCounts(m: MetricLike): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  for (const v of (await m.get()).values) {
    if (!v.metricName?.endsWith("_bucket")) continue;
    const le = v.labels.le === "+Inf" ? Infinity : Number(v.labels.le);
    out.set(le, (out.get(le) ?? 0) + v.value);
  }
  return out;
}

/** p-quantile of a registry histogram over the window since the previous call (falls back to all-time on the first). */
export class HistogramWindow {
  private prev = new Map<number, number>();
  constructor(
    private readonly registry: Registry,
    private readonly name: string,
  ) {}

  async quantile(q: number): Promise<number | undefined> {
    const m = this.registry.getSingleMetric(this.name) as MetricLike | undefined;
    if (!m) return undefined;
    const now = await bucketCounts(m);
    const bounds = [...now.keys()].sort((a, b) => a - b);
    const delta = bounds.map((b) => Math.max(0, (now.get(b) ?? 0) - (this.prev.get(b) ?? 0)));
    this.prev = now;
    return quantileFromBuckets(bounds, delta, q);
  }
}

async function gaugeSum(registry: Registry, name: string): Promise<number | undefined> {
  const m = registry.getSingleMetric(name) as MetricLike | undefined;
  if (!m) return undefined;
  let sum = 0;
  for (const v of (await m.get()).values) sum += v.value;
  return sum;
}

/** Metric names a role's numbers come from (all optional). Histograms in seconds / bytes, gauges as named. */
export interface MonitorMetricNames {
  tickSeconds?: string;
  queueLength?: string;
  queueConsumeSeconds?: string;
  sendQueueBytes?: string;
  flushLagSeconds?: string;
}

/** The scene-host metrics of a game server whose metric prefix is `prefix` (`rift_field_`, `rift_dungeon_`). */
export function sceneMonitorMetrics(prefix: string): MonitorMetricNames {
  return {
    tickSeconds: `${prefix}tick_duration_seconds`,
    queueLength: `${prefix}packet_queue_length`,
    queueConsumeSeconds: `${prefix}packet_queue_consume_seconds`,
    sendQueueBytes: `${prefix}link_send_queue_bytes_hist`,
    flushLagSeconds: `${prefix}flush_lag_seconds`,
  };
}

export const FIELD_MONITOR_METRICS: MonitorMetricNames = sceneMonitorMetrics("rift_field_");
export const DUNGEON_MONITOR_METRICS: MonitorMetricNames = sceneMonitorMetrics("rift_dungeon_");

export const GATEWAY_MONITOR_METRICS: MonitorMetricNames = { sendQueueBytes: "rift_gateway_send_queue_bytes" };

/** A source reading the process registry: windowed p99s, summed gauges, plus `ccu()` and `note()`. */
export function metricsSource(registry: Registry, names: MonitorMetricNames, ccu: () => number, note?: () => string | undefined): MonitorSource {
  const tick = names.tickSeconds ? new HistogramWindow(registry, names.tickSeconds) : undefined;
  const consume = names.queueConsumeSeconds ? new HistogramWindow(registry, names.queueConsumeSeconds) : undefined;
  const sendq = names.sendQueueBytes ? new HistogramWindow(registry, names.sendQueueBytes) : undefined;
  const ms = (s: number | undefined) => (s === undefined ? undefined : Math.round(s * 1e6) / 1e3);
  return {
    async snapshot() {
      const out: RoleNumbers = { ccu: ccu() };
      const set = <K extends keyof RoleNumbers>(k: K, v: RoleNumbers[K] | undefined) => {
        if (v !== undefined) out[k] = v;
      };
      set("tickP99Ms", ms(await tick?.quantile(0.99)));
      set("queueConsumeP99Ms", ms(await consume?.quantile(0.99)));
      set("sendQueueP99Bytes", await sendq?.quantile(0.99));
      if (names.queueLength) set("queueLength", await gaugeSum(registry, names.queueLength));
      if (names.flushLagSeconds) set("flushLagMs", ms(await gaugeSum(registry, names.flushLagSeconds)));
      const n = note?.();
      if (n) out.note = n;
      return out;
    },
  };
}

// ---- publisher ----

export interface MonitorPublisherOptions {
  url: string;
  keyPrefix: string;
  role: string;
  node: string;
  version: string;
  colour: string;
  host: string;
  opsPort: number;
  intervalMs: number;
  ttlMs: number;
  source: MonitorSource;
  log: Logger;
}

export class MonitorPublisher {
  private readonly redis: Redis;
  private timer: NodeJS.Timeout | undefined;
  private readonly startedAt = Date.now();
  private busy = false;
  readonly key: string;

  constructor(private readonly opts: MonitorPublisherOptions) {
    this.key = monitorKey(opts.keyPrefix, opts.role, opts.node);
    this.redis = new Redis(opts.url, { maxRetriesPerRequest: 1, connectTimeout: 3000, lazyConnect: true, connectionName: "rift-monitor" });
    this.redis.on("error", (err: Error) => opts.log.debug({ err: err.message }, "redis (monitor) error"));
  }

  /** Publish now, then every interval. */
  start(): void {
    this.redis.connect().catch(() => undefined); // retried by ioredis; publish() logs failures
    void this.publish();
    this.timer = setInterval(() => void this.publish(), this.opts.intervalMs);
    this.timer.unref();
  }

  async snapshot(): Promise<MonitorSnapshot> {
    const n = await this.opts.source.snapshot();
    const o = this.opts;
    return {
      role: o.role,
      node: o.node,
      version: o.version,
      colour: o.colour,
      pid: process.pid,
      host: o.host,
      opsPort: o.opsPort,
      ts: Date.now(),
      uptimeSec: Math.round((Date.now() - this.startedAt) / 100) / 10,
      rssBytes: process.memoryUsage.rss(),
      ...n,
    };
  }

  /** One snapshot to Redis (skipped while the previous one is still in flight). */
  async publish(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const s = await this.snapshot();
      await this.redis.set(this.key, JSON.stringify(s), "PX", this.opts.ttlMs);
    } catch (err) {
      this.opts.log.debug({ err: err instanceof Error ? err.message : String(err) }, "monitor: snapshot not published");
    } finally {
      this.busy = false;
    }
  }

  /** Stop publishing and delete the key (a graceful stop disappears at once; `deleteKey=false` leaves it to the TTL, like a crash). */
  async close(deleteKey = true): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    try {
      if (deleteKey && this.redis.status === "ready") await this.redis.del(this.key);
      await this.redis.quit();
    } catch {
      this.redis.disconnect();
    }
  }
}

/** Role wiring: publish this process's snapshot until shutdown. */
export function startMonitor(ctx: ProcessContext, source: MonitorSource): MonitorPublisher {
  const { config } = ctx;
  const pub = new MonitorPublisher({
    url: config.cluster.redis.url,
    keyPrefix: config.cluster.redis.keyPrefix,
    role: ctx.role,
    node: ctx.nodeId,
    version: config.node.version,
    colour: config.node.colour,
    host: config.node.host,
    opsPort: ctx.opsPort,
    intervalMs: config.ops.monitorIntervalMs,
    ttlMs: config.ops.monitorTtlMs,
    source,
    log: ctx.log.child({ component: "monitor" }),
  });
  pub.start();
  ctx.lifecycle.onShutdown("monitor", () => pub.close());
  return pub;
}

// ---- reader (opsctl top) ----

/** Every live snapshot under `keyPrefix` (SCAN + MGET), sorted by role then node; malformed entries skipped. */
export async function readMonitor(redis: Redis, keyPrefix: string): Promise<MonitorSnapshot[]> {
  const match = `${globEscape(monitorKeyPrefix(keyPrefix))}*`;
  const keys: string[] = [];
  let cursor = "0";
  do {
    const [next, batch] = await redis.scan(cursor, "MATCH", match, "COUNT", 500);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== "0");
  if (keys.length === 0) return [];
  const values = await redis.mget(...keys);
  const out: MonitorSnapshot[] = [];
  for (const v of values) {
    const snap = v ? parseJsonAs(MonitorSnapshotSchema, v) : undefined; // a foreign or broken value: skipped
    if (snap) out.push(snap);
  }
  return out.sort((a, b) => a.role.localeCompare(b.role) || a.node.localeCompare(b.node));
}

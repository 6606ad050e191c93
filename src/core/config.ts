/**
 * Configuration: `config/default.yaml`, merged with an optional override file, merged with
 * environment overrides `RIFT__SECTION__KEY=value`, then validated with zod. Unknown keys
 * are errors (a typo must not be silently ignored). See docs/CONFIG.md for every key.
 */
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { RiftError } from "./errors.js";

const port = z.number().int().min(0).max(65535);
const positiveInt = z.number().int().positive();

export const ConfigSchema = z.strictObject({
  cluster: z.strictObject({
    name: z.string().min(1),
    zookeeper: z.strictObject({
      connect: z.string().regex(/^[^,\s]+:\d+(,[^,\s]+:\d+)*$/, "host:port[,host:port...]"),
      root: z.string().regex(/^\/[A-Za-z0-9_\-./]*[A-Za-z0-9_\-]$/, "absolute znode path"),
      sessionTimeoutMs: z.number().int().min(1000).max(60000),
    }),
    redis: z.strictObject({
      url: z.string().regex(/^rediss?:\/\//, "redis:// URL"),
      keyPrefix: z.string(),
    }),
  }),
  db: z.strictObject({
    patroniNamespace: z.string().startsWith("/"),
    /** ZooKeeper of Patroni's DCS when it is not the cluster's own ("" = cluster.zookeeper.connect). */
    dcsConnect: z.string(),
    globalScope: z.string().min(1),
    shardScopes: z.array(z.string().min(1)).min(1),
    database: z.string().regex(/^[a-z_][a-z0-9_]*$/, "lower-case SQL identifier"),
    user: z.string().min(1),
    poolSize: positiveInt.max(100),
  }),
  node: z.strictObject({
    id: z.string(),
    host: z.string().min(1),
    colour: z.string().min(1),
    version: z.string().min(1),
  }),
  ops: z.strictObject({
    port,
    /** Live monitor: period of this process's snapshot in Redis (`<keyPrefix>monitor:<role>:<node>`). */
    monitorIntervalMs: z.number().int().min(100).max(60_000),
    /** Live monitor: TTL of the snapshot key (a dead process disappears after this). */
    monitorTtlMs: z.number().int().min(200).max(600_000),
    /** Feature switches and flags: period of the full reload from the global DB (pub/sub carries changes in between; 0 = never). */
    reconcileMs: z.number().int().min(0),
    /** Game log (table game_log, daily partitions): days of full partitions kept besides today; older ones are detached and dropped. */
    logRetentionDays: z.number().int().min(1).max(3650),
    /** Game log: partitions created ahead of today (today … today+N). */
    logPartitionsAhead: z.number().int().min(1).max(60),
    /** Game log: period of the partition maintenance (coordinators, advisory-locked). */
    logMaintenanceMs: z.number().int().min(1000),
    /** Game log writer: flush period of the in-memory buffer (one multi-row INSERT). */
    logFlushMs: z.number().int().min(10).max(60_000),
    /** Game log writer: buffer bound; when full the oldest row is dropped (rift_game_log_dropped_total). */
    logBufferMax: z.number().int().min(10),
    /** Client analytics: approximate max length of the Redis Stream <keyPrefix>analytics (XADD MAXLEN ~). */
    analyticsMaxLen: z.number().int().min(100),
    /** Client analytics consumer (coordinators): entries per XREADGROUP / INSERT batch. */
    analyticsBatchMax: z.number().int().min(1).max(10_000),
    /** Client analytics consumer: pending entries idle this long are claimed (XAUTOCLAIM) from a dead consumer. */
    analyticsClaimIdleMs: z.number().int().min(100),
  }),
  log: z.strictObject({
    level: z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]),
    pretty: z.boolean(),
  }),
  shutdown: z.strictObject({ deadlineMs: positiveInt }),
  auth: z.strictObject({
    tokenSecret: z.string().min(16),
    tokenTtlSec: positiveInt,
  }),
  gateway: z.strictObject({
    port,
    maxPayloadBytes: z.number().int().min(4096).max(65536),
    handshakeTimeoutMs: positiveInt,
    rateLimit: z.strictObject({ messagesPerSec: positiveInt, burst: positiveInt }),
    sendQueue: z.strictObject({ maxMessages: positiveInt, maxBytes: positiveInt }),
    /** Zone of brand-new users; "" = the first of `field.zones`. */
    startZone: z.string().max(32),
    /** How long a user may wait for a server for its zone (login or after a server loss). */
    reattachTimeoutMs: positiveInt,
    /** Batch window of client inputs on a link (ms). */
    linkFlushMs: z.number().int().min(1).max(100),
    /** After a close frame, drop the TCP connection if the client has not closed within this. */
    closeGraceMs: positiveInt,
    /** A zone placed elsewhere while its old server is alive: wait this long for the old server's hand-over, then force it. */
    handoverTimeoutMs: positiveInt,
    /** External shop catalogue service, called through a circuit breaker (src/gateway/shop-catalog.ts). */
    shopCatalog: z.strictObject({
      /** `GET` URL of the service; "" = the built-in catalogue (no external call). */
      url: z.string().max(2048).refine((u) => u === "" || /^https?:\/\//.test(u), "must be empty or an http(s) URL"),
      timeoutMs: positiveInt,
      /** Reuse a successful answer this long (0 = ask on every request). */
      cacheMs: z.number().int().min(0),
      errorThresholdPercentage: z.number().min(0).max(100),
      volumeThreshold: z.number().int().min(0),
      resetTimeoutMs: positiveInt,
    }),
  }),
  field: z.strictObject({
    linkPort: port,
    ioWorkers: z.number().int().min(0).max(16),
    tickHz: z.number().int().min(1).max(120),
    packetQueueCap: positiveInt,
    zones: z.array(z.string().regex(/^[A-Za-z0-9_-]{1,32}$/, "zone names are 1-32 chars [A-Za-z0-9_-]")),
    flushIntervalMs: positiveInt,
    worldSize: positiveInt,
    aoiCellSize: positiveInt,
    maxSpeed: z.number().positive(),
    movesPerSec: z.number().positive(),
    moveBurst: z.number().min(1),
    linkMaxFrameBytes: z.number().int().min(65536).max(16777216),
    linkSendQueueMaxBytes: positiveInt,
    flushBatchMax: positiveInt,
    /** Disconnect (PERSIST_UNAVAILABLE) a user whose state could not be saved for this long (bounded write-behind buffer). */
    maxFlushLagMs: positiveInt,
    maxAttachesInFlight: positiveInt,
    overflowKickDrops: positiveInt,
    overflowWindowMs: positiveInt,
    /** Graceful drain (SIGTERM / opsctl drain): max wait for the coordinator to move our zones and users away. */
    drainTimeoutMs: positiveInt,
    /** Exception isolation: a user whose requests fault this often within faultWindowMs is disconnected (HANDLER_CRASH_LOOP). */
    maxFaults: positiveInt,
    faultWindowMs: positiveInt,
    /** Ops API `POST /debug/fault` (make a user's next requests throw): drills and tests only. */
    faultInjection: z.boolean(),
  }),
  /**
   * Dungeon servers (issue #7): the role-specific part. The scene runtime settings they share
   * with field servers (tick rate, packet queue, write-behind, fault isolation) come from `field`.
   */
  dungeon: z.strictObject({
    /** First link port (one per IO worker; 0 = any free ports). */
    linkPort: port,
    ioWorkers: z.number().int().min(0).max(16),
    /** Side of the square map of every instance, and its AOI cell size. */
    worldSize: positiveInt,
    aoiCellSize: positiveInt,
    /** An instance nobody entered within this long is destroyed. */
    entryTimeoutMs: positiveInt,
    /** An instance without any input for this long sends its party home and is destroyed. */
    idleMs: positiveInt,
    /** Graceful drain: max wait for running instances to end before their parties are sent home. */
    drainTimeoutMs: positiveInt,
    /** Field side: all members of a party must ask (`dungeonEnter`) within this long. */
    partyFormMs: positiveInt,
    /** Field side: max wait for the coordinator to place a requested instance (then RIFT_DUNGEON_UNAVAILABLE). */
    placeTimeoutMs: positiveInt,
  }),
  chat: z.strictObject({
    /** Port of the chat server's gateway-link WebSocket server (0 = any free port). */
    linkPort: port,
    /** Chat server → gateway flush period: one grouped frame per gateway per flush (ms). */
    flushMs: z.number().int().min(1).max(1000),
    /** `grouped` (one op per channel per gateway per flush) or `naive` (one op per message per recipient: benchmark baseline). */
    fanout: z.enum(["grouped", "naive"]),
    /** Messages of history kept per channel and sent on join (0 = none). */
    historySize: z.number().int().min(0).max(1000),
    /** Keep channel history in Redis too, so it survives a chat-server failover. */
    persistHistory: z.boolean(),
    /** Max characters of one chat message (longer: CHAT_TOO_LONG reply). */
    maxLength: z.number().int().min(1).max(1000),
    /** Per-user chat message rate (token bucket at the gateway; beyond: CHAT_RATE_LIMITED reply). */
    rateLimit: z.strictObject({ messagesPerSec: z.number().positive(), burst: z.number().min(1) }),
    /** Party/guild channels one user may be in at once. */
    maxJoinedChannels: z.number().int().min(1).max(256),
    /** Period of the full reload of mutes and bans from Redis (pub/sub carries changes in between). */
    moderationReloadMs: positiveInt,
  }),
  coordinator: z.strictObject({
    /** A field server absent from membership this long loses its zones (a short ZooKeeper hiccup never moves zones). */
    reassignGraceMs: z.number().int().min(0),
    /** Period of the leader's reconcile pass (grace expiry, drain cleanup). */
    reconcileMs: positiveInt,
    /** Users per channel of a zone before another channel opens (0 = one channel per zone). */
    channelCapacity: z.number().int().min(0),
    /** An empty extra channel is closed once it has existed this long. */
    channelIdleMs: positiveInt,
  }),
});

export type Config = z.infer<typeof ConfigSchema>;

export const ROLES = ["gateway", "field", "dungeon", "chat", "coordinator"] as const;
export type Role = (typeof ROLES)[number];

export function isRole(s: string): s is Role {
  return (ROLES as readonly string[]).includes(s);
}

const here = dirname(fileURLToPath(import.meta.url));
export const DEFAULT_CONFIG_FILE = resolve(here, "../../config/default.yaml");

type Tree = Record<string, unknown>;

function isTree(v: unknown): v is Tree {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Deep merge: objects merge key by key, everything else (arrays included) is replaced. */
export function deepMerge(base: Tree, over: Tree): Tree {
  const out: Tree = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] = isTree(b) && isTree(v) ? deepMerge(b, v) : v;
  }
  return out;
}

function readYamlFile(file: string): Tree {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new RiftError("CONFIG_FILE", `${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    throw new RiftError("CONFIG_FILE", `${file}: YAML: ${(e as Error).message.split("\n")[0]}`);
  }
  if (doc === null || doc === undefined) return {};
  if (!isTree(doc)) throw new RiftError("CONFIG_FILE", `${file}: top level must be a mapping`);
  return doc;
}

/**
 * Environment overrides: `RIFT__GATEWAY__PORT=7100` sets `gateway.port`. Path segments match
 * existing keys case-insensitively (so `RIFT__CLUSTER__ZOOKEEPER__SESSIONTIMEOUTMS` works);
 * values are parsed as YAML scalars/flow values (`7100` → number, `[a,b]` → array).
 */
export function envOverrides(env: NodeJS.ProcessEnv, shape: Tree): Tree {
  const out: Tree = {};
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith("RIFT__") || raw === undefined) continue;
    const segs = name.slice("RIFT__".length).split("__");
    let target = out;
    let known: unknown = shape;
    const path: string[] = [];
    for (let i = 0; i < segs.length; i++) {
      const seg = segs[i]!;
      const match = isTree(known) ? Object.keys(known).find((k) => k.toLowerCase() === seg.toLowerCase()) : undefined;
      if (!match) throw new RiftError("CONFIG_INVALID", `environment ${name}: unknown key ${[...path, seg.toLowerCase()].join(".")}`);
      path.push(match);
      known = isTree(known) ? known[match] : undefined;
      if (i === segs.length - 1) {
        target[match] = parseYaml(raw);
      } else {
        const next = isTree(target[match]) ? (target[match] as Tree) : {};
        target[match] = next;
        target = next;
      }
    }
  }
  return out;
}

function formatIssue(issue: z.core.$ZodIssue): string {
  const path = issue.path.join(".");
  if (issue.code === "unrecognized_keys") {
    const keys = issue.keys.map((k) => (path ? `${path}.${k}` : k));
    return `unknown key ${keys.join(", ")}`;
  }
  if (issue.code === "invalid_type" && issue.message.includes("received undefined")) {
    return `missing key ${path}`;
  }
  return `${path || "(root)"}: ${issue.message}`;
}

export interface LoadConfigOptions {
  /** Override file merged on top of the defaults. */
  file?: string;
  /** Environment to read RIFT__* overrides from (default: process.env). */
  env?: NodeJS.ProcessEnv;
  /** Extra overrides applied last (used by tests and the launcher). */
  overrides?: Tree;
}

/** Load, merge and validate. Throws RiftError(CONFIG_INVALID | CONFIG_FILE) with one clear line. */
export function loadConfig(opts: LoadConfigOptions = {}): Config {
  const base = readYamlFile(DEFAULT_CONFIG_FILE);
  let merged = base;
  if (opts.file) merged = deepMerge(merged, readYamlFile(opts.file));
  merged = deepMerge(merged, envOverrides(opts.env ?? process.env, base));
  if (opts.overrides) merged = deepMerge(merged, opts.overrides);
  return validateConfig(merged);
}

export function validateConfig(raw: unknown): Config {
  const r = ConfigSchema.safeParse(raw);
  if (!r.success) {
    const first = r.error.issues[0]!;
    const more = r.error.issues.length > 1 ? ` (+${r.error.issues.length - 1} more)` : "";
    throw new RiftError("CONFIG_INVALID", formatIssue(first) + more);
  }
  return r.data;
}

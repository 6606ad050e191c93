/**
 * Management push events (issue #9 item 5) and feature-flag changes (item 6): the wire
 * schema, the durable store and the Redis pub/sub bus.
 *
 * Durable state = Postgres (global database, tables `ops_switches` and `ops_flags`, GLOBAL
 * migration 3). Redis runs without persistence here (`--save '' --appendonly no`), so a
 * switch kept only in Redis would silently turn back on after a Redis restart; the global DB
 * is replicated and failed over by Patroni. Redis carries only the notifications.
 *
 * Delivery (same pattern as src/shard/mapping-bus.ts): pub/sub on `<keyPrefix>events` is
 * at-most-once. The writer stores first, then publishes; a subscriber delivers `{kind:
 * "resync"}` after any gap (its Redis connection came back), and the follower (state.ts)
 * then reloads the whole state from Postgres. `announce` and `kick` are transient: they are
 * not stored (a process that missed them while disconnected does not replay them).
 *
 * Contract of OpsBus:
 * - `publish(e)` resolves once Redis took the message (with the number of subscribed
 *   processes), or rejects with DEPENDENCY_UNAVAILABLE after a bounded wait;
 * - `subscribe(fn)` delivers every valid event published after the subscription is live, plus
 *   `{kind: "resync"}` after a reconnect; malformed messages are logged and dropped.
 */
import { z } from "zod";
import type { Logger } from "../log.js";
import { GAP, RedisChannel } from "../redis-channel.js";
import { parseJsonAs } from "../json.js";
import { emptySnapshot, FlagNameSchema, FlagScopeSchema, FlagValueSchema, type OpsSnapshot } from "./flags.js";

export const OpsEventSchema = z.discriminatedUnion("kind", [
  /** A feature switch (`opsctl event shop off|on`). Durable. */
  z.strictObject({ kind: z.literal("switch"), name: FlagNameSchema, enabled: z.boolean() }),
  /** One rule of a flag set (value) or removed (null). Durable. */
  z.strictObject({ kind: z.literal("flag"), name: FlagNameSchema, scope: FlagScopeSchema, value: FlagValueSchema.nullable() }),
  /** A whole flag removed (every scope). Durable. */
  z.strictObject({ kind: z.literal("flagRemoved"), name: FlagNameSchema }),
  /** A system message to every connected client. Transient. */
  z.strictObject({ kind: z.literal("announce"), text: z.string().min(1).max(1000) }),
  /** Close this user's connection (KICKED). Transient. */
  z.strictObject({ kind: z.literal("kick"), userId: z.number().int().positive(), reason: z.string().max(100).optional() }),
]);

export type OpsEvent = z.infer<typeof OpsEventSchema>;
/** What subscribers receive: an event, or "reload everything" after a gap. */
export type OpsDelivery = OpsEvent | { kind: "resync" };

/** Parse a bus message; undefined when malformed. Pure. */
export function parseOpsEvent(raw: string): OpsEvent | undefined {
  return parseJsonAs(OpsEventSchema, raw);
}

/** Apply a durable event to a snapshot (pure; returns a new snapshot, transient events leave it as is). */
export function applyOpsEvent(s: OpsSnapshot, e: OpsEvent): OpsSnapshot {
  switch (e.kind) {
    case "switch":
      return { ...s, switches: { ...s.switches, [e.name]: e.enabled } };
    case "flag": {
      const rules = { ...(s.flags[e.name] ?? {}) };
      if (e.value === null) delete rules[e.scope];
      else rules[e.scope] = e.value;
      const flags = { ...s.flags };
      if (Object.keys(rules).length === 0) delete flags[e.name];
      else flags[e.name] = rules;
      return { ...s, flags };
    }
    case "flagRemoved": {
      const flags = { ...s.flags };
      delete flags[e.name];
      return { ...s, flags };
    }
    default:
      return s;
  }
}

// ---- durable store ----

/** Where switches and flags live. `load` is the whole state; writers change one row. */
export interface OpsStore {
  load(): Promise<OpsSnapshot>;
  /** Store a durable event (switch / flag / flagRemoved); transient events are ignored. */
  apply(e: OpsEvent): Promise<void>;
}

/** Runs one statement on the global database (e.g. `(sql, p) => router.query(globalScope, sql, p, { idempotent: true })`). */
export type SqlRunner = (sql: string, params: unknown[]) => Promise<{ rows: Record<string, unknown>[] }>;

/** Postgres store on the global DB (tables of GLOBAL migration 3). Every statement is idempotent. */
export class PgOpsStore implements OpsStore {
  constructor(private readonly run: SqlRunner) {}

  async load(): Promise<OpsSnapshot> {
    const s = emptySnapshot();
    const sw = await this.run("SELECT name, enabled FROM ops_switches", []);
    for (const r of sw.rows) s.switches[String(r.name)] = r.enabled === true;
    const fl = await this.run("SELECT name, scope, value FROM ops_flags ORDER BY name, scope", []);
    for (const r of fl.rows) (s.flags[String(r.name)] ??= {})[String(r.scope)] = String(r.value);
    return s;
  }

  async apply(e: OpsEvent): Promise<void> {
    switch (e.kind) {
      case "switch":
        await this.run(
          "INSERT INTO ops_switches (name, enabled, updated_at) VALUES ($1, $2, now()) ON CONFLICT (name) DO UPDATE SET enabled = EXCLUDED.enabled, updated_at = now()",
          [e.name, e.enabled],
        );
        return;
      case "flag":
        if (e.value === null) await this.run("DELETE FROM ops_flags WHERE name = $1 AND scope = $2", [e.name, e.scope]);
        else
          await this.run(
            "INSERT INTO ops_flags (name, scope, value, updated_at) VALUES ($1, $2, $3, now()) ON CONFLICT (name, scope) DO UPDATE SET value = EXCLUDED.value, updated_at = now()",
            [e.name, e.scope, e.value],
          );
        return;
      case "flagRemoved":
        await this.run("DELETE FROM ops_flags WHERE name = $1", [e.name]);
        return;
      default:
        return;
    }
  }
}

/** In-memory store (unit tests). */
export class MemoryOpsStore implements OpsStore {
  state: OpsSnapshot = emptySnapshot();
  async load(): Promise<OpsSnapshot> {
    return structuredClone(this.state);
  }
  async apply(e: OpsEvent): Promise<void> {
    this.state = applyOpsEvent(this.state, e);
  }
}

// ---- bus ----

export interface OpsBus {
  publish(e: OpsEvent): Promise<number>;
  subscribe(fn: (d: OpsDelivery) => void): () => void;
  close(): Promise<void>;
}

/** In-process bus (unit tests): every bus made from one hub sees the others' events. */
export class MemoryOpsHub {
  private readonly subs = new Set<(d: OpsDelivery) => void>();
  bus(): OpsBus {
    const mine = new Set<(d: OpsDelivery) => void>();
    return {
      publish: async (e) => {
        const fns = [...this.subs];
        for (const fn of fns) fn(e);
        return fns.length;
      },
      subscribe: (fn) => {
        this.subs.add(fn);
        mine.add(fn);
        return () => (this.subs.delete(fn), mine.delete(fn));
      },
      close: async () => {
        for (const fn of mine) this.subs.delete(fn);
        mine.clear();
      },
    };
  }
  /** Simulate a reconnect of every subscriber. */
  resync(): void {
    for (const fn of [...this.subs]) fn({ kind: "resync" });
  }
}

export interface RedisOpsBusOptions {
  url: string;
  /** `cluster.redis.keyPrefix`; the channel is `<prefix>events`. */
  keyPrefix: string;
  log: Logger;
  publishTimeoutMs?: number;
  connectionName?: string;
}

export function opsChannel(keyPrefix: string): string {
  return `${keyPrefix}events`;
}

/** The ops event bus over one Redis pub/sub channel (core/redis-channel.ts); a gap → `{kind: "resync"}`. */
export class RedisOpsBus implements OpsBus {
  private readonly ch: RedisChannel<OpsEvent>;

  constructor(opts: RedisOpsBusOptions) {
    this.ch = new RedisChannel<OpsEvent>({
      url: opts.url,
      channel: opsChannel(opts.keyPrefix),
      parse: parseOpsEvent,
      log: opts.log,
      what: "ops event bus",
      connectionName: opts.connectionName ?? "rift-ops-events",
      ...(opts.publishTimeoutMs !== undefined ? { publishTimeoutMs: opts.publishTimeoutMs } : {}),
    });
  }

  get channel(): string {
    return this.ch.channel;
  }

  publish(e: OpsEvent): Promise<number> {
    return this.ch.publish(e);
  }

  subscribe(fn: (d: OpsDelivery) => void): () => void {
    return this.ch.subscribe((d) => fn(d === GAP ? { kind: "resync" } : d));
  }

  /** Resolves when the subscription is live (tests and start-up ordering). */
  ready(): Promise<void> {
    return this.ch.ready();
  }

  close(): Promise<void> {
    return this.ch.close();
  }
}

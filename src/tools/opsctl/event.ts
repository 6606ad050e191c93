/**
 * `opsctl event <name> [payload…]`: management push events (issue #9 item 5).
 *
 *   event shop off|on                 switch the shop off / on (durable)
 *   event switch <feature> off|on     the same for any feature name (durable)
 *   event announce <text…>            system notice to every connected client (transient)
 *   event kick <userId> [reason…]     close that user's connection with RIFT_KICKED (transient)
 *
 * Durable events are written to the global Postgres DB first (tables `ops_switches`,
 * `ops_flags`), then published on Redis `<keyPrefix>events`; every process applies them
 * within milliseconds and reloads the whole state on start, on Redis reconnect and every
 * `ops.reconcileMs`. The output names how many processes were subscribed (received it).
 * Exit status: 0; 1 when a transient event reached no process; 2 usage / unreachable Redis or DB.
 */
import type { Config } from "../../core/config.js";
import { RiftError } from "../../core/errors.js";
import { createLogger } from "../../core/log.js";
import { PgOpsStore, RedisOpsBus, type OpsBus, type OpsEvent, type OpsStore } from "../../core/ops/events.js";
import { FLAG_NAME } from "../../core/ops/flags.js";
import { createDataLayer } from "../../shard/data-layer.js";
import { applyMigrations, GLOBAL_MIGRATIONS } from "../../shard/migrations.js";
import type { Output } from "./context.js";

/** The event of `opsctl event <name> <args…>` (pure; RiftError USAGE when invalid). */
export function parseEvent(name: string, args: readonly string[]): OpsEvent {
  const onOff = (v: string | undefined, what: string): boolean => {
    const s = (v ?? "").toLowerCase();
    if (s === "on") return true;
    if (s === "off") return false;
    throw new RiftError("USAGE", `${what}: expected on or off (got ${JSON.stringify(v ?? "")})`);
  };
  switch (name) {
    case "shop":
      if (args.length !== 1) throw new RiftError("USAGE", "usage: event shop off|on");
      return { kind: "switch", name: "shop", enabled: onOff(args[0], "shop") };
    case "switch": {
      const [feature, v, ...rest] = args;
      if (!feature || !FLAG_NAME.test(feature) || rest.length) throw new RiftError("USAGE", "usage: event switch <feature> off|on (feature: lower-case [a-z0-9_.-])");
      return { kind: "switch", name: feature, enabled: onOff(v, feature) };
    }
    case "announce": {
      const text = args.join(" ").trim();
      if (!text || text.length > 1000) throw new RiftError("USAGE", "announce: the text must be 1-1000 characters");
      return { kind: "announce", text };
    }
    case "kick": {
      const [id, ...reason] = args;
      const userId = Number(id);
      if (!id || !/^\d+$/.test(id) || !Number.isSafeInteger(userId) || userId < 1) throw new RiftError("USAGE", `kick: ${JSON.stringify(id ?? "")} is not a user id (a positive integer)`);
      const r = reason.join(" ").trim().slice(0, 100);
      return r ? { kind: "kick", userId, reason: r } : { kind: "kick", userId };
    }
    default:
      throw new RiftError("USAGE", `unknown event ${JSON.stringify(name)} (shop, switch, announce, kick)`);
  }
}

export function isDurable(e: OpsEvent): boolean {
  return e.kind === "switch" || e.kind === "flag" || e.kind === "flagRemoved";
}

export interface OpsTools {
  store: OpsStore;
  bus: OpsBus;
  close(): Promise<void>;
}

/** Store (global DB, migrated if needed) + bus for opsctl `event` / `flag`. */
export async function openOpsTools(config: Config, opts: { database?: string } = {}): Promise<OpsTools> {
  const log = createLogger({ level: "warn", role: "opsctl" });
  const data = createDataLayer({ config, log, client: "opsctl", ...(opts.database ? { database: opts.database } : {}) });
  const scope = config.db.globalScope;
  const bus = new RedisOpsBus({ url: config.cluster.redis.url, keyPrefix: config.cluster.redis.keyPrefix, log, connectionName: "rift-opsctl" });
  const close = async () => {
    await bus.close();
    await data.close();
  };
  try {
    // additive and advisory-locked: safe while the cluster runs (an older cluster gets the ops tables)
    await data.router.transaction(scope, (tx) => applyMigrations(tx, GLOBAL_MIGRATIONS, log), { idempotent: true });
  } catch (e) {
    await close();
    throw new RiftError("DEPENDENCY_UNAVAILABLE", `global database (${scope}): ${e instanceof Error ? e.message : String(e)}`);
  }
  const store = new PgOpsStore((sql, p) => data.router.query(scope, sql, p, { idempotent: true }));
  return { store, bus, close };
}

/** Store (durable events) then publish; returns the number of processes that received it. */
export async function sendEvent(tools: Pick<OpsTools, "store" | "bus">, e: OpsEvent): Promise<number> {
  if (isDurable(e)) await tools.store.apply(e);
  return tools.bus.publish(e);
}

function describe(e: OpsEvent): string {
  switch (e.kind) {
    case "switch":
      return `${e.name} switched ${e.enabled ? "on" : "off"}`;
    case "announce":
      return "announcement sent";
    case "kick":
      return `kick of user ${e.userId} sent`;
    case "flag":
      return `flag ${e.name}${e.scope === "*" ? "" : ` (role ${e.scope})`} ${e.value === null ? "rule removed" : `set to ${e.value}`}`;
    case "flagRemoved":
      return `flag ${e.name} removed`;
  }
}

/** Run one event: prints one line (or JSON). Exit 1 when a transient event reached no process. */
export async function runEvent(tools: Pick<OpsTools, "store" | "bus">, e: OpsEvent, io: Output, json: boolean): Promise<number> {
  const receivers = await sendEvent(tools, e);
  if (json) io.out(JSON.stringify({ event: e, durable: isDurable(e), processes: receivers }));
  else io.out(`${describe(e)} (${receivers} process${receivers === 1 ? "" : "es"} notified${isDurable(e) ? "; stored in the global DB" : ""})`);
  return !isDurable(e) && receivers === 0 ? 1 : 0;
}

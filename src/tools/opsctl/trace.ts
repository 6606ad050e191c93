/**
 * `opsctl trace user <id> [--since 24h] [--limit N] [--json]` — a user's trail (issue #7 item
 * 6): where the user is now (shard, zone, position, owning server, owner epoch) and its
 * significant actions from the game log — logins and logouts (gateway, reason), transfers
 * between zones/servers, trades, admin actions about it, and handler errors with their trace
 * (message type, error, first stack line, what the server did) — oldest first.
 * Exit status: 0 (also when the trail is empty); 2 usage / unreachable DB.
 */
import type { Config } from "../../core/config.js";
import { createLogger } from "../../core/log.js";
import { parseSince, queryGameLog, type GameLogEntry } from "../../core/ops/game-log.js";
import { RiftError } from "../../core/errors.js";
import { createDataLayer } from "../../shard/data-layer.js";
import type { Output } from "./context.js";
import { openGlobalDb } from "./logs.js";

export interface TraceOptions {
  since: string;
  limit: number;
  json?: boolean;
}

/** One line of the trail (pure). */
export function traceLine(e: GameLogEntry): string {
  const d = (e.detail ?? {}) as Record<string, unknown>;
  const s = (k: string) => (d[k] === undefined ? "" : String(d[k]));
  let what: string;
  switch (e.kind) {
    case "login":
      what = `login via ${s("gateway")}${d.zone ? ` into ${s("zone")}` : ""}`;
      break;
    case "logout":
      what = `logout from ${s("gateway")}${d.reason ? ` (${s("reason")})` : ""}`;
      break;
    case "transfer":
      what = `transfer ${s("from")} → ${s("to")}${d.server ? ` (from server ${s("server")})` : ""}`;
      break;
    case "error":
      what = `ERROR in '${s("type")}' at tick ${s("tick")}: ${s("error")} — ${s("action") === "kick" ? "disconnected (crash loop)" : "moved to the safe spot"}; ${String(s("stack").split("\n")[1] ?? "").trim()}`;
      break;
    default:
      what = `${e.kind} ${JSON.stringify(d)}`;
  }
  return `${e.at}  ${e.node.padEnd(18)} ${what}`;
}

export async function runTraceUser(config: Config, userId: number, o: TraceOptions, io: Output, now = Date.now()): Promise<number> {
  if (!Number.isSafeInteger(userId) || userId <= 0) throw new RiftError("USAGE", `user id must be a positive integer (got ${userId})`);
  let since: number;
  try {
    since = parseSince(o.since, now);
  } catch (e) {
    throw new RiftError("USAGE", `--since: ${(e as Error).message}`);
  }
  const db = await openGlobalDb(config);
  const data = createDataLayer({ config, log: createLogger({ level: "warn", role: "opsctl" }), client: "opsctl" });
  try {
    const entries = (await queryGameLog(db.run, { userId, since, limit: o.limit })).reverse();
    const shard = (await data.shardMap.readMappings([userId])).get(userId);
    const row = shard ? await data.players.load(userId) : undefined;
    const where = row ? { shard, ...row.state, owner: row.owner, epoch: row.epoch } : shard ? { shard } : null;
    if (o.json) {
      io.out(JSON.stringify({ user: userId, since: new Date(since).toISOString(), now: where, trail: entries }));
      return 0;
    }
    if (!where) io.out(`user ${userId}: no such user (no shard mapping)`);
    else if (!row) io.out(`user ${userId}: on ${shard}, no player row yet (never entered the game)`);
    else io.out(`user ${userId} '${row.state.name}': shard ${shard}, zone ${row.state.zone} at (${row.state.x}, ${row.state.y}), hp ${row.state.hp}, owner ${row.owner ?? "-"} (epoch ${row.epoch})`);
    io.out(entries.length === 0 ? `no game-log entries since ${new Date(since).toISOString()}` : `${entries.length} event(s) since ${new Date(since).toISOString()}:`);
    for (const e of entries) io.out(`  ${traceLine(e)}`);
    return 0;
  } finally {
    await data.close();
    await db.close();
  }
}

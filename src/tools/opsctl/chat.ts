/**
 * `opsctl chat …`: chat moderation and announcements (docs/CHAT.md §Moderation).
 *
 *   chat announce <text…>                 system notice to everyone online (world channel)
 *   chat mute <user> [--minutes N]        the user's posts are refused with RIFT_CHAT_MUTED (default 10 min)
 *   chat unmute <user>
 *   chat ban <user> / chat unban <user>   banned users can neither post (RIFT_CHAT_BANNED) nor join channels
 *
 * Users are named by their account name (case-insensitive). The change is stored in Redis
 * (`<keyPrefix>chat:mutes` / `chat:bans`) and published on `<keyPrefix>chat:events`, which
 * every chat server applies at once; the output says how many chat servers received it.
 * Redis comes from the configuration (cluster.redis.url + keyPrefix, --config, RIFT__*), then
 * `--redis` / `--prefix`; without any, the local cluster of `npm start` when it exists.
 */
import { Redis } from "ioredis";
import { loadConfig } from "../../core/config.js";
import { RiftError } from "../../core/errors.js";
import type { ModerationEvent } from "../../chat-server/moderation.js";
import { publishModeration } from "../../chat-server/redis.js";
import { readState } from "../infra/state.js";
import { LOCAL_INFRA_DIR, type Output } from "./context.js";

export interface ChatTargetOptions {
  config?: string;
  redis?: string;
  prefix?: string;
}

export function resolveRedis(o: ChatTargetOptions, env: NodeJS.ProcessEnv = process.env, localInfraDir: string | undefined = LOCAL_INFRA_DIR): { url: string; prefix: string } {
  if (o.redis !== undefined && !/^rediss?:\/\//.test(o.redis)) throw new RiftError("USAGE", `--redis ${JSON.stringify(o.redis)}: expected a redis:// URL`);
  const config = loadConfig({ ...(o.config ? { file: o.config } : {}), env });
  const explicit = o.redis !== undefined || o.config !== undefined || env.RIFT__CLUSTER__REDIS__URL !== undefined;
  let local: string | undefined;
  if (!explicit && localInfraDir) {
    try {
      local = readState(localInfraDir)?.redis.url;
    } catch {
      local = undefined;
    }
  }
  return { url: o.redis ?? local ?? config.cluster.redis.url, prefix: o.prefix ?? config.cluster.redis.keyPrefix };
}

const USER = /^[A-Za-z0-9_]{3,24}$/;

/** Build the event of a chat subcommand (pure). */
export function chatEvent(cmd: "announce" | "mute" | "unmute" | "ban" | "unban", arg: string, minutes: number, now: number): ModerationEvent {
  if (cmd === "announce") {
    const text = arg.trim();
    if (!text || text.length > 1000) throw new RiftError("USAGE", "announce: the text must be 1-1000 characters");
    return { op: "announce", text };
  }
  if (!USER.test(arg)) throw new RiftError("USAGE", `${cmd}: ${JSON.stringify(arg)} is not a user name (3-24 characters [A-Za-z0-9_])`);
  const name = arg.toLowerCase();
  if (cmd === "mute") {
    if (!Number.isFinite(minutes) || minutes <= 0 || minutes > 525_600) throw new RiftError("USAGE", "--minutes must be in (0, 525600]");
    return { op: "mute", name, until: now + Math.round(minutes * 60_000) };
  }
  return { op: cmd, name };
}

function describe(e: ModerationEvent): string {
  switch (e.op) {
    case "announce":
      return "announcement sent";
    case "mute":
      return `muted ${e.name} until ${new Date(e.until).toISOString()}`;
    default:
      return `${e.op === "unmute" ? "unmuted" : e.op === "ban" ? "banned" : "unbanned"} ${e.name}`;
  }
}

/** Store + publish; prints one line (or JSON). Exit 0; 1 when no chat server received it (it still applies on their next reload/start). */
export async function runChat(target: { url: string; prefix: string }, e: ModerationEvent, io: Output, json: boolean): Promise<number> {
  const redis = new Redis(target.url, { lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 5000, retryStrategy: () => null });
  redis.on("error", () => undefined);
  try {
    await redis.connect();
  } catch (err) {
    throw new RiftError("DEPENDENCY_UNAVAILABLE", `cannot reach Redis at ${target.url}: ${err instanceof Error ? err.message : String(err)}`);
  }
  try {
    const receivers = await publishModeration(redis, target.prefix, e);
    if (json) io.out(JSON.stringify({ event: e, chatServers: receivers }));
    else io.out(`${describe(e)} (${receivers} chat server${receivers === 1 ? "" : "s"} notified)`);
    return e.op === "announce" && receivers === 0 ? 1 : 0;
  } finally {
    redis.disconnect();
  }
}

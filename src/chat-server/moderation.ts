/**
 * Chat moderation (pure): mutes (until a time) and bans by user name (case-insensitive), the
 * operator events that change them, and the pluggable message filter hook.
 *
 * The truth lives in Redis (redis.ts: hashes written by `opsctl chat …`, change events on
 * pub/sub); every chat server holds this in-memory copy so the per-message check is a map
 * lookup — no Redis round trip on the hot path (DESIGN §8).
 */
import type { ErrorKey } from "../core/errors.js";

/** An operator event (pub/sub payload, JSON). */
export type ModerationEvent =
  | { op: "mute"; name: string; until: number }
  | { op: "unmute"; name: string }
  | { op: "ban"; name: string }
  | { op: "unban"; name: string }
  | { op: "announce"; text: string };

export function parseModerationEvent(raw: string): ModerationEvent | undefined {
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (typeof v !== "object" || v === null) return undefined;
  const e = v as Record<string, unknown>;
  const name = typeof e.name === "string" && e.name.length > 0 && e.name.length <= 64 ? e.name.toLowerCase() : undefined;
  switch (e.op) {
    case "mute":
      return name && typeof e.until === "number" && Number.isFinite(e.until) ? { op: "mute", name, until: e.until } : undefined;
    case "unmute":
    case "ban":
    case "unban":
      return name ? { op: e.op, name } : undefined;
    case "announce":
      return typeof e.text === "string" && e.text.length > 0 && e.text.length <= 1000 ? { op: "announce", text: e.text } : undefined;
    default:
      return undefined;
  }
}

export class Moderation {
  private mutes = new Map<string, number>();
  private bans = new Set<string>();

  /** Replace everything (full reload). `mutes`: name → until (ms since the epoch). */
  load(mutes: Record<string, number>, bans: Iterable<string>): void {
    this.mutes = new Map(Object.entries(mutes).map(([n, t]) => [n.toLowerCase(), t]));
    this.bans = new Set([...bans].map((n) => n.toLowerCase()));
  }

  /** Apply one event; returns true when it changed a ban (callers purge memberships). */
  apply(e: ModerationEvent): boolean {
    switch (e.op) {
      case "mute":
        this.mutes.set(e.name, e.until);
        return false;
      case "unmute":
        this.mutes.delete(e.name);
        return false;
      case "ban":
        this.bans.add(e.name);
        return true;
      case "unban":
        return this.bans.delete(e.name);
      default:
        return false;
    }
  }

  isBanned(name: string): boolean {
    return this.bans.has(name.toLowerCase());
  }

  /** Why `name` may not post now, if it may not. */
  check(name: string, now: number): Extract<ErrorKey, "CHAT_MUTED" | "CHAT_BANNED"> | undefined {
    const n = name.toLowerCase();
    if (this.bans.has(n)) return "CHAT_BANNED";
    const until = this.mutes.get(n);
    if (until !== undefined) {
      if (until > now) return "CHAT_MUTED";
      this.mutes.delete(n);
    }
    return undefined;
  }

  get counts(): { mutes: number; bans: number } {
    return { mutes: this.mutes.size, bans: this.bans.size };
  }
}

/** What the filter hook decides for one message. */
export type FilterVerdict = { action: "pass" } | { action: "replace"; text: string } | { action: "reject"; reason?: string };

/**
 * The pluggable filter hook: called for every message the moderation check let through, on
 * the owning chat server's thread (keep it fast and synchronous). `reject` → CHAT_FILTERED.
 */
export type ChatFilter = (msg: { ch: string; user: number; name: string; text: string }) => FilterVerdict;

export const passFilter: ChatFilter = () => ({ action: "pass" });

/** Example filter: masks whole words (case-insensitive) with `*`. */
export function maskWords(words: readonly string[]): ChatFilter {
  if (words.length === 0) return passFilter;
  const re = new RegExp(`\\b(${words.map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("|")})\\b`, "gi");
  return ({ text }) => {
    const out = text.replace(re, (m) => "*".repeat(m.length));
    return out === text ? { action: "pass" } : { action: "replace", text: out };
  };
}

/**
 * `opsctl top [--once] [--json] [--interval SEC]`: the live monitor (issue #9 item 1).
 *
 * Reads every process's snapshot from Redis (`<keyPrefix>monitor:<role>:<node>`, written every
 * `ops.monitorIntervalMs` with a TTL — docs/OPERATIONS.md §Live monitor) and prints one table:
 * on a TTY it clears the screen and redraws every --interval seconds until Ctrl-C; with
 * --once (or when stdout is not a TTY and --interval is not given) it prints one table and
 * exits. --json prints the snapshots as one JSON object per refresh (`{ts, processes:[…]}`).
 * Exit status: 0; 2 when Redis is unreachable.
 */
import { Redis } from "ioredis";
import { RiftError } from "../../core/errors.js";
import { readMonitor, type MonitorSnapshot } from "../../core/ops/monitor.js";
import type { Output } from "./context.js";
import { formatAge, roleRank, table } from "./format.js";

export interface TopOptions {
  once?: boolean;
  json?: boolean;
  /** Refresh period in seconds. */
  interval?: number;
}

function fmtMs(v: number | undefined): string {
  if (v === undefined) return "-";
  return v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : Math.round(v).toString();
}

function fmtBytes(v: number | undefined): string {
  if (v === undefined) return "-";
  if (v < 1024) return `${Math.round(v)}B`;
  if (v < 1024 * 1024) return `${(v / 1024).toFixed(v < 10 * 1024 ? 1 : 0)}K`;
  if (v < 1024 ** 3) return `${(v / 1024 / 1024).toFixed(v < 10 * 1024 * 1024 ? 1 : 0)}M`;
  return `${(v / 1024 ** 3).toFixed(1)}G`;
}

/** The table of `opsctl top` (pure). Columns: see docs/OPSCTL.md §top. */
export function topText(snaps: readonly MonitorSnapshot[], now: number): string[] {
  const sorted = [...snaps].sort((a, b) => roleRank(a.role) - roleRank(b.role) || a.node.localeCompare(b.node));
  const rows = sorted.map((s) => [
    s.role,
    s.node,
    `${s.version}/${s.colour}`,
    String(Math.round(s.ccu)),
    fmtMs(s.tickP99Ms),
    s.queueLength === undefined ? "-" : String(Math.round(s.queueLength)),
    fmtMs(s.queueConsumeP99Ms),
    fmtBytes(s.sendQueueP99Bytes),
    fmtMs(s.flushLagMs),
    fmtBytes(s.rssBytes),
    formatAge(s.uptimeSec * 1000),
    formatAge(now - s.ts),
    s.note ?? "",
  ]);
  const totals = new Map<string, { n: number; ccu: number }>();
  for (const s of sorted) {
    const t = totals.get(s.role) ?? { n: 0, ccu: 0 };
    t.n++;
    t.ccu += s.ccu;
    totals.set(s.role, t);
  }
  const summary = [...totals].map(([role, t]) => `${t.n} ${role}${role === "gateway" ? ` (${Math.round(t.ccu)} clients)` : role === "field" || role === "dungeon" ? ` (${Math.round(t.ccu)} users)` : ""}`).join(", ");
  return [
    ...table(["ROLE", "NODE", "VERSION", "CCU", "TICK99ms", "QUEUE", "CONSUME99ms", "SENDQ99", "FLUSHLAGms", "RSS", "UP", "SEEN", "NOTE"], rows, { right: [3, 4, 5, 6, 7, 8, 9] }),
    sorted.length === 0 ? "no live processes (nothing published a snapshot within the TTL)" : `${sorted.length} processes: ${summary}`,
  ];
}

export interface TopDeps {
  redis: { url: string; prefix: string };
  io: Output;
  /** stdout is a terminal (clear + redraw). */
  tty: boolean;
  now(): number;
  /** Resolves when the user interrupts (Ctrl-C); the loop stops then. */
  interrupted: Promise<void>;
}

export async function runTop(deps: TopDeps, o: TopOptions): Promise<number> {
  const redis = new Redis(deps.redis.url, { lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 5000, retryStrategy: () => null, connectionName: "rift-opsctl-top" });
  redis.on("error", () => undefined);
  try {
    await redis.connect();
  } catch (err) {
    throw new RiftError("DEPENDENCY_UNAVAILABLE", `cannot reach Redis at ${deps.redis.url}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const once = o.once === true || (!deps.tty && o.interval === undefined);
  const periodMs = Math.round((o.interval ?? 1) * 1000);
  let stop = false;
  void deps.interrupted.then(() => (stop = true));
  try {
    for (;;) {
      const snaps = await readMonitor(redis, deps.redis.prefix);
      const now = deps.now();
      if (o.json) deps.io.out(JSON.stringify({ ts: now, processes: snaps }));
      else {
        const lines = topText(snaps, now);
        if (deps.tty && !once) deps.io.out(`\x1b[2J\x1b[H${new Date(now).toISOString()}  (every ${periodMs / 1000}s, Ctrl-C to quit)\n${lines.join("\n")}`);
        else deps.io.out(lines.join("\n"));
      }
      if (once || stop) return 0;
      await Promise.race([new Promise((r) => setTimeout(r, periodMs)), deps.interrupted]);
      if (stop) return 0;
    }
  } finally {
    redis.disconnect();
  }
}

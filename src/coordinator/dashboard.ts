/**
 * The web dashboard served by every coordinator (issue #9 item 8) on its ops port:
 *
 *   GET /dashboard/            the page (web/dashboard/index.html, app.js, style.css; uPlot from node_modules)
 *   GET /api/overview          one JSON document: leader, members, placement, shards (weight,
 *                              state, users, primary), switches and flags, live-monitor snapshots
 *   GET /api/live              server-sent events: the overview every `intervalMs`
 *   GET /api/user?id=N         user lookup: shard, player row (zone, position, owner, epoch)
 *
 * Sources: ZooKeeper (member view, placement — the coordinator already follows them), the
 * global DB (shards, mapping counts, switches/flags), Redis (monitor snapshots, written by
 * every process every second). Shard user counts are cached for 5 s (a GROUP BY over the
 * mapping table); everything else is read per refresh. The files served are a fixed list
 * (no directory walking); the read-only API needs no auth and must stay on the ops network.
 */
import { readFileSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { Redis } from "ioredis";
import type { MemberInfo } from "../core/cluster/types.js";
import type { PlacementDoc } from "../core/cluster/placement-doc.js";
import type { Logger } from "../core/log.js";
import type { OpsServer } from "../core/metrics.js";
import type { OpsStore } from "../core/ops/events.js";
import { readMonitor, type MonitorSnapshot } from "../core/ops/monitor.js";
import type { PgDataLayer } from "../shard/data-layer.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

/** Served files: URL → [file, content type]. */
const FILES: Record<string, [string, string]> = {
  "/dashboard/": ["web/dashboard/index.html", "text/html; charset=utf-8"],
  "/dashboard/app.js": ["web/dashboard/app.js", "text/javascript; charset=utf-8"],
  "/dashboard/style.css": ["web/dashboard/style.css", "text/css; charset=utf-8"],
  "/dashboard/uplot.js": ["node_modules/uplot/dist/uPlot.iife.min.js", "text/javascript; charset=utf-8"],
  "/dashboard/uplot.css": ["node_modules/uplot/dist/uPlot.min.css", "text/css; charset=utf-8"],
};

export interface ShardRow {
  name: string;
  weight: number;
  state: string;
  users: number;
  primary: string | null;
}

export interface Overview {
  ts: number;
  self: string;
  leader: string | null;
  members: MemberInfo[];
  placement: PlacementDoc | null;
  shards: ShardRow[];
  switches: Record<string, boolean>;
  flags: Record<string, Record<string, string>>;
  monitor: MonitorSnapshot[];
  /** Parts that could not be read this time (e.g. "shards: …"). */
  errors: string[];
}

export interface DashboardDeps {
  nodeId: string;
  members(): MemberInfo[];
  leader(): string | null;
  placement(): PlacementDoc | undefined;
  data: PgDataLayer;
  globalScope: string;
  opsStore: OpsStore;
  redis: Redis;
  keyPrefix: string;
  log: Logger;
  /** SSE refresh period (default 1000 ms). */
  intervalMs?: number;
}

export class Dashboard {
  private shardCache: { at: number; rows: ShardRow[] } | undefined;
  private readonly streams = new Set<ServerResponse>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly deps: DashboardDeps) {}

  register(ops: OpsServer): void {
    ops.addRawRoute("/dashboard", (_req, res) => {
      res.statusCode = 302;
      res.setHeader("location", "/dashboard/");
      res.end();
    });
    for (const [url, [file, type]] of Object.entries(FILES)) {
      ops.addRawRoute(url, (_req, res) => this.sendFile(res, file, type));
    }
    ops.addJsonRoute("/api/overview", () => this.overview());
    ops.addJsonRoute("/api/user", (q) => this.user(Number(q.get("id"))));
    ops.addRawRoute("/api/live", (req, res) => this.live(req, res));
  }

  async overview(): Promise<Overview> {
    const errors: string[] = [];
    const part = <T>(what: string, p: Promise<T>, fallback: T): Promise<T> =>
      p.catch((e: unknown) => {
        errors.push(`${what}: ${e instanceof Error ? e.message : String(e)}`);
        return fallback;
      });
    const [shards, ops, monitor] = await Promise.all([
      part("shards", this.shards(), [] as ShardRow[]),
      part("flags", this.deps.opsStore.load(), { switches: {}, flags: {} } as { switches: Record<string, boolean>; flags: Record<string, Record<string, string>> }),
      part("monitor", readMonitor(this.deps.redis, this.deps.keyPrefix), [] as MonitorSnapshot[]),
    ]);
    return {
      ts: Date.now(),
      self: this.deps.nodeId,
      leader: this.deps.leader(),
      members: this.deps.members(),
      placement: this.deps.placement() ?? null,
      shards,
      switches: { ...ops.switches },
      flags: { ...ops.flags },
      monitor,
      errors,
    };
  }

  private async shards(): Promise<ShardRow[]> {
    if (this.shardCache && Date.now() - this.shardCache.at < 5000) return this.shardCache.rows;
    const { data, globalScope } = this.deps;
    const [list, counts] = await Promise.all([
      data.shardMap.listShards(),
      data.router.query<{ shard: string; n: string }>(globalScope, "SELECT shard, count(*) AS n FROM shard_map GROUP BY shard", [], { idempotent: true }),
    ]);
    const n = new Map(counts.rows.map((r) => [r.shard, Number(r.n)]));
    const rows = await Promise.all(
      list.map(async (s) => ({
        ...s,
        users: n.get(s.name) ?? 0,
        primary: await data.locator.primaryUrl(s.name).then(
          (u) => new URL(u).host,
          () => null,
        ),
      })),
    );
    this.shardCache = { at: Date.now(), rows };
    return rows;
  }

  private async user(id: number): Promise<unknown> {
    if (!Number.isSafeInteger(id) || id <= 0) return { error: "expected ?id=<user id>" };
    const shard = (await this.deps.data.shardMap.readMappings([id])).get(id);
    if (!shard) return { id, found: false };
    const row = await this.deps.data.players.load(id);
    return { id, found: true, shard, player: row ? { ...row.state, epoch: row.epoch, owner: row.owner } : null };
  }

  private live(req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
    res.write(": rift dashboard\n\n");
    this.streams.add(res);
    req.on("close", () => this.streams.delete(res));
    void this.push([res]);
    if (!this.timer) {
      this.timer = setInterval(() => {
        if (this.streams.size === 0) return;
        void this.push([...this.streams]);
      }, this.deps.intervalMs ?? 1000);
      this.timer.unref();
    }
  }

  private async push(to: ServerResponse[]): Promise<void> {
    try {
      const frame = `data: ${JSON.stringify(await this.overview())}\n\n`;
      for (const r of to) if (!r.writableEnded) r.write(frame);
    } catch (e) {
      this.deps.log.warn({ err: e instanceof Error ? e.message : String(e) }, "dashboard refresh failed");
    }
  }

  private sendFile(res: ServerResponse, file: string, type: string): void {
    try {
      const body = readFileSync(resolve(ROOT, file));
      res.setHeader("content-type", type);
      res.setHeader("cache-control", "no-cache");
      res.end(body);
    } catch {
      res.statusCode = 404;
      res.end("not found\n");
    }
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    for (const r of this.streams) r.end();
    this.streams.clear();
  }
}

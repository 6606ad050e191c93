/**
 * The game server's side of an online user move between shards (src/shard/mover.ts).
 *
 * The mover (opsctl) calls two ops-API routes on the server that owns the users:
 *   POST /shard/hold    {moveId, users[]}            → {held: [{userId, epoch}], notOwned[], busy[]}
 *   POST /shard/release {moveId, users: [{userId, epoch?}]} → {}
 * `hold` makes write-behind write the users' current state and then keep them out of every
 * flush (gameplay goes on in memory); `release` drops the users' cached shard mapping (the
 * mapping now points at the new shard) and lets them write again under the new owner epoch.
 *
 * Safety: a hold that is not released within `holdTimeoutMs` (the mover died) is released
 * with the OLD epoch: if the mover had already bumped the epoch those writes are fenced and
 * the users are kicked with PERSIST_REJECTED and reload from the DB (never silently wrong).
 * GET /shard/cache?users=1,2 shows this process's cached mapping (consistency checks).
 */
import { z } from "zod";
import { RiftError } from "../errors.js";
import type { Logger } from "../log.js";
import type { OpsServer } from "../metrics.js";

/** Most users in one hold / release request. */
export const MAX_MOVE_USERS = 10_000;

const userId = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);
const moveId = z.string().min(1).max(100);
const HoldBody = z.strictObject({ moveId, users: z.array(userId).min(1).max(MAX_MOVE_USERS) });
const ReleaseBody = z.strictObject({
  moveId,
  users: z.array(z.strictObject({ userId, epoch: z.number().int().nonnegative().optional() })).max(MAX_MOVE_USERS),
});

export interface HoldResult {
  held: { userId: number; epoch: number }[];
  /** Users this server does not own. */
  notOwned: number[];
  /** Users being attached right now (ownership in flight): not held, try again. */
  busy: number[];
}

export interface HoldableWrites {
  holdWrites(users: readonly number[]): Promise<HoldResult>;
  releaseWrites(items: readonly { userId: number; epoch?: number }[]): void;
}

export interface MappingCache {
  invalidate(userId: number): void;
  cached(userId: number): string | undefined;
}

export interface ShardMoveParticipantOptions {
  writes: HoldableWrites;
  cache: MappingCache;
  log: Logger;
  /** Release a forgotten hold after this long (default 15 s). */
  holdTimeoutMs?: number;
}

function parse<T>(schema: z.ZodType<T>, body: unknown): T {
  const r = schema.safeParse(body);
  if (!r.success) throw new RiftError("OPS_BAD_REQUEST", r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; "));
  return r.data;
}

export class ShardMoveParticipant {
  /** moveId → users still held for it, and the timer that force-releases them. */
  private readonly moves = new Map<string, { users: Set<number>; timer: NodeJS.Timeout }>();

  constructor(private readonly opts: ShardMoveParticipantOptions) {}

  register(ops: OpsServer): void {
    ops.addJsonPost("/shard/hold", (b) => this.hold(parse(HoldBody, b)));
    ops.addJsonPost("/shard/release", (b) => this.release(parse(ReleaseBody, b)));
    ops.addJsonRoute("/shard/cache", (q) => this.cacheView(q.get("users") ?? ""));
  }

  async hold(req: { moveId: string; users: number[] }): Promise<HoldResult> {
    let r: HoldResult;
    try {
      r = await this.opts.writes.holdWrites(req.users);
    } catch (e) {
      throw new RiftError("SHARD_MOVE_FAILED", `hold refused: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
    if (r.held.length > 0) {
      let m = this.moves.get(req.moveId);
      if (!m) {
        const timer = setTimeout(() => this.expire(req.moveId), this.opts.holdTimeoutMs ?? 15_000);
        timer.unref();
        this.moves.set(req.moveId, (m = { users: new Set(), timer }));
      }
      for (const h of r.held) m.users.add(h.userId);
    }
    return r;
  }

  release(req: { moveId: string; users: { userId: number; epoch?: number }[] }): Record<string, never> {
    // the mapping changed for moved users: the next write must look it up again
    for (const u of req.users) if (u.epoch !== undefined) this.opts.cache.invalidate(u.userId);
    this.opts.writes.releaseWrites(req.users);
    const m = this.moves.get(req.moveId);
    if (m) {
      for (const u of req.users) m.users.delete(u.userId);
      if (m.users.size === 0) {
        clearTimeout(m.timer);
        this.moves.delete(req.moveId);
      }
    }
    return {};
  }

  /** Release every hold (shutdown). */
  close(): void {
    for (const id of [...this.moves.keys()]) this.expire(id);
  }

  private expire(moveId: string): void {
    const m = this.moves.get(moveId);
    if (!m) return;
    this.moves.delete(moveId);
    clearTimeout(m.timer);
    this.opts.log.warn({ moveId, users: m.users.size }, "shard move hold expired (mover gone?): releasing under the old epoch");
    this.opts.writes.releaseWrites([...m.users].map((userId) => ({ userId })));
  }

  private cacheView(users: string): Record<string, string | null> {
    const out: Record<string, string | null> = {};
    for (const s of users.split(",").slice(0, MAX_MOVE_USERS)) {
      const id = Number(s);
      if (Number.isSafeInteger(id) && id > 0) out[String(id)] = this.opts.cache.cached(id) ?? null;
    }
    return out;
  }
}

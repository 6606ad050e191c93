/**
 * Write-behind persistence of player state (DESIGN "Memory first, database after").
 *
 * State changes are applied in memory by the logic loop, which only calls `markDirty(user)`
 * (O(1), never awaits). Every `intervalMs` the dirty users are written with ONE
 * `PlayerRepository.saveMany` batch (at most `maxBatch` rows; the rest go in the next cycle),
 * reading each user's current state through `snapshot(user)` at the moment the batch is built.
 *
 * Guarantees:
 * - At most one flush is in flight; cycles never overlap, so writes of one user stay ordered.
 * - Bounded backlog: at most one pending entry per tracked user plus one final write per
 *   released user (a user re-attaching waits for its final write, see `released(user)`).
 * - A write the DB REJECTS (owner epoch changed underneath: another server took the user)
 *   stops all writes for that user and calls `onRejected(user)` — the scene removes the user
 *   and kicks it with PERSIST_REJECTED; the DB stays the truth.
 * - A FAILED write (DB error) leaves the user dirty for the next cycle (dirtiness keeps its
 *   original time, so the flush-lag metric shows the outage).
 * - `release(user, finalState)` (detach, travel, shutdown) stops tracking the user and
 *   queues a final write that is flushed right away, retried `finalAttempts` times
 *   `retryDelayMs` apart on DB errors; it resolves "saved", "rejected" or "failed".
 * - `pause()` (ZooKeeper connection suspended: ownership uncertain) holds every write until
 *   `resume()`; changes keep accumulating as dirty marks and final writes.
 * - Bounded outage: `overdue(maxLagMs)` lists tracked users whose oldest unsaved change is
 *   older than the bound (the DB keeps failing, or writes are held); the scene disconnects
 *   them (PERSIST_UNAVAILABLE) and `forget`s them — memory and staleness stay bounded.
 * - `fenceAll()` (ZooKeeper session lost: someone else may own our users now) drops every
 *   tracked user and pending final write WITHOUT writing (finals resolve "rejected").
 * - A cycle that hit the batch limit continues at once only for users that were already
 *   dirty when it began (users re-dirtied meanwhile wait for the next interval), so a busy
 *   server never flushes back-to-back forever.
 * - Per-user hold (online move between shards, src/shard/mover.ts): `hold(users)` waits for the
 *   cycle in flight, writes the held users' current state (and pending final writes) once,
 *   then keeps them out of every later cycle — changes and final writes keep accumulating in
 *   memory. `unhold(items)` lets them write again, under a new owner epoch when the mover
 *   bumped it; the caller invalidates the user's cached shard before, so the next write goes
 *   to the new shard. Nothing held is ever dropped or written with the old epoch after the
 *   hold returned.
 */
import type { Logger } from "../log.js";
import type { PlayerRepository, PlayerState } from "../../shard/types.js";

export type FinalResult = "saved" | "rejected" | "failed";

export interface WriteBehindMetrics {
  /** One saveMany finished: duration in seconds, rows written, rows rejected. */
  flushed(seconds: number, rows: number, rejected: number): void;
  /** One saveMany threw. */
  failed(): void;
}

export interface WriteBehindOptions {
  repo: Pick<PlayerRepository, "saveMany">;
  intervalMs: number;
  maxBatch: number;
  /** Current in-memory state of a tracked user (undefined: nothing to write). */
  snapshot(user: number): PlayerState | undefined;
  /** A periodic write of this user was fenced; the user is no longer tracked. */
  onRejected(user: number): void;
  log: Logger;
  metrics?: WriteBehindMetrics;
  finalAttempts?: number;
  retryDelayMs?: number;
  /** Clock in ms (default Date.now). */
  now?: () => number;
}

interface Tracked {
  epoch: number;
  /** When the oldest unsaved change happened; undefined = clean. */
  dirtySince: number | undefined;
  /** Held for an online shard move: never written until `unhold`. */
  held?: boolean;
}

interface Final {
  state: PlayerState;
  epoch: number;
  held?: boolean;
  since: number;
  attempts: number;
  resolve: (r: FinalResult) => void;
  done: Promise<FinalResult>;
}

type BatchItem = { user: number; state: PlayerState; epoch: number; since: number; final: Final | undefined };

export class WriteBehind {
  private readonly tracked = new Map<number, Tracked>();
  private readonly finals = new Map<number, Final>();
  private inflight: BatchItem[] = [];
  private flushing: Promise<void> | undefined;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private lastCycleFailed = false;
  private paused = false;
  private readonly now: () => number;
  private readonly finalAttempts: number;
  private readonly retryDelayMs: number;

  constructor(private readonly opts: WriteBehindOptions) {
    this.now = opts.now ?? Date.now;
    this.finalAttempts = opts.finalAttempts ?? 5;
    this.retryDelayMs = opts.retryDelayMs ?? 200;
  }

  /** Start the periodic flush timer. */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.flush(), this.opts.intervalMs);
    this.timer.unref();
  }

  /** Stop the timers (pending work stays; call `drain()` first on shutdown). */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.timer = this.retryTimer = undefined;
  }

  /** Hold all writes (see contract). */
  pause(): void {
    this.paused = true;
  }

  /** Release held writes: flush at once. */
  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    void this.flush();
  }

  get isPaused(): boolean {
    return this.paused;
  }

  /** Drop everything without writing (see contract). Returns the users that were tracked or pending. */
  fenceAll(): number[] {
    const users = new Set<number>([...this.tracked.keys(), ...this.finals.keys()]);
    this.tracked.clear();
    for (const f of this.finals.values()) f.resolve("rejected");
    this.finals.clear();
    return [...users];
  }

  /**
   * Hold the writes of `users` (see contract). Resolves when every held user's state up to now
   * is in the DB: `held` lists them with the epoch they were written under; `notOwned` the
   * users this writer does not track (nothing to hold). If that write fails or is fenced the
   * users are released again and the promise rejects (fenced users are handed to
   * `onRejected` as in a normal cycle).
   */
  async hold(users: readonly number[]): Promise<{ held: { userId: number; epoch: number }[]; notOwned: number[] }> {
    if (this.paused) throw new Error("hold: writes are paused (ownership uncertain)");
    const held: number[] = [];
    const notOwned: number[] = [];
    for (const u of new Set(users)) {
      const x = this.finals.get(u) ?? this.tracked.get(u);
      if (!x) {
        notOwned.push(u);
        continue;
      }
      x.held = true;
      held.push(u);
    }
    // a cycle that began before the hold may still carry these users: let it land first
    while (this.flushing) await this.flushing;
    const items: { state: PlayerState; epoch: number; user: number }[] = [];
    for (const u of held) {
      const f = this.finals.get(u);
      const t = this.tracked.get(u);
      if (f) items.push({ user: u, state: f.state, epoch: f.epoch });
      else if (t && t.dirtySince !== undefined) {
        const state = this.opts.snapshot(u);
        if (state) items.push({ user: u, state, epoch: t.epoch });
      }
    }
    if (items.length > 0) {
      let rejected: number[];
      try {
        rejected = await this.opts.repo.saveMany(items.map((i) => ({ state: i.state, epoch: i.epoch })));
      } catch (err) {
        this.unhold(held.map((userId) => ({ userId })));
        throw err;
      }
      if (rejected.length > 0) {
        this.unhold(held.map((userId) => ({ userId })));
        throw new Error(`hold: ${rejected.length} user(s) fenced by another owner`);
      }
      for (const i of items) {
        const f = this.finals.get(i.user);
        const t = this.tracked.get(i.user);
        if (f && f.state === i.state) {
          // the final write is done; keep it held (resolved at unhold) — its state is in the DB
          f.since = this.now();
        } else if (t) t.dirtySince = undefined;
      }
    }
    const out: { userId: number; epoch: number }[] = [];
    for (const u of held) {
      const x = this.finals.get(u) ?? this.tracked.get(u);
      if (x?.held) out.push({ userId: u, epoch: x.epoch });
      else notOwned.push(u); // fenced / forgotten while we waited
    }
    return { held: out, notOwned };
  }

  /**
   * End the hold of users (unknown or not-held users are ignored). With `epoch`, later writes
   * carry that epoch (the mover bumped it on the new shard). Flushes at once.
   */
  unhold(items: readonly { userId: number; epoch?: number }[]): void {
    for (const { userId, epoch } of items) {
      for (const x of [this.tracked.get(userId), this.finals.get(userId)]) {
        if (!x?.held) continue;
        x.held = false;
        if (epoch !== undefined) x.epoch = epoch;
      }
    }
    void this.flush();
  }

  /** Users held now (tests, metrics). */
  get heldCount(): number {
    let n = 0;
    for (const t of this.tracked.values()) if (t.held) n++;
    for (const f of this.finals.values()) if (f.held) n++;
    return n;
  }

  /** Begin tracking a user owned with `epoch` (after takeOwnership). */
  track(user: number, epoch: number): void {
    this.tracked.set(user, { epoch, dirtySince: undefined });
  }

  /** The owner epoch a tracked user is written under (undefined: not tracked). */
  epochOf(user: number): number | undefined {
    return this.tracked.get(user)?.epoch;
  }

  isTracked(user: number): boolean {
    return this.tracked.has(user);
  }

  /** The user's in-memory state changed (no-op for untracked users). */
  markDirty(user: number): void {
    const t = this.tracked.get(user);
    if (t && t.dirtySince === undefined) t.dirtySince = this.now();
  }

  /**
   * Stop tracking and write `finalState` once (flushed immediately). Resolves when written,
   * fenced or given up. A user that is not tracked resolves "rejected" at once.
   */
  release(user: number, finalState: PlayerState): Promise<FinalResult> {
    const t = this.tracked.get(user);
    if (!t) return Promise.resolve("rejected");
    this.tracked.delete(user);
    let resolve!: (r: FinalResult) => void;
    const done = new Promise<FinalResult>((r) => (resolve = r));
    const final: Final = { state: finalState, epoch: t.epoch, since: t.dirtySince ?? this.now(), attempts: 0, resolve, done };
    if (t.held) final.held = true;
    this.finals.set(user, final);
    void this.flush();
    return done;
  }

  /** Resolves when the user's pending final write (if any) is settled. */
  released(user: number): Promise<unknown> {
    // (a final in flight is no longer in `finals`: look at the batch too)
    return this.finals.get(user)?.done ?? this.inflight.find((i) => i.user === user && i.final)?.final?.done ?? Promise.resolve();
  }

  /** Tracked users whose oldest unsaved change is older than `maxLagMs` (see contract). */
  overdue(maxLagMs: number): number[] {
    const limit = this.now() - maxLagMs;
    const out: number[] = [];
    for (const [user, t] of this.tracked) if (t.dirtySince !== undefined && t.dirtySince < limit) out.push(user);
    return out;
  }

  /** Stop tracking without writing (the user was fenced elsewhere). */
  forget(user: number): void {
    this.tracked.delete(user);
  }

  get trackedCount(): number {
    return this.tracked.size;
  }

  /** Users with unsaved changes (dirty, final pending, or in flight). */
  get backlog(): number {
    let n = this.finals.size + this.inflight.length;
    for (const t of this.tracked.values()) if (t.dirtySince !== undefined) n++;
    return n;
  }

  /** Age in ms of the oldest unsaved change (0 when everything is saved). */
  lagMs(): number {
    let oldest = Infinity;
    for (const t of this.tracked.values()) if (t.dirtySince !== undefined && t.dirtySince < oldest) oldest = t.dirtySince;
    for (const f of this.finals.values()) if (f.since < oldest) oldest = f.since;
    for (const i of this.inflight) if (i.since < oldest) oldest = i.since;
    return oldest === Infinity ? 0 : Math.max(0, this.now() - oldest);
  }

  /**
   * Run a flush cycle now. If one is in flight, another runs right after it; the returned
   * promise resolves when the cycle covering this call has finished.
   */
  flush(): Promise<void> {
    if (this.paused) return Promise.resolve();
    if (this.flushing) {
      this.again = true;
      return this.flushing.then(() => this.flushing ?? Promise.resolve());
    }
    this.flushing = this.cycle().finally(() => {
      this.flushing = undefined;
      if (this.again) {
        this.again = false;
        void this.flush();
      } else if (this.writableFinals() > 0 && !this.retryTimer) {
        // finals left over (batch limit or DB error): retry soon, not on the next interval
        this.retryTimer = setTimeout(() => {
          this.retryTimer = undefined;
          void this.flush();
        }, this.retryDelayMs);
        this.retryTimer.unref();
      }
    });
    return this.flushing;
  }

  /**
   * Flush until nothing is dirty and every final write is settled (graceful shutdown).
   * Returns early when the DB keeps failing and only periodic (non-final) state is left;
   * final writes end by themselves after `finalAttempts`.
   */
  async drain(holdWaitMs = 5000): Promise<void> {
    // a shard move in progress: give it a moment to finish, then write under the old epoch
    // (if the mover already bumped it those writes are fenced — the mover's hold timed out)
    const until = Date.now() + holdWaitMs;
    while (this.heldCount > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    if (this.heldCount > 0) {
      this.opts.log.warn({ held: this.heldCount }, "shutting down while a shard move holds users: releasing them");
      this.unhold([...this.tracked.keys(), ...this.finals.keys()].map((userId) => ({ userId })));
    }
    for (;;) {
      if (this.paused) return;
      await this.flush();
      while (this.flushing) await this.flushing;
      const dirty = [...this.tracked.values()].some((t) => t.dirtySince !== undefined);
      if (!dirty && this.finals.size === 0) return;
      if (this.lastCycleFailed) {
        if (this.finals.size === 0) return;
        await new Promise((r) => setTimeout(r, this.retryDelayMs));
      }
    }
  }

  private buildBatch(): BatchItem[] {
    const batch: BatchItem[] = [];
    for (const [user, f] of this.finals) {
      if (batch.length >= this.opts.maxBatch) return batch;
      if (f.held) continue;
      batch.push({ user, state: f.state, epoch: f.epoch, since: f.since, final: f });
    }
    for (const [user, t] of this.tracked) {
      if (batch.length >= this.opts.maxBatch) break;
      if (t.dirtySince === undefined || t.held) continue;
      const state = this.opts.snapshot(user);
      const since = t.dirtySince;
      t.dirtySince = undefined;
      if (state) batch.push({ user, state, epoch: t.epoch, since, final: undefined });
    }
    return batch;
  }

  private async cycle(): Promise<void> {
    const cycleStart = this.now();
    const batch = this.buildBatch();
    if (batch.length === 0) return;
    this.inflight = batch;
    for (const i of batch) if (i.final) this.finals.delete(i.user);
    const t0 = performance.now();
    let rejected: number[];
    try {
      rejected = await this.opts.repo.saveMany(batch.map((i) => ({ state: i.state, epoch: i.epoch })));
    } catch (err) {
      this.lastCycleFailed = true;
      this.inflight = [];
      this.opts.metrics?.failed();
      this.opts.log.warn({ err, rows: batch.length }, "write-behind flush failed; will retry");
      for (const i of batch) {
        if (i.final) {
          i.final.attempts++;
          if (i.final.attempts >= this.finalAttempts) {
            this.opts.log.error({ user: i.user, attempts: i.final.attempts }, "final write gave up");
            i.final.resolve("failed");
          } else if (!this.finals.has(i.user)) this.finals.set(i.user, i.final);
        } else {
          const t = this.tracked.get(i.user);
          if (t && t.epoch === i.epoch) t.dirtySince = Math.min(t.dirtySince ?? Infinity, i.since);
        }
      }
      return;
    }
    this.lastCycleFailed = false;
    this.inflight = [];
    const fenced = new Set(rejected);
    this.opts.metrics?.flushed((performance.now() - t0) / 1000, batch.length - fenced.size, fenced.size);
    for (const i of batch) {
      const isFenced = fenced.has(i.user);
      if (i.final) {
        i.final.resolve(isFenced ? "rejected" : "saved");
        if (isFenced) this.opts.log.warn({ user: i.user, epoch: i.epoch }, "final write fenced: another owner took the user");
      } else if (isFenced) {
        const t = this.tracked.get(i.user);
        if (t && t.epoch === i.epoch) {
          this.tracked.delete(i.user);
          this.opts.log.warn({ user: i.user, epoch: i.epoch }, "write fenced: another owner took the user");
          this.opts.onRejected(i.user);
        }
      }
    }
    // more dirty than one batch: continue at once, but only for changes older than this cycle
    if (batch.length >= this.opts.maxBatch && this.hasDirtyBefore(cycleStart)) this.again = true;
  }

  private writableFinals(): number {
    let n = 0;
    for (const f of this.finals.values()) if (!f.held) n++;
    return n;
  }

  private hasDirtyBefore(t: number): boolean {
    if (this.writableFinals() > 0) return true;
    for (const x of this.tracked.values()) if (x.dirtySince !== undefined && x.dirtySince < t && !x.held) return true;
    return false;
  }
}

/**
 * Fixed-rate tick loop for the single logic thread.
 *
 * Contract:
 * - `onTick(tick, now)` runs synchronously at `hz` ticks per second; tick numbers start at 1.
 *   Ticks never overlap (the next is scheduled only after the previous returned).
 * - Drift-corrected: tick n is due at `start + n × period` (not "period after the previous
 *   one ended"), so a slow tick shortens the next wait. When the loop falls more than one
 *   whole period behind it does not burst to catch up: it skips the missed slots (counted in
 *   `stats.skipped`), so the next tick is due less than one period from now.
 * - A tick that throws is reported to `onError` and the loop keeps going.
 * - Waiting uses setTimeout for whole milliseconds and setImmediate for the rest.
 * - `stop()` prevents further ticks; a tick in progress finishes first (it is synchronous).
 * - `onTickDone(durationMs)` receives every tick's duration (for the tick histogram).
 */

/** The time source and timers (real ones in production, a fake in tests). */
export interface LoopClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  setImmediate(fn: () => void): unknown;
  clearImmediate(handle: unknown): void;
}

export const realClock: LoopClock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
  setImmediate: (fn) => setImmediate(fn),
  clearImmediate: (h) => clearImmediate(h as NodeJS.Immediate),
};

export interface TickLoopOptions {
  hz: number;
  onTick: (tick: number, now: number) => void;
  onTickDone?: (durationMs: number, tick: number) => void;
  onError?: (err: unknown, tick: number) => void;
  clock?: LoopClock;
}

export interface TickLoopStats {
  ticks: number;
  /** Tick slots skipped because the loop fell more than a period behind. */
  skipped: number;
  errors: number;
  lastDurationMs: number;
}

export class TickLoop {
  readonly periodMs: number;
  readonly stats: TickLoopStats = { ticks: 0, skipped: 0, errors: 0, lastDurationMs: 0 };
  private readonly clock: LoopClock;
  private running = false;
  private anchor = 0;
  private slot = 0;
  private timer: unknown;
  private immediate: unknown;

  constructor(private readonly opts: TickLoopOptions) {
    if (!(opts.hz > 0 && opts.hz <= 1000)) throw new RangeError(`tick rate must be in (0, 1000] Hz, got ${opts.hz}`);
    this.periodMs = 1000 / opts.hz;
    this.clock = opts.clock ?? realClock;
  }

  get isRunning(): boolean {
    return this.running;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.anchor = this.clock.now();
    this.slot = 0;
    this.schedule();
  }

  stop(): void {
    this.running = false;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    if (this.immediate !== undefined) this.clock.clearImmediate(this.immediate);
    this.timer = this.immediate = undefined;
  }

  private schedule(): void {
    if (!this.running) return;
    const due = this.anchor + (this.slot + 1) * this.periodMs;
    const wait = due - this.clock.now();
    if (wait >= 1) {
      this.timer = this.clock.setTimeout(() => {
        this.timer = undefined;
        this.schedule(); // timers fire early/late: re-check against the deadline
      }, Math.floor(wait));
    } else if (wait > 0) {
      this.immediate = this.clock.setImmediate(() => {
        this.immediate = undefined;
        this.schedule();
      });
    } else {
      this.runTick();
    }
  }

  private runTick(): void {
    const now = this.clock.now();
    this.slot++;
    const behind = Math.floor((now - (this.anchor + this.slot * this.periodMs)) / this.periodMs);
    if (behind >= 1) {
      this.stats.skipped += behind;
      this.slot += behind;
    }
    const tick = ++this.stats.ticks;
    try {
      this.opts.onTick(tick, now);
    } catch (err) {
      this.stats.errors++;
      this.opts.onError?.(err, tick);
    }
    const dur = this.clock.now() - now;
    this.stats.lastDurationMs = dur;
    this.opts.onTickDone?.(dur, tick);
    this.schedule();
  }
}

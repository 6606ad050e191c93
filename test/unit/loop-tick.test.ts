import { describe, expect, it } from "vitest";
import { TickLoop, type LoopClock } from "../../src/core/loop/tick-loop.js";

/** Deterministic clock: timers fire only when the test advances time. */
class FakeClock implements LoopClock {
  t = 0;
  private seq = 0;
  private timers = new Map<number, { at: number; fn: () => void; order: number }>();
  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.timers.set(id, { at: this.t + Math.max(1, ms), fn, order: id });
    return id;
  }
  clearTimeout(h: unknown): void {
    this.timers.delete(h as number);
  }
  setImmediate(fn: () => void): unknown {
    const id = ++this.seq;
    this.timers.set(id, { at: this.t, fn, order: id });
    return id;
  }
  clearImmediate(h: unknown): void {
    this.timers.delete(h as number);
  }
  /** Run every timer due up to `until`, advancing time to each. */
  advanceTo(until: number): void {
    for (;;) {
      let next: [number, { at: number; fn: () => void; order: number }] | undefined;
      for (const e of this.timers) if (e[1].at <= until && (!next || e[1].at < next[1].at || (e[1].at === next[1].at && e[1].order < next[1].order))) next = e;
      if (!next) break;
      this.timers.delete(next[0]);
      this.t = Math.max(this.t, next[1].at);
      next[1].fn();
    }
    this.t = Math.max(this.t, until);
  }
}

describe("TickLoop", () => {
  it("ticks at the configured rate on period boundaries", () => {
    const clock = new FakeClock();
    const at: number[] = [];
    const loop = new TickLoop({ hz: 20, clock, onTick: (_n, now) => at.push(now) });
    loop.start();
    clock.advanceTo(1000);
    expect(at).toHaveLength(20);
    expect(at.slice(0, 3)).toEqual([50, 100, 150]);
    loop.stop();
  });

  it("corrects drift: slow ticks shorten the next wait instead of delaying every later tick", () => {
    const clock = new FakeClock();
    const at: number[] = [];
    const loop = new TickLoop({
      hz: 20,
      clock,
      onTick: (_n, now) => {
        at.push(now);
        clock.t += 30; // the tick itself takes 30 ms
      },
    });
    loop.start();
    clock.advanceTo(1000);
    expect(at).toHaveLength(20);
    expect(at.every((t, i) => t === 50 * (i + 1))).toBe(true);
    expect(loop.stats.lastDurationMs).toBe(30);
  });

  it("skips missed slots instead of bursting after an overrun", () => {
    const clock = new FakeClock();
    const at: number[] = [];
    const loop = new TickLoop({
      hz: 10,
      clock,
      onTick: (n, now) => {
        at.push(now);
        if (n === 2) clock.t += 350; // tick 2 overruns by three and a half periods
      },
    });
    loop.start();
    clock.advanceTo(1000);
    // tick 2 ends at 550: the late slot-3 tick runs at once, slots 4 and 5 are skipped
    // (no burst of three ticks), and the loop is back on the 100 ms grid at 600
    expect(at.slice(0, 5)).toEqual([100, 200, 550, 600, 700]);
    expect(loop.stats.skipped).toBe(2);
    expect(new Set(at).size).toBe(at.length);
  });

  it("keeps ticking after a tick throws and reports the error", () => {
    const clock = new FakeClock();
    const errors: number[] = [];
    const loop = new TickLoop({
      hz: 10,
      clock,
      onTick: (n) => {
        if (n === 1) throw new Error("boom");
      },
      onError: (_e, n) => errors.push(n),
    });
    loop.start();
    clock.advanceTo(500);
    expect(errors).toEqual([1]);
    expect(loop.stats.ticks).toBe(5);
    expect(loop.stats.errors).toBe(1);
  });

  it("never runs a tick inside another and never after stop()", () => {
    const clock = new FakeClock();
    let inside = false;
    let overlaps = 0;
    const loop = new TickLoop({
      hz: 50,
      clock,
      onTick: () => {
        if (inside) overlaps++;
        inside = true;
        clock.advanceTo(clock.t + 5); // timers due meanwhile must not start another tick
        inside = false;
      },
    });
    loop.start();
    clock.advanceTo(200);
    const n = loop.stats.ticks;
    loop.stop();
    clock.advanceTo(1000);
    expect(overlaps).toBe(0);
    expect(n).toBeGreaterThan(0);
    expect(loop.stats.ticks).toBe(n);
  });

  it("reports each tick's duration", () => {
    const clock = new FakeClock();
    const durations: number[] = [];
    const loop = new TickLoop({ hz: 10, clock, onTick: () => void (clock.t += 7), onTickDone: (d) => durations.push(d) });
    loop.start();
    clock.advanceTo(300);
    expect(durations).toEqual([7, 7, 7]);
  });
});

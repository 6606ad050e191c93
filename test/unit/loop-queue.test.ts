import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { BoundedQueue } from "../../src/core/loop/bounded-queue.js";

describe("BoundedQueue", () => {
  it("is FIFO and refuses offers when full without storing them", () => {
    const q = new BoundedQueue<number>(3);
    expect([q.offer(1), q.offer(2), q.offer(3)]).toEqual([true, true, true]);
    expect(q.full).toBe(true);
    expect(q.offer(4)).toBe(false);
    expect(q.length).toBe(3);
    expect([q.poll(), q.poll(), q.poll(), q.poll()]).toEqual([1, 2, 3, undefined]);
  });

  it("wraps around", () => {
    const q = new BoundedQueue<number>(2);
    for (let i = 0; i < 10; i++) {
      expect(q.offer(i)).toBe(true);
      expect(q.poll()).toBe(i);
    }
  });

  it("drain consumes only what was there (or max), leaving items offered meanwhile", () => {
    const q = new BoundedQueue<number>(10);
    [1, 2, 3, 4].forEach((i) => q.offer(i));
    const seen: number[] = [];
    expect(q.drain((x) => seen.push(x), 2)).toBe(2);
    expect(q.drain((x) => { seen.push(x); q.offer(x * 10); })).toBe(2);
    expect(seen).toEqual([1, 2, 3, 4]);
    expect(q.length).toBe(2);
  });

  it("rejects a non-positive capacity", () => {
    expect(() => new BoundedQueue(0)).toThrow(RangeError);
  });

  it("property: behaves like an array capped at capacity", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), fc.array(fc.option(fc.integer(), { nil: undefined }), { maxLength: 200 }), (cap, ops) => {
        const q = new BoundedQueue<number>(cap);
        const model: number[] = [];
        for (const op of ops) {
          if (op === undefined) expect(q.poll()).toBe(model.shift());
          else {
            const accepted = model.length < cap;
            expect(q.offer(op)).toBe(accepted);
            if (accepted) model.push(op);
          }
          expect(q.length).toBe(model.length);
        }
      }),
    );
  });
});

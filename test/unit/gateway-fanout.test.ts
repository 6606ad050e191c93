/** Tick fan-out: per-user frames are concatenations of pre-encoded buffers, no re-encoding. */
import { describe, expect, test } from "vitest";
import { assembleTick, CellSubscriptions, concatParts, type TickBody } from "../../src/gateway/fanout.js";

const buf = (...bytes: number[]) => Uint8Array.from(bytes);

describe("CellSubscriptions", () => {
  test("keeps the reverse index in step with replacements and clears", () => {
    const s = new CellSubscriptions();
    s.set(1, [10, 11]);
    s.set(2, [11, 12, 12]);
    expect([...(s.watchers(11) ?? [])].sort()).toEqual([1, 2]);
    s.set(1, [12]);
    expect(s.watchers(10)).toBeUndefined();
    expect([...(s.watchers(11) ?? [])]).toEqual([2]);
    expect([...(s.watchers(12) ?? [])].sort()).toEqual([1, 2]);
    expect(s.cellsOf(2)).toEqual([11, 12]);
    s.clear(2);
    s.clear(1);
    expect(s.watchers(12)).toBeUndefined();
    expect(s.userCount).toBe(0);
  });
});

describe("assembleTick", () => {
  test("each user gets its direct buffers, then the watched cells present in the tick", () => {
    const subs = new CellSubscriptions();
    subs.set(1, [10]);
    const c10 = buf(10);
    const c11 = buf(11);
    const c12 = buf(12);
    const d1 = buf(0xd1);
    const tick: TickBody = {
      tick: 7,
      cells: [
        [10, c10],
        [11, c11],
        [12, c12],
      ],
      subs: [[2, [11, 12]]],
      direct: [[1, [d1]]],
    };
    const out = assembleTick(tick, subs, () => true);
    expect(out.get(1)).toEqual([d1, c10]);
    // user 2's subscription arrived in this very tick and applies to it
    expect(out.get(2)).toEqual([c11, c12]);
    // the very same buffer objects, not copies
    expect(out.get(2)![0]).toBe(c11);
  });

  test("users not accepted get nothing and their subs are ignored", () => {
    const subs = new CellSubscriptions();
    subs.set(1, [10]);
    const tick: TickBody = { tick: 1, cells: [[10, buf(1)]], subs: [[3, [10]]], direct: [[4, [buf(2)]]] };
    const out = assembleTick(tick, subs, (u) => u !== 3 && u !== 4);
    expect([...out.keys()]).toEqual([1]);
    expect(subs.cellsOf(3)).toEqual([]);
  });

  test("subs may be accepted while delivery is not (user still attaching)", () => {
    const subs = new CellSubscriptions();
    const tick: TickBody = { tick: 1, cells: [[5, buf(5)]], subs: [[9, [5]]], direct: [] };
    const out = assembleTick(tick, subs, () => true, () => false);
    expect(out.size).toBe(0);
    expect(subs.cellsOf(9)).toEqual([5]);
  });

  test("concatParts joins in order; one part is passed through", () => {
    const a = buf(1, 2);
    expect(concatParts([a])).toBe(a);
    expect([...concatParts([a, buf(3), buf()])]).toEqual([1, 2, 3]);
  });
});

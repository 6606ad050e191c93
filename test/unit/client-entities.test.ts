/** The SDK's visible-entity map: frames applied as units (removals, then upserts). */
import { describe, expect, test } from "vitest";
import { VisibleEntities, forEachRecord } from "../../src/client/entities.js";
import { encodeRecords } from "../../src/game/records.js";

const rec = (id: number, x: number, y: number, seq = 0) => ({ id, x, y, seq });

describe("VisibleEntities", () => {
  test("records enter, move and leave", () => {
    const v = new VisibleEntities();
    let ch = v.apply([], [encodeRecords([rec(1, 1, 1), rec(2, 2, 2)])]);
    expect(ch.entered.map((e) => e.id)).toEqual([1, 2]);
    ch = v.apply([], [encodeRecords([rec(1, 1.5, 1, 3), rec(2, 2, 2)])]);
    expect(ch.moved).toEqual([rec(1, 1.5, 1, 3)]); // 2 unchanged → no event
    ch = v.apply([2], []);
    expect(ch.left).toEqual([2]);
    expect(v.size).toBe(1);
    expect(v.get(1)).toEqual(rec(1, 1.5, 1, 3));
  });

  test("an entity gone from one watched cell and present in another in the same frame stays (a move)", () => {
    const v = new VisibleEntities();
    v.apply([], [encodeRecords([rec(5, 99, 10)])]);
    // cell A says: 5 left; cell B says: 5 is here now — in either order within the frame
    const ch = v.apply([5], [encodeRecords([rec(5, 101, 10, 1)])]);
    expect(ch.left).toEqual([]);
    expect(ch.entered).toEqual([]);
    expect(ch.moved).toEqual([rec(5, 101, 10, 1)]);
    expect(v.get(5)?.x).toBe(101);
  });

  test("removing an unknown id is not reported", () => {
    const v = new VisibleEntities();
    expect(v.apply([42], []).left).toEqual([]);
  });

  test("the own entity is reported as self and kept out of the map", () => {
    const v = new VisibleEntities();
    v.selfId = 9;
    const ch = v.apply([], [encodeRecords([rec(9, 3, 4, 17), rec(1, 0, 0)])]);
    expect(ch.self).toEqual(rec(9, 3, 4, 17));
    expect(v.get(9)).toBeUndefined();
    expect(v.size).toBe(1);
  });

  test("clear returns the ids that were visible", () => {
    const v = new VisibleEntities();
    v.apply([], [encodeRecords([rec(1, 0, 0), rec(2, 0, 0)])]);
    expect(v.clear().sort()).toEqual([1, 2]);
    expect(v.size).toBe(0);
  });

  test("forEachRecord reads little-endian u32/f32/f32/u32 and ignores a partial tail", () => {
    const blob = new Uint8Array(16 * 2 + 5);
    blob.set(encodeRecords([rec(0xdeadbeef, 1.5, -2.25, 7), rec(1, 0, 0, 0xffffffff)]));
    const seen: number[][] = [];
    forEachRecord(blob, (id, x, y, seq) => seen.push([id, x, y, seq]));
    expect(seen).toEqual([
      [0xdeadbeef, 1.5, -2.25, 7],
      [1, 0, 0, 0xffffffff],
    ]);
  });
});

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Grid } from "../../src/game/grid.js";
import { decodeRecords, encodeRecords, type EntityRecord } from "../../src/game/records.js";
import type { FieldRules } from "../../src/game/rules.js";
import { World, type TickChanges } from "../../src/game/world.js";

describe("AOI grid geometry", () => {
  const g = new Grid(1000, 100);
  it("numbers cells row-major and clamps the far edge", () => {
    expect(g.cols).toBe(10);
    expect(g.cellOf(0, 0)).toBe(0);
    expect(g.cellOf(150, 0)).toBe(1);
    expect(g.cellOf(0, 150)).toBe(10);
    expect(g.cellOf(1000, 1000)).toBe(99);
  });
  it("watches the cell and its neighbours, fewer at edges", () => {
    expect(g.watched(0)).toEqual([0, 1, 10, 11]);
    expect(g.watched(55)).toEqual([44, 45, 46, 54, 55, 56, 64, 65, 66]);
    expect(g.watched(9)).toEqual([8, 9, 18, 19]);
    expect(g.isWatched(55, 66)).toBe(true);
    expect(g.isWatched(55, 67)).toBe(false);
    expect(g.isWatched(9, 10)).toBe(false); // row wrap is not adjacency
  });
  it("handles a world size that is not a multiple of the cell size", () => {
    const odd = new Grid(250, 100);
    expect(odd.cols).toBe(3);
    expect(odd.cellOf(249, 249)).toBe(8);
  });
});

describe("entity records", () => {
  it("round-trip as 16-byte little-endian records", () => {
    const recs = [{ id: 7, x: 1.5, y: 999.25, seq: 42 }, { id: 0xffffffff, x: 0, y: 0, seq: 0 }];
    const bytes = encodeRecords(recs);
    expect(bytes.byteLength).toBe(32);
    expect(new DataView(bytes.buffer).getUint32(0, true)).toBe(7);
    expect(decodeRecords(bytes)).toEqual(recs);
    expect(() => decodeRecords(bytes.subarray(0, 20))).toThrow(RangeError);
  });
});

const rules: FieldRules = { worldSize: 1000, cellSize: 100, maxSpeed: 5, movesPerSec: 10, burstMoves: 3 };
const ids = (r: Uint8Array) => decodeRecords(r).map((e) => e.id).sort((a, b) => a - b);

describe("world per-cell change lists", () => {
  it("reports movers of a cell with their final state, once per tick", () => {
    const w = new World(rules);
    w.join(1, 150, 150, 0);
    w.join(2, 160, 150, 0);
    w.endTick();
    w.move(1, { seq: 1, x: 151, y: 150 }, 10);
    w.move(1, { seq: 2, x: 152, y: 150 }, 20);
    const t = w.endTick();
    expect(t.cells).toHaveLength(1);
    expect(t.cells[0]!.cell).toBe(11);
    expect(decodeRecords(t.cells[0]!.moved)).toEqual([{ id: 1, x: 152, y: 150, seq: 2 }]);
    expect(t.cells[0]!.gone).toEqual([]);
    expect(w.endTick().cells).toEqual([]); // nothing moved since
  });

  it("a border crossing lists the id as gone from the old cell and moved into the new one", () => {
    const w = new World(rules);
    w.join(1, 198, 150, 0);
    w.endTick();
    w.move(1, { seq: 1, x: 202, y: 150 }, 10);
    const t = w.endTick();
    const byCell = new Map(t.cells.map((c) => [c.cell, c]));
    expect(byCell.get(11)!.gone).toEqual([1]);
    expect(ids(byCell.get(12)!.moved)).toEqual([1]);
  });

  it("leaving the zone lists the id as gone", () => {
    const w = new World(rules);
    w.join(1, 150, 150, 0);
    w.endTick();
    w.leave(1);
    expect(w.endTick().cells).toEqual([{ cell: 11, moved: new Uint8Array(0), gone: [1] }]);
  });

  it("offsets cell ids by cellBase", () => {
    const w = new World(rules, { cellBase: 1000 });
    w.join(1, 150, 150, 0);
    const t = w.endTick();
    expect(t.cells[0]!.cell).toBe(1011);
    expect(t.views[0]!.cells).toContain(1011);
  });
});

describe("world views", () => {
  it("a joining watcher gets its full view: neighbours in, far entities out", () => {
    const w = new World(rules);
    w.join(2, 250, 150, 0); // cell 12, adjacent to 11
    w.join(3, 900, 900, 0); // far away
    w.endTick();
    w.join(1, 150, 150, 0);
    const t = w.endTick();
    const v = t.views.find((x) => x.id === 1)!;
    expect(v.cells).toEqual([0, 1, 2, 10, 11, 12, 20, 21, 22]);
    expect(ids(v.add)).toEqual([1, 2]);
    expect(v.remove).toEqual([]);
  });

  it("crossing a border adds the new column and removes the old one", () => {
    const w = new World({ ...rules, maxSpeed: 100, burstMoves: 10 });
    w.join(1, 150, 150, 0);
    w.join(2, 50, 150, 0); // cell 10: watched from 11, not from 12
    w.join(3, 350, 150, 0); // cell 13: watched from 12, not from 11
    w.endTick();
    w.move(1, { seq: 1, x: 250, y: 150 }, 10);
    const v = w.endTick().views.find((x) => x.id === 1)!;
    expect(ids(v.add)).toEqual([3]);
    expect(v.remove).toEqual([2]);
  });

  it("an entity that leaves a cell dropping out of the view in the same tick is removed", () => {
    const w = new World({ ...rules, maxSpeed: 100, burstMoves: 10 });
    w.join(1, 150, 150, 0); // watcher in cell 11
    w.join(2, 350, 150, 0); // cell 13, not watched yet
    w.join(3, 50, 150, 0); // cell 10, watched from 11 but not from 12
    w.endTick();
    w.move(1, { seq: 1, x: 250, y: 150 }, 10); // watcher to cell 12: column 0 drops out
    w.leave(3); // ...and entity 3 leaves from a cell that dropped out
    const v = w.endTick().views.find((x) => x.id === 1)!;
    expect(v.remove).toEqual([3]);
  });

  it("resetView re-sends the full view", () => {
    const w = new World(rules);
    w.join(1, 150, 150, 0);
    w.join(2, 160, 150, 0);
    w.endTick();
    w.resetView(1);
    expect(ids(w.endTick().views.find((x) => x.id === 1)!.add)).toEqual([1, 2]);
  });
});

/** A client applying ticks by the documented rule: deletions first, then upserts. */
class ClientModel {
  cells = new Set<number>();
  known = new Map<number, EntityRecord>();
  apply(id: number, t: TickChanges): void {
    const v = t.views.find((x) => x.id === id);
    if (v) this.cells = new Set(v.cells);
    const watched = t.cells.filter((c) => this.cells.has(c.cell));
    for (const r of v?.remove ?? []) this.known.delete(r);
    for (const c of watched) for (const g of c.gone) this.known.delete(g);
    for (const r of v ? decodeRecords(v.add) : []) this.known.set(r.id, r);
    for (const c of watched) for (const r of decodeRecords(c.moved)) this.known.set(r.id, r);
  }
}

function truth(w: World, id: number): Map<number, EntityRecord> {
  const self = w.get(id)!;
  const out = new Map<number, EntityRecord>();
  for (const c of w.grid.watched(self.cell)) {
    for (const o of w.cellMembers(c)) {
      const e = w.get(o)!;
      out.set(o, { id: o, x: e.x, y: e.y, seq: Math.max(0, e.seq) });
    }
  }
  return out;
}

describe("AOI property: incremental view equals the view computed from scratch", () => {
  const small: FieldRules = { worldSize: 100, cellSize: 20, maxSpeed: 35, movesPerSec: 1000, burstMoves: 2 };
  const op = fc.oneof(
    { weight: 6, arbitrary: fc.record({ k: fc.constant("move" as const), id: fc.integer({ min: 1, max: 5 }), x: fc.integer({ min: -10, max: 110 }), y: fc.integer({ min: -10, max: 110 }) }) },
    { weight: 2, arbitrary: fc.record({ k: fc.constant("join" as const), id: fc.integer({ min: 1, max: 5 }), x: fc.integer({ min: 0, max: 100 }), y: fc.integer({ min: 0, max: 100 }) }) },
    { weight: 1, arbitrary: fc.record({ k: fc.constant("leave" as const), id: fc.integer({ min: 1, max: 5 }) }) },
    { weight: 3, arbitrary: fc.record({ k: fc.constant("tick" as const) }) },
    { weight: 1, arbitrary: fc.record({ k: fc.constant("reset" as const), id: fc.integer({ min: 1, max: 5 }) }) },
  );
  it("holds for random joins, leaves, moves and resets", () => {
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 120 }), (ops) => {
        const w = new World(small);
        const clients = new Map<number, ClientModel>();
        let seq = 0;
        let now = 0;
        const tick = () => {
          const t = w.endTick();
          for (const [id, c] of clients) c.apply(id, t);
          for (const id of clients.keys()) expect(clients.get(id)!.known).toEqual(truth(w, id));
        };
        for (const o of ops) {
          now += 7;
          if (o.k === "join" && !w.has(o.id)) {
            w.join(o.id, o.x, o.y, now);
            clients.set(o.id, new ClientModel());
          } else if (o.k === "leave" && w.has(o.id)) {
            w.leave(o.id);
            clients.delete(o.id);
          } else if (o.k === "move") {
            w.move(o.id, { seq: ++seq, x: o.x, y: o.y }, now);
          } else if (o.k === "reset" && w.has(o.id)) {
            w.resetView(o.id);
            clients.set(o.id, new ClientModel());
          } else if (o.k === "tick") {
            tick();
          }
        }
        tick();
      }),
      { numRuns: 1500 },
    );
  });
});

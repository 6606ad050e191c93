/**
 * The world of one zone (pure, single-threaded, no IO): entities on an AOI grid plus the
 * per-tick change tracking that feeds the wire.
 *
 * Usage per tick: any number of `join` / `leave` / `move` calls, then ONE `endTick()` which
 * returns what changed since the previous `endTick()`:
 *
 * - `cells`: per changed cell, `moved` = binary records (see records.ts) of the entities that
 *   moved within or into the cell (state as of the end of the tick; every applied move
 *   counts, even a zero-distance one, because the record carries the new `seq`), and `gone` =
 *   ids that left the cell (moved out or left the zone).
 * - `views`: per watcher whose watched-cell set changed (it crossed a cell border, joined, or
 *   had its view reset): the new set of watched cells, `add` = records of every entity in the
 *   newly watched cells, `remove` = ids it may know that are in no watched cell any more.
 *
 * Client rule that makes the incremental view exact (property-tested): apply a tick by
 * FIRST deleting every id in `remove` and in the `gone` list of every watched cell, THEN
 * upserting every record of `add` and of the `moved` list of every watched cell (the new
 * watched set). Duplicates are harmless; deleting an unknown id is a no-op.
 *
 * Cell ids in the output are offset by `cellBase` so several zones on one server never share
 * an id (the gateway treats ids as opaque, scoped to the link).
 */
import { Grid } from "./grid.js";
import { applyMove, newMotion, type Motion, type MoveInput, type MoveOutcome } from "./movement.js";
import { ENTITY_RECORD_BYTES } from "../core/protocol/messages.js";
import { encodeRecords, writeRecord } from "./records.js";
import { checkRules, type FieldRules } from "./rules.js";

export interface Entity extends Motion {
  readonly id: number;
  /** Local cell index (without cellBase). */
  cell: number;
  /** Centre cell of the view last reported to this watcher; -1 = nothing reported yet. */
  viewCell: number;
  readonly watcher: boolean;
}

export interface CellChange {
  /** Cell id (with cellBase). */
  readonly cell: number;
  readonly moved: Uint8Array;
  readonly gone: number[];
}

export interface ViewChange {
  readonly id: number;
  /** The full new set of watched cell ids (with cellBase). */
  readonly cells: number[];
  readonly add: Uint8Array;
  readonly remove: number[];
}

export interface TickChanges {
  readonly cells: CellChange[];
  readonly views: ViewChange[];
}

export interface WorldOptions {
  /** Added to every cell id reported outside (default 0). */
  cellBase?: number;
}

export class World {
  readonly grid: Grid;
  readonly cellBase: number;
  private readonly entities = new Map<number, Entity>();
  private readonly members: Set<number>[];
  private moved = new Map<number, Set<number>>();
  private gone = new Map<number, Set<number>>();
  private viewDirty = new Set<number>();

  constructor(
    readonly rules: FieldRules,
    opts: WorldOptions = {},
  ) {
    checkRules(rules);
    this.grid = new Grid(rules.worldSize, rules.cellSize);
    this.cellBase = opts.cellBase ?? 0;
    this.members = Array.from({ length: this.grid.cellCount }, () => new Set<number>());
  }

  get size(): number {
    return this.entities.size;
  }

  get(id: number): Entity | undefined {
    return this.entities.get(id);
  }

  has(id: number): boolean {
    return this.entities.has(id);
  }

  ids(): IterableIterator<number> {
    return this.entities.keys();
  }

  /** Add an entity at (x, y) (clamped into the world). Throws if the id is already present. */
  join(id: number, x: number, y: number, nowMs: number, opts: { watcher?: boolean } = {}): Entity {
    if (this.entities.has(id)) throw new Error(`entity ${id} already in the world`);
    const m = newMotion(x, y, nowMs, this.rules);
    const cell = this.grid.cellOf(m.x, m.y);
    // one literal with every field: all entities share one hidden class (hot paths stay monomorphic)
    const e: Entity = { id, x: m.x, y: m.y, seq: m.seq, tokens: m.tokens, refillAt: m.refillAt, cell, viewCell: -1, watcher: opts.watcher ?? true };
    this.entities.set(id, e);
    this.members[cell]!.add(id);
    this.markMoved(cell, id);
    if (e.watcher) this.viewDirty.add(id);
    return e;
  }

  /** Remove an entity; returns its last state, or undefined if absent. */
  leave(id: number): Entity | undefined {
    const e = this.entities.get(id);
    if (!e) return undefined;
    this.entities.delete(id);
    this.members[e.cell]!.delete(id);
    this.markGone(e.cell, id);
    this.viewDirty.delete(id);
    return e;
  }

  /** Validate and apply a move; undefined when the entity is unknown. */
  move(id: number, input: MoveInput, nowMs: number): MoveOutcome | undefined {
    const e = this.entities.get(id);
    if (!e) return undefined;
    const out = applyMove(e, input, nowMs, this.rules);
    if (out.kind !== "applied") return out;
    const cell = this.grid.cellOf(e.x, e.y);
    if (cell !== e.cell) {
      this.members[e.cell]!.delete(id);
      this.markGone(e.cell, id);
      this.members[cell]!.add(id);
      e.cell = cell;
      if (e.watcher) this.viewDirty.add(id);
    }
    this.markMoved(cell, id);
    return out;
  }

  /** Forget what was reported to this watcher: the next endTick sends its full view. */
  resetView(id: number): void {
    const e = this.entities.get(id);
    if (!e || !e.watcher) return;
    e.viewCell = -1;
    this.viewDirty.add(id);
  }

  /** Cell ids (with cellBase) this watcher currently watches, as last reported. */
  watchedCells(id: number): number[] {
    const e = this.entities.get(id);
    if (!e || e.viewCell < 0) return [];
    return this.grid.watched(e.viewCell).map((c) => c + this.cellBase);
  }

  /** Ids in a local cell (tests, tools). */
  cellMembers(cell: number): ReadonlySet<number> {
    return this.members[cell] ?? new Set();
  }

  private markMoved(cell: number, id: number): void {
    let s = this.moved.get(cell);
    if (!s) this.moved.set(cell, (s = new Set()));
    s.add(id);
    this.gone.get(cell)?.delete(id);
  }

  private markGone(cell: number, id: number): void {
    let s = this.gone.get(cell);
    if (!s) this.gone.set(cell, (s = new Set()));
    s.add(id);
    this.moved.get(cell)?.delete(id);
  }

  /** Close the tick: report and reset the change lists (see the module comment). */
  endTick(): TickChanges {
    const views: ViewChange[] = [];
    for (const id of this.viewDirty) {
      const v = this.viewChange(id);
      if (v) views.push(v);
    }
    const changed = new Set<number>([...this.moved.keys(), ...this.gone.keys()]);
    const cells: CellChange[] = [];
    for (const cell of [...changed].sort((a, b) => a - b)) {
      const movedIds = this.moved.get(cell);
      const goneIds = this.gone.get(cell);
      const n = movedIds?.size ?? 0;
      const gone = goneIds ? [...goneIds] : [];
      if (n === 0 && gone.length === 0) continue;
      const moved = new Uint8Array(n * ENTITY_RECORD_BYTES);
      if (movedIds) {
        const dv = new DataView(moved.buffer);
        let off = 0;
        for (const id of movedIds) {
          writeRecord(dv, off, this.entities.get(id)!);
          off += ENTITY_RECORD_BYTES;
        }
      }
      cells.push({ cell: cell + this.cellBase, moved, gone });
    }
    this.moved = new Map();
    this.gone = new Map();
    this.viewDirty = new Set();
    return { cells, views };
  }

  private viewChange(id: number): ViewChange | undefined {
    const e = this.entities.get(id);
    if (!e || !e.watcher || e.viewCell === e.cell) return undefined;
    const g = this.grid;
    const oldCentre = e.viewCell;
    const oldCells = oldCentre >= 0 ? g.watched(oldCentre) : [];
    const newCells = g.watched(e.cell);
    const add: Entity[] = [];
    for (const c of newCells) {
      if (oldCentre >= 0 && g.isWatched(oldCentre, c)) continue;
      for (const other of this.members[c]!) add.push(this.entities.get(other)!);
    }
    const remove = new Set<number>();
    for (const c of oldCells) {
      if (g.isWatched(e.cell, c)) continue;
      const consider = (other: number) => {
        const o = this.entities.get(other);
        if (!o || !g.isWatched(e.cell, o.cell)) remove.add(other);
      };
      for (const other of this.members[c]!) consider(other);
      const goneIds = this.gone.get(c);
      if (goneIds) for (const other of goneIds) consider(other);
    }
    e.viewCell = e.cell;
    return { id, cells: newCells.map((c) => c + this.cellBase), add: encodeRecords(add), remove: [...remove] };
  }
}

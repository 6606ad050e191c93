/**
 * The client's visible-entity map, maintained from server frames.
 *
 * A frame is applied as a unit: first every removal of the frame is collected (`cell.g`,
 * `aoi.remove`), then every record is upserted (`cell.m`, `aoi.add`), then the removed ids
 * that were NOT upserted in the same frame are deleted. An entity moving between two watched
 * cells is "gone" from one and "present" in the other within the same frame: it stays
 * visible and is reported as a move, never as leave + enter.
 *
 * The own entity (`selfId`) is kept apart (`self`), not in the map.
 */
import { ENTITY_RECORD_BYTES } from "../core/protocol/messages.js";

export interface Entity {
  id: number;
  x: number;
  y: number;
  /** Last input sequence the server applied for this entity. */
  seq: number;
}

export interface FrameChanges {
  entered: Entity[];
  moved: Entity[];
  left: number[];
  /** The own record, if the frame carried it. */
  self: Entity | undefined;
}

/** Iterate the 16-byte records of a blob (a trailing partial record is ignored). */
export function forEachRecord(blob: Uint8Array, fn: (id: number, x: number, y: number, seq: number) => void): void {
  const dv = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  for (let off = 0; off + ENTITY_RECORD_BYTES <= blob.byteLength; off += ENTITY_RECORD_BYTES) {
    fn(dv.getUint32(off, true), dv.getFloat32(off + 4, true), dv.getFloat32(off + 8, true), dv.getUint32(off + 12, true));
  }
}

export class VisibleEntities {
  private readonly map = new Map<number, Entity>();
  selfId: number | undefined;

  get size(): number {
    return this.map.size;
  }

  get(id: number): Entity | undefined {
    return this.map.get(id);
  }

  all(): IterableIterator<Entity> {
    return this.map.values();
  }

  /** Forget everything (new zone / new `enter`). Returns the ids that were visible. */
  clear(): number[] {
    const ids = [...this.map.keys()];
    this.map.clear();
    return ids;
  }

  /** Apply one frame's removals and record blobs (see the class contract). */
  apply(removals: readonly number[], blobs: readonly Uint8Array[]): FrameChanges {
    const changes: FrameChanges = { entered: [], moved: [], left: [], self: undefined };
    const removed = new Set(removals);
    const upserted = new Set<number>();
    for (const blob of blobs) {
      forEachRecord(blob, (id, x, y, seq) => {
        if (id === this.selfId) {
          changes.self = { id, x, y, seq };
          return;
        }
        upserted.add(id);
        const e = this.map.get(id);
        if (!e) {
          const n = { id, x, y, seq };
          this.map.set(id, n);
          changes.entered.push(n);
        } else if (e.x !== x || e.y !== y || e.seq !== seq) {
          e.x = x;
          e.y = y;
          e.seq = seq;
          changes.moved.push(e);
        }
      });
    }
    for (const id of removed) {
      if (upserted.has(id)) continue;
      if (this.map.delete(id)) changes.left.push(id);
    }
    return changes;
  }
}

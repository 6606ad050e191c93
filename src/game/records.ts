/**
 * Binary entity records (see ENTITY_RECORD_BYTES in src/core/protocol/messages.ts):
 * little-endian `u32 id | f32 x | f32 y | u32 seq`, 16 bytes each, packed back to back.
 */
import { ENTITY_RECORD_BYTES } from "../core/protocol/messages.js";

export interface EntityRecord {
  id: number;
  x: number;
  y: number;
  /** Last applied input sequence (0 before the first move). */
  seq: number;
}

/** Write one record at byte offset `off` of `dv`. */
export function writeRecord(dv: DataView, off: number, e: EntityRecord): void {
  dv.setUint32(off, e.id >>> 0, true);
  dv.setFloat32(off + 4, e.x, true);
  dv.setFloat32(off + 8, e.y, true);
  dv.setUint32(off + 12, e.seq < 0 ? 0 : e.seq >>> 0, true);
}

export function encodeRecords(items: Iterable<EntityRecord> & { readonly length?: number; readonly size?: number }): Uint8Array {
  const n = items.length ?? items.size ?? [...items].length;
  const buf = new Uint8Array(n * ENTITY_RECORD_BYTES);
  const dv = new DataView(buf.buffer);
  let off = 0;
  for (const e of items) {
    writeRecord(dv, off, e);
    off += ENTITY_RECORD_BYTES;
  }
  return buf;
}

/** Decode records; a trailing partial record is an error (throws RangeError). */
export function decodeRecords(bytes: Uint8Array): EntityRecord[] {
  if (bytes.byteLength % ENTITY_RECORD_BYTES !== 0) throw new RangeError(`records: ${bytes.byteLength} bytes is not a multiple of ${ENTITY_RECORD_BYTES}`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: EntityRecord[] = [];
  for (let off = 0; off < bytes.byteLength; off += ENTITY_RECORD_BYTES) {
    out.push({ id: dv.getUint32(off, true), x: dv.getFloat32(off + 4, true), y: dv.getFloat32(off + 8, true), seq: dv.getUint32(off + 12, true) });
  }
  return out;
}

/**
 * The bots' fast path: find the client's OWN 16-byte entity record in a server frame without
 * decoding it into objects. A tiny allocation-free msgpack walker steps over the frame's
 * envelopes `[1, type, body]`; inside `cell` (key `m`) and `aoi` (key `add`) bodies it scans
 * the binary record blobs at a 16-byte stride for the self id. Any other envelope type is
 * reported (`other`) so the caller can fall back to a full decode for that frame (rare:
 * enter, pong, relocated, error…).
 *
 * Works on any valid msgpack encoding of the envelopes (fix/8/16/32 forms), not just on
 * what our server happens to emit. Throws RangeError on truncated or invalid input.
 */
import { ENTITY_RECORD_BYTES } from "./messages.js";

export interface SelfRecord {
  x: number;
  y: number;
  seq: number;
}

export interface ScanResult {
  /** The last self record found in the frame, if any. */
  self: SelfRecord | undefined;
  /** The frame holds an envelope other than `cell` / `aoi`. */
  other: boolean;
}

const enum T {
  Str,
  Bin,
  Arr,
  Map,
  Other,
}

class Walker {
  pos = 0;
  /** Set by head(): length of str/bin, count of arr/map. */
  len = 0;
  readonly dv: DataView;

  constructor(readonly b: Uint8Array) {
    this.dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  }

  private need(n: number): void {
    if (this.pos + n > this.b.byteLength) throw new RangeError("msgpack: truncated");
  }

  private u8(): number {
    this.need(1);
    return this.b[this.pos++]!;
  }

  private u16(): number {
    this.need(2);
    const v = this.dv.getUint16(this.pos);
    this.pos += 2;
    return v;
  }

  private u32(): number {
    this.need(4);
    const v = this.dv.getUint32(this.pos);
    this.pos += 4;
    return v;
  }

  /** Read a value header; for scalars the value is skipped entirely. */
  head(): T {
    const c = this.u8();
    if (c <= 0x7f || c >= 0xe0) return T.Other; // fixint
    if (c >= 0xa0 && c <= 0xbf) return (this.len = c & 0x1f), T.Str;
    if (c >= 0x90 && c <= 0x9f) return (this.len = c & 0x0f), T.Arr;
    if (c >= 0x80 && c <= 0x8f) return (this.len = c & 0x0f), T.Map;
    switch (c) {
      case 0xc0: case 0xc2: case 0xc3: return T.Other;
      case 0xc4: return (this.len = this.u8()), T.Bin;
      case 0xc5: return (this.len = this.u16()), T.Bin;
      case 0xc6: return (this.len = this.u32()), T.Bin;
      case 0xd9: return (this.len = this.u8()), T.Str;
      case 0xda: return (this.len = this.u16()), T.Str;
      case 0xdb: return (this.len = this.u32()), T.Str;
      case 0xdc: return (this.len = this.u16()), T.Arr;
      case 0xdd: return (this.len = this.u32()), T.Arr;
      case 0xde: return (this.len = this.u16()), T.Map;
      case 0xdf: return (this.len = this.u32()), T.Map;
      case 0xcc: case 0xd0: this.skipBytes(1); return T.Other;
      case 0xcd: case 0xd1: this.skipBytes(2); return T.Other;
      case 0xca: case 0xce: case 0xd2: this.skipBytes(4); return T.Other;
      case 0xcb: case 0xcf: case 0xd3: this.skipBytes(8); return T.Other;
      case 0xd4: this.skipBytes(2); return T.Other; // fixext 1
      case 0xd5: this.skipBytes(3); return T.Other;
      case 0xd6: this.skipBytes(5); return T.Other;
      case 0xd7: this.skipBytes(9); return T.Other;
      case 0xd8: this.skipBytes(17); return T.Other;
      case 0xc7: this.skipBytes(this.u8() + 1); return T.Other;
      case 0xc8: this.skipBytes(this.u16() + 1); return T.Other;
      case 0xc9: this.skipBytes(this.u32() + 1); return T.Other;
      default: throw new RangeError(`msgpack: invalid byte 0x${c.toString(16)}`);
    }
  }

  skipBytes(n: number): void {
    this.need(n);
    this.pos += n;
  }

  /** Skip one whole value (iterative for containers). */
  skip(): void {
    let pending = 1;
    while (pending > 0) {
      pending--;
      const t = this.head();
      if (t === T.Str || t === T.Bin) this.skipBytes(this.len);
      else if (t === T.Arr) pending += this.len;
      else if (t === T.Map) pending += this.len * 2;
    }
  }

  /** Skip the contents of a value whose header `t` was just read by head(). */
  skipContents(t: T): void {
    if (t === T.Str || t === T.Bin) this.skipBytes(this.len);
    else if (t === T.Arr || t === T.Map) {
      const n = t === T.Arr ? this.len : this.len * 2;
      for (let i = 0; i < n; i++) this.skip();
    }
  }

  /** After a Str head(): compare its bytes with ASCII `s` and advance past the string. */
  strEquals(s: string): boolean {
    const start = this.pos;
    const len = this.len;
    this.skipBytes(len);
    if (len !== s.length) return false;
    for (let i = 0; i < len; i++) if (this.b[start + i] !== s.charCodeAt(i)) return false;
    return true;
  }

  /** Compare bytes [start, start+len) with ASCII `s`. */
  eq(start: number, len: number, s: string): boolean {
    if (len !== s.length) return false;
    for (let i = 0; i < len; i++) if (this.b[start + i] !== s.charCodeAt(i)) return false;
    return true;
  }
}

/** Scan one frame for the record of entity `selfId`. */
export function scanSelf(frame: Uint8Array, selfId: number): ScanResult {
  const w = new Walker(frame);
  const out: ScanResult = { self: undefined, other: false };
  const id = selfId >>> 0;
  while (w.pos < frame.byteLength) {
    if (w.head() !== T.Arr || w.len !== 3) throw new RangeError("envelope must be a 3-element array");
    w.skip(); // version
    if (w.head() !== T.Str) throw new RangeError("envelope type must be a string");
    const typeStart = w.pos;
    w.skipBytes(w.len);
    const typeLen = w.pos - typeStart;
    const isCell = w.eq(typeStart, typeLen, "cell");
    const isAoi = !isCell && w.eq(typeStart, typeLen, "aoi");
    if (!isCell && !isAoi) {
      out.other = true;
      w.skip();
      continue;
    }
    const blobKey = isCell ? "m" : "add";
    if (w.head() !== T.Map) throw new RangeError("envelope body must be a map");
    const n = w.len;
    for (let i = 0; i < n; i++) {
      const kt = w.head();
      let isBlob = false;
      if (kt === T.Str) isBlob = w.strEquals(blobKey);
      else w.skipContents(kt);
      if (!isBlob) {
        w.skip();
        continue;
      }
      if (w.head() !== T.Bin) throw new RangeError(`${blobKey} must be binary`);
      const start = w.pos;
      const len = w.len;
      w.skipBytes(len);
      for (let off = 0; off + ENTITY_RECORD_BYTES <= len; off += ENTITY_RECORD_BYTES) {
        if (w.dv.getUint32(start + off, true) === id) {
          out.self = {
            x: w.dv.getFloat32(start + off + 4, true),
            y: w.dv.getFloat32(start + off + 8, true),
            seq: w.dv.getUint32(start + off + 12, true),
          };
        }
      }
    }
  }
  return out;
}

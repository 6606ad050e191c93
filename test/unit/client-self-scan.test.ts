/**
 * The bots' fast path: scanSelf must find exactly what a full decode finds, on any frame of
 * concatenated envelopes, with any valid msgpack encoding.
 */
import fc from "fast-check";
import { Packr } from "msgpackr";
import { describe, expect, test } from "vitest";
import { scanSelf } from "../../src/core/protocol/self-scan.js";
import { encodeEnvelope, unpackStream } from "../../src/core/protocol/codec.js";
import { encodeRecords, decodeRecords, type EntityRecord } from "../../src/game/records.js";

const f32 = (n: number) => Math.fround(n);

/** Reference: decode everything and take the last record with the id. */
function reference(frame: Uint8Array, id: number): { x: number; y: number; seq: number } | undefined {
  let found: { x: number; y: number; seq: number } | undefined;
  for (const env of unpackStream(frame) as [number, string, Record<string, unknown>][]) {
    const blob = env[1] === "cell" ? env[2].m : env[1] === "aoi" ? env[2].add : undefined;
    if (!(blob instanceof Uint8Array)) continue;
    for (const r of decodeRecords(blob)) if (r.id === id) found = { x: r.x, y: r.y, seq: r.seq };
  }
  return found;
}

const record = fc.record({
  id: fc.integer({ min: 0, max: 20 }),
  x: fc.float({ noNaN: true, min: -1000, max: 1000 }).map(f32),
  y: fc.float({ noNaN: true, min: -1000, max: 1000 }).map(f32),
  seq: fc.integer({ min: 0, max: 0xffffffff }),
});
const envelope = fc.oneof(
  fc.record({ c: fc.nat(1000), tick: fc.nat(), recs: fc.array(record, { maxLength: 30 }), g: fc.array(fc.nat(50), { maxLength: 5 }) }).map((b) => encodeEnvelope("cell", { c: b.c, tick: b.tick, m: encodeRecords(b.recs as EntityRecord[]), g: b.g })),
  fc.record({ recs: fc.array(record, { maxLength: 30 }), remove: fc.array(fc.nat(50), { maxLength: 5 }) }).map((b) => encodeEnvelope("aoi", { add: encodeRecords(b.recs as EntityRecord[]), remove: b.remove })),
  fc.record({ t: fc.double({ noNaN: true }), s: fc.double({ noNaN: true }) }).map((b) => encodeEnvelope("pong", b)),
  fc.string().map((m) => encodeEnvelope("error", { code: "RIFT_X", message: m })),
);

describe("scanSelf", () => {
  test("agrees with a full decode on random frames", () => {
    fc.assert(
      fc.property(fc.array(envelope, { minLength: 1, maxLength: 12 }), fc.integer({ min: 0, max: 20 }), (envs, id) => {
        const frame = Buffer.concat(envs);
        const r = scanSelf(frame, id);
        expect(r.self).toEqual(reference(frame, id));
        const types = (unpackStream(frame) as [number, string][]).map((e) => e[1]);
        expect(r.other).toBe(types.some((t) => t !== "cell" && t !== "aoi"));
      }),
      { numRuns: 300 },
    );
  });

  test("handles other valid encodings (str8 keys, map16, bin16, fields in any order)", () => {
    const blob = encodeRecords([{ id: 3, x: 1, y: 2, seq: 9 }]);
    // hand-built: fixarray(3) [1, "cell", map16 {g:[], "m": bin16 blob, tick: 1, c: 2}]
    const parts: number[] = [0x93, 0x01, 0xa4, ...Buffer.from("cell"), 0xde, 0x00, 0x04];
    parts.push(0xa1, ...Buffer.from("g"), 0x90);
    parts.push(0xd9, 0x01, ...Buffer.from("m"), 0xc5, 0x00, blob.length, ...blob);
    parts.push(0xa4, ...Buffer.from("tick"), 0xcd, 0x01, 0x00);
    parts.push(0xa1, ...Buffer.from("c"), 0x02);
    const frame = Uint8Array.from(parts);
    expect(reference(frame, 3)).toEqual({ x: 1, y: 2, seq: 9 });
    expect(scanSelf(frame, 3)).toEqual({ self: { x: 1, y: 2, seq: 9 }, other: false });
    // and with records enabled by another msgpack library configuration for the body
    const packr = new Packr({ useRecords: false, variableMapSize: false });
    const other = packr.pack([1, "aoi", { remove: [1, 2], add: Buffer.from(blob) }]);
    expect(scanSelf(other, 3).self).toEqual({ x: 1, y: 2, seq: 9 });
  });

  test("an id appearing only inside other fields is not mistaken for the record", () => {
    const frame = encodeEnvelope("cell", { c: 3, tick: 3, m: encodeRecords([{ id: 4, x: 3, y: 3, seq: 3 }]), g: [3] });
    expect(scanSelf(frame, 3).self).toBeUndefined();
  });

  test("truncated or invalid frames throw RangeError", () => {
    const frame = encodeEnvelope("cell", { c: 1, tick: 1, m: encodeRecords([{ id: 1, x: 1, y: 1, seq: 1 }]), g: [] });
    expect(() => scanSelf(frame.subarray(0, frame.length - 3), 1)).toThrow(RangeError);
    expect(() => scanSelf(Uint8Array.from([0xc1]), 1)).toThrow(RangeError);
    expect(() => scanSelf(Uint8Array.from([0x01]), 1)).toThrow(RangeError);
  });
});

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decodeFrame, decodeOne, encodeEnvelope, pack, ProtocolError, PROTOCOL_VERSION } from "../../src/core/protocol/codec.js";
import { ClientSchemas } from "../../src/core/protocol/messages.js";
import { ErrorCatalog } from "../../src/core/errors.js";

const MAX = 16 * 1024;

describe("protocol codec", () => {
  it("round-trips a valid message", () => {
    const bytes = encodeEnvelope("move", { seq: 7, x: 1.5, y: 2 });
    expect(decodeOne(ClientSchemas, bytes, MAX)).toEqual({ t: "move", b: { seq: 7, x: 1.5, y: 2 } });
  });

  it("decodes several concatenated envelopes when allowed, and refuses them when not", () => {
    const a = encodeEnvelope("ping", { t: 1 });
    const b = encodeEnvelope("ping", { t: 2 });
    const both = Buffer.concat([a, b]);
    expect(decodeFrame(ClientSchemas, both, { maxBytes: MAX, maxMessages: 2 }).map((m) => m.b)).toEqual([{ t: 1 }, { t: 2 }]);
    expect(() => decodeOne(ClientSchemas, both, MAX)).toThrowError(ProtocolError);
  });

  it.each([
    ["wrong version", pack([PROTOCOL_VERSION + 1, "ping", { t: 1 }]), "PROTO_VERSION"],
    ["unknown type", pack([PROTOCOL_VERSION, "nope", {}]), "PROTO_UNKNOWN_TYPE"],
    ["schema violation", pack([PROTOCOL_VERSION, "move", { seq: -1, x: 0, y: 0 }]), "PROTO_SCHEMA"],
    ["extra field", pack([PROTOCOL_VERSION, "ping", { t: 1, evil: true }]), "PROTO_SCHEMA"],
    ["not an envelope", pack({ t: "ping" }), "PROTO_MALFORMED"],
    ["empty", new Uint8Array(0), "PROTO_MALFORMED"],
    ["truncated", encodeEnvelope("move", { seq: 1, x: 1, y: 1 }).subarray(0, 5), "PROTO_MALFORMED"],
    ["too large", new Uint8Array(MAX + 1), "PROTO_TOO_LARGE"],
  ] as const)("rejects %s with %s", (_name, bytes, key) => {
    try {
      decodeOne(ClientSchemas, bytes, MAX);
      expect.unreachable("should have thrown");
    } catch (e) {
      expect(e).toBeInstanceOf(ProtocolError);
      expect((e as ProtocolError).key).toBe(key);
      expect((e as ProtocolError).def.close).toBe(ErrorCatalog[key].close);
    }
  });

  it("property: arbitrary bytes decode to a valid message or a ProtocolError, nothing else", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
        try {
          const msgs = decodeFrame(ClientSchemas, bytes, { maxBytes: MAX, maxMessages: 4 });
          for (const m of msgs) expect(ClientSchemas[m.t].safeParse(m.b).success).toBe(true);
        } catch (e) {
          if (!(e instanceof ProtocolError)) throw e;
        }
      }),
      { numRuns: 5000 },
    );
  });

  it("property: mutated valid frames decode to a valid message or a ProtocolError", () => {
    const valid = fc.oneof(
      fc.record({ seq: fc.nat(), x: fc.double({ noNaN: true, min: -1000, max: 1000 }), y: fc.double({ noNaN: true, min: -1000, max: 1000 }) }).map((b) => encodeEnvelope("move", b)),
      fc.record({ proto: fc.integer(), client: fc.string({ maxLength: 70 }) }).map((b) => encodeEnvelope("hello", b)),
      fc.anything().map((b) => encodeEnvelope("login", b)),
    );
    fc.assert(
      fc.property(valid, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }), (frame, edits) => {
        const bytes = Uint8Array.from(frame);
        for (const [pos, val] of edits) if (bytes.length > 0) bytes[pos % bytes.length] = val;
        try {
          decodeFrame(ClientSchemas, bytes, { maxBytes: MAX, maxMessages: 4 });
        } catch (e) {
          if (!(e instanceof ProtocolError)) throw e;
        }
      }),
      { numRuns: 5000 },
    );
  });
});

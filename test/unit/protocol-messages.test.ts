/** Client protocol schemas: what the gateway accepts and refuses, byte-exact examples. */
import { describe, expect, test } from "vitest";
import { decodeOne, encodeEnvelope, ProtocolError } from "../../src/core/protocol/codec.js";
import { ClientSchemas, ENTITY_RECORD_BYTES } from "../../src/core/protocol/messages.js";
import { encodeRecords } from "../../src/game/records.js";

const decode = (type: string, body: unknown) => decodeOne(ClientSchemas, encodeEnvelope(type, body), 16384);
const keyOf = (f: () => unknown) => {
  try {
    f();
    return "ok";
  } catch (e) {
    return e instanceof ProtocolError ? e.key : String(e);
  }
};

describe("client messages", () => {
  test.each([
    ["hello", { proto: 1, client: "bot" }],
    ["register", { name: "alice_1", password: "secret" }],
    ["login", { name: "alice_1", password: "secret" }],
    ["login", { token: "0123456789abcdef" }],
    ["move", { seq: 0, x: 1.5, y: -2 }],
    ["move", { seq: 0xffffffff, x: 1e6, y: -1e6 }],
    ["ping", { t: 12.5 }],
    ["travel", { zone: "dungeon-7" }],
  ])("accepts %s %j", (type, body) => {
    expect(decode(type, body)).toEqual({ t: type, b: body });
  });

  test.each([
    ["hello", { proto: 1 }],
    ["hello", { proto: 1, client: "x".repeat(65) }],
    ["register", { name: "al", password: "secret" }],
    ["register", { name: "bad name", password: "secret" }],
    ["register", { name: "alice", password: "short" }],
    ["login", { name: "alice", password: "secret", token: "0123456789" }],
    ["login", { token: "short" }],
    ["move", { seq: -1, x: 0, y: 0 }],
    ["move", { seq: 1.5, x: 0, y: 0 }],
    ["move", { seq: 1, x: 2e6, y: 0 }],
    ["move", { seq: 1, x: 0 }],
    ["ping", { t: "now" }],
    ["travel", { zone: "../etc" }],
    ["travel", { zone: "" }],
  ])("refuses %s %j with PROTO_SCHEMA", (type, body) => {
    expect(keyOf(() => decode(type, body))).toBe("PROTO_SCHEMA");
  });

  test("NaN and Infinity coordinates are refused", () => {
    expect(keyOf(() => decode("move", { seq: 1, x: Number.NaN, y: 0 }))).toBe("PROTO_SCHEMA");
    expect(keyOf(() => decode("move", { seq: 1, x: Number.POSITIVE_INFINITY, y: 0 }))).toBe("PROTO_SCHEMA");
  });

  test("example bytes in PROTOCOL.md: ping {t: 1}", () => {
    // 93 01 a4 'ping' 81 a1 't' 01
    expect(Buffer.from(encodeEnvelope("ping", { t: 1 })).toString("hex")).toBe("9301a470696e6781a17401");
  });

  test("example bytes in PROTOCOL.md: move {seq: 1, x: 10.5, y: 20}", () => {
    expect(Buffer.from(encodeEnvelope("move", { seq: 1, x: 10.5, y: 20 })).toString("hex")).toBe(
      "9301a46d6f766583a373657101a178cb4025000000000000a17914",
    );
  });

  test("entity record layout: 16 bytes little-endian", () => {
    expect(ENTITY_RECORD_BYTES).toBe(16);
    const b = Buffer.from(encodeRecords([{ id: 7, x: 1.5, y: 2, seq: 3 }]));
    expect(b.toString("hex")).toBe("07000000" + "0000c03f" + "00000040" + "03000000");
  });
});

import { describe, expect, it } from "vitest";
import { ErrorCatalog, errorByCloseCode, errorByCode, RiftError } from "../../src/core/errors.js";

describe("error catalog", () => {
  const entries = Object.entries(ErrorCatalog);

  it("has unique string codes and unique close codes in the application range", () => {
    const codes = entries.map(([, d]) => d.code);
    expect(new Set(codes).size).toBe(codes.length);
    const closes = entries.map(([, d]) => (d as { close?: number }).close).filter((c): c is number => c !== undefined);
    expect(new Set(closes).size).toBe(closes.length);
    for (const c of closes) expect(c === 1011 || (c >= 4000 && c <= 4999)).toBe(true);
    for (const code of codes) expect(code).toMatch(/^RIFT_[A-Z0-9_]+$/);
  });

  it("maps close codes and string codes back to entries", () => {
    expect(errorByCloseCode(ErrorCatalog.SEND_QUEUE_FULL.close)?.key).toBe("SEND_QUEUE_FULL");
    expect(errorByCode("RIFT_PROTO_SCHEMA")?.key).toBe("PROTO_SCHEMA");
    expect(errorByCloseCode(4999)).toBeUndefined();
  });

  it("formats one operator line", () => {
    const e = new RiftError("PORT_IN_USE", "127.0.0.1:7000 (gateway.port)");
    expect(e.toLine()).toBe("RIFT_PORT_IN_USE: port already in use: 127.0.0.1:7000 (gateway.port)");
    expect(e.def.exit).toBe(2);
  });
});

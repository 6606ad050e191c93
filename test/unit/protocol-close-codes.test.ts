/**
 * Every close code the gateway or the SDK can use is in the error catalog, codes are unique
 * and in the application range, and docs/PROTOCOL.md documents each of them.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, test } from "vitest";
import { ErrorCatalog, errorByCloseCode, type ErrorDef, type ErrorKey } from "../../src/core/errors.js";
import type { ProtoErrorKey } from "../../src/core/protocol/codec.js";
import { closeCodeOf } from "../../src/gateway/connection.js";

const ROOT = resolve(import.meta.dirname, "../..");
const sources = (dir: string) =>
  readdirSync(join(ROOT, dir))
    .filter((f) => f.endsWith(".ts"))
    .map((f) => ({ file: `${dir}/${f}`, text: readFileSync(join(ROOT, dir, f), "utf8") }));
const files = [...sources("src/gateway"), ...sources("src/client")];

/** Catalog keys passed literally to the functions that close a client connection. */
function usedCloseKeys(): Set<string> {
  const keys = new Set<string>();
  const re = /\b(?:closeWith|kick|drop\(\s*\w+\s*,|closeAll|onTransportError)\(?\s*["']([A-Z_]+)["']/g;
  for (const { text } of files) for (const m of text.matchAll(re)) keys.add(m[1]!);
  // keys chosen by expressions (ternaries, transport errors) appear as `"KEY"` next to these calls
  for (const { text } of files) for (const m of text.matchAll(/\?\s*"([A-Z_]+)"\s*:\s*"([A-Z_]+)"/g)) keys.add(m[1]!).add(m[2]!);
  for (const { text } of files) for (const m of text.matchAll(/key:\s*"([A-Z_]+)",\s*code:/g)) keys.add(m[1]!);
  return keys;
}

describe("close codes", () => {
  test("catalog close codes are unique and in the application range (or 1011 internal)", () => {
    const codes = (Object.values(ErrorCatalog) as ErrorDef[]).flatMap((d) => (d.close === undefined ? [] : [d.close]));
    expect(new Set(codes).size).toBe(codes.length);
    for (const c of codes) expect(c === 1011 || (c >= 4000 && c <= 4999)).toBe(true);
  });

  test("every key the gateway/SDK closes with has a close code in the catalog", () => {
    const keys = usedCloseKeys();
    // sanity: the scan finds the ones we know are used
    for (const k of ["HANDSHAKE_TIMEOUT", "SEND_QUEUE_FULL", "RATE_LIMITED", "PROTO_NOT_BINARY", "SESSION_REPLACED", "SERVER_GONE", "NO_SERVER_FOR_ZONE", "SHUTTING_DOWN", "PROTO_TOO_LARGE"]) {
      expect(keys, k).toContain(k);
    }
    for (const k of keys) {
      expect(Object.keys(ErrorCatalog), `unknown catalog key ${k}`).toContain(k);
      expect((ErrorCatalog[k as ErrorKey] as ErrorDef).close, `${k} has no close code`).toBeTypeOf("number");
    }
  });

  test("protocol errors thrown by the codec all have close codes", () => {
    const protoKeys: ProtoErrorKey[] = ["PROTO_MALFORMED", "PROTO_VERSION", "PROTO_UNKNOWN_TYPE", "PROTO_SCHEMA", "PROTO_TOO_LARGE", "PROTO_NOT_BINARY"];
    for (const k of protoKeys) expect(closeCodeOf(k)).toBe(ErrorCatalog[k].close);
  });

  test("no close call in the gateway or SDK uses a numeric literal outside the catalog", () => {
    for (const { file, text } of files) {
      for (const m of text.matchAll(/\.close\(\s*(\d{4})/g)) {
        const code = Number(m[1]);
        expect(code === 1000 || errorByCloseCode(code) !== undefined, `${file}: close(${code})`).toBe(true);
      }
    }
  });

  test("docs/PROTOCOL.md lists every catalog close code", () => {
    const doc = readFileSync(join(ROOT, "docs/PROTOCOL.md"), "utf8");
    for (const [key, d] of Object.entries(ErrorCatalog) as [string, ErrorDef][]) {
      if (d.close === undefined) continue;
      expect(doc, `${key} (${d.close}) missing from PROTOCOL.md`).toMatch(new RegExp(`\\|\\s*${d.close}\\s*\\|\\s*\`?${d.code}`));
    }
  });
});

/** Password hashing and session tokens (pure). */
import { describe, expect, it } from "vitest";
import { isRiftError } from "../../src/core/errors.js";
import { hashPassword, parseHash, TEST_SCRYPT, verifyAgainstDummy, verifyPassword } from "../../src/shard/passwords.js";
import { HmacTokenService } from "../../src/shard/tokens.js";

describe("scrypt password hashes", () => {
  it("uses the scrypt$N$r$p$salt$hash format with a fresh salt per hash", async () => {
    const a = await hashPassword("hunter22", TEST_SCRYPT);
    const b = await hashPassword("hunter22", TEST_SCRYPT);
    expect(a).toMatch(/^scrypt\$1024\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    expect(a).not.toBe(b);
    expect(parseHash(a)?.params).toEqual(TEST_SCRYPT);
  });

  it("verifies the right password only, reading parameters from the stored hash", async () => {
    const h = await hashPassword("pässwörd", { N: 2048, r: 8, p: 1 });
    expect(await verifyPassword("pässwörd", h)).toBe(true);
    expect(await verifyPassword("passwörd", h)).toBe(false);
    expect(await verifyPassword("", h)).toBe(false);
  });

  it("treats malformed or absurd stored hashes as a mismatch", async () => {
    for (const bad of ["", "plain", "scrypt$1000$8$1$c2FsdHNhbHQ$AAAA", "scrypt$1073741824$8$1$c2FsdHNhbHQ$" + "A".repeat(43), "bcrypt$x"]) {
      expect(await verifyPassword("x", bad)).toBe(false);
    }
    expect(await verifyAgainstDummy("x", TEST_SCRYPT)).toBe(false);
  });
});

describe("HMAC session tokens", () => {
  const clock = { ms: 1_700_000_000_000 };
  const svc = new HmacTokenService({ secret: "0123456789abcdef-secret", ttlSec: 60, now: () => clock.ms });

  it("round-trips any name, including dots and non-ASCII", () => {
    for (const name of ["a", "with.dots.in.it", "名前", "x".repeat(64)]) {
      expect(svc.verify(svc.issue({ userId: 7, name }))).toEqual({ userId: 7, name });
    }
  });

  it("expires after the TTL", () => {
    const t = svc.issue({ userId: 1, name: "a" });
    clock.ms += 59_000;
    expect(svc.verify(t).userId).toBe(1);
    clock.ms += 1_000;
    expect(() => svc.verify(t)).toThrow(expect.objectContaining({ key: "AUTH_TOKEN_INVALID" }));
  });

  it("rejects tokens signed with another secret", () => {
    const other = new HmacTokenService({ secret: "another-secret-of-16+", ttlSec: 60, now: () => clock.ms });
    let err: unknown;
    try {
      svc.verify(other.issue({ userId: 1, name: "a" }));
    } catch (e) {
      err = e;
    }
    expect(isRiftError(err, "AUTH_TOKEN_INVALID")).toBe(true);
  });

  it("refuses short secrets", () => {
    expect(() => new HmacTokenService({ secret: "short", ttlSec: 1 })).toThrow();
  });
});

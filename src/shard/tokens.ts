/**
 * Session tokens: stateless, signed, expiring; any gateway verifies them with the shared
 * secret (config `auth.tokenSecret`, TTL `auth.tokenTtlSec`).
 *
 * Format: `<userId>.<name as base64url>.<expiry unix seconds>.<signature>` where the
 * signature is base64url(HMAC-SHA256(secret, "<userId>.<name b64url>.<expiry>")). Encoding
 * the name keeps the fields unambiguous whatever the name contains. Verification checks the
 * shape and size first, compares signatures in constant time, then the expiry.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { RiftError } from "../core/errors.js";
import type { Account, TokenService } from "./types.js";

export interface HmacTokenOptions {
  secret: string;
  ttlSec: number;
  /** Clock in milliseconds (tests inject one). Default Date.now. */
  now?: () => number;
}

/** Longest token accepted (the protocol caps it at 1024 too). */
export const MAX_TOKEN_LENGTH = 1024;
const SHAPE = /^(\d{1,16})\.([A-Za-z0-9_-]{0,400})\.(\d{1,12})\.([A-Za-z0-9_-]{43})$/;

export class HmacTokenService implements TokenService {
  private readonly now: () => number;

  constructor(private readonly opts: HmacTokenOptions) {
    if (opts.secret.length < 16) throw new Error("token secret must be at least 16 characters");
    this.now = opts.now ?? Date.now;
  }

  private sign(payload: string): string {
    return createHmac("sha256", this.opts.secret).update(payload).digest("base64url");
  }

  issue(account: Account): string {
    const expiry = Math.floor(this.now() / 1000) + this.opts.ttlSec;
    const payload = `${account.userId}.${Buffer.from(account.name, "utf8").toString("base64url")}.${expiry}`;
    return `${payload}.${this.sign(payload)}`;
  }

  verify(token: string): Account {
    if (typeof token !== "string" || token.length > MAX_TOKEN_LENGTH) throw new RiftError("AUTH_TOKEN_INVALID", "malformed");
    const m = SHAPE.exec(token);
    if (!m) throw new RiftError("AUTH_TOKEN_INVALID", "malformed");
    const [, id, name64, exp, sig] = m as unknown as [string, string, string, string, string];
    const expected = Buffer.from(this.sign(`${id}.${name64}.${exp}`), "utf8");
    const given = Buffer.from(sig, "utf8");
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) throw new RiftError("AUTH_TOKEN_INVALID", "bad signature");
    if (Number(exp) * 1000 <= this.now()) throw new RiftError("AUTH_TOKEN_INVALID", "expired");
    const userId = Number(id);
    if (!Number.isSafeInteger(userId)) throw new RiftError("AUTH_TOKEN_INVALID", "malformed");
    return { userId, name: Buffer.from(name64, "base64url").toString("utf8") };
  }
}

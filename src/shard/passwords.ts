/**
 * Password hashing with scrypt (node:crypto), a random 16-byte salt per user, stored as
 * `scrypt$N$r$p$<salt b64url>$<hash b64url>` so parameters can be raised later without
 * breaking existing hashes (verification reads them from the stored string).
 * Comparison is constant-time. A missing user is checked against a dummy hash so a failed
 * login costs the same whether or not the name exists.
 */
import { randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from "node:crypto";

export interface ScryptParams {
  /** CPU/memory cost, a power of two. */
  N: number;
  r: number;
  p: number;
}

/** Production parameters (~16 MiB, tens of ms per hash on these machines). */
export const DEFAULT_SCRYPT: ScryptParams = { N: 16384, r: 8, p: 1 };
/** Cheap parameters for in-memory doubles and tests only. */
export const TEST_SCRYPT: ScryptParams = { N: 1024, r: 8, p: 1 };

const KEY_LEN = 32;
const SALT_LEN = 16;
/** Longest password accepted (bytes); longer input is rejected before hashing. */
export const MAX_PASSWORD_BYTES = 1024;

function scrypt(password: string, salt: Buffer, params: ScryptParams): Promise<Buffer> {
  const opts: ScryptOptions = { N: params.N, r: params.r, p: params.p, maxmem: 256 * params.N * params.r + 1024 * 1024 };
  return new Promise((resolve, reject) => {
    scryptCb(password.normalize("NFC"), salt, KEY_LEN, opts, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

function isPowerOfTwo(n: number): boolean {
  return Number.isInteger(n) && n > 1 && (n & (n - 1)) === 0;
}

export async function hashPassword(password: string, params: ScryptParams = DEFAULT_SCRYPT): Promise<string> {
  const salt = randomBytes(SALT_LEN);
  const key = await scrypt(password, salt, params);
  return `scrypt$${params.N}$${params.r}$${params.p}$${salt.toString("base64url")}$${key.toString("base64url")}`;
}

/** Parse a stored hash; undefined when it is not in our format (or has absurd parameters). */
export function parseHash(stored: string): { params: ScryptParams; salt: Buffer; key: Buffer } | undefined {
  const parts = stored.split("$");
  if (parts.length !== 6 || parts[0] !== "scrypt") return undefined;
  const [N, r, p] = [Number(parts[1]), Number(parts[2]), Number(parts[3])];
  if (!isPowerOfTwo(N) || N > 1 << 20 || !Number.isInteger(r) || r < 1 || r > 32 || !Number.isInteger(p) || p < 1 || p > 16) return undefined;
  const salt = Buffer.from(parts[4] ?? "", "base64url");
  const key = Buffer.from(parts[5] ?? "", "base64url");
  if (salt.length < 8 || key.length !== KEY_LEN) return undefined;
  return { params: { N, r, p }, salt, key };
}

/** True when `password` matches `stored`. Never throws on a malformed stored hash (false). */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parsed = parseHash(stored);
  if (!parsed) return false;
  const key = await scrypt(password, parsed.salt, parsed.params);
  return timingSafeEqual(key, parsed.key);
}

/** Spend the same work as a real verification, for unknown users. Always false. */
export async function verifyAgainstDummy(password: string, params: ScryptParams = DEFAULT_SCRYPT): Promise<false> {
  await scrypt(password, Buffer.alloc(SALT_LEN), params);
  return false;
}

/** Byte length check shared by account stores. */
export function passwordTooLong(password: string): boolean {
  return Buffer.byteLength(password, "utf8") > MAX_PASSWORD_BYTES;
}

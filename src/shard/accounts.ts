/**
 * PgAccountStore: accounts in the global database. Registration inserts the user and its
 * shard mapping in ONE transaction, so an account never exists without a shard. Passwords
 * are scrypt-hashed (passwords.ts) before the transaction starts.
 */
import { RiftError } from "../core/errors.js";
import { sqlState } from "./pg-errors.js";
import { hashPassword, passwordTooLong, verifyAgainstDummy, verifyPassword, DEFAULT_SCRYPT, type ScryptParams } from "./passwords.js";
import type { ShardRouter } from "./router.js";
import type { PgShardMap } from "./shard-map.js";
import type { Account, AccountStore } from "./types.js";

export interface PgAccountStoreOptions {
  router: ShardRouter;
  shardMap: PgShardMap;
  globalScope: string;
  scrypt?: ScryptParams;
}

/** Longest user name stored (the protocol allows 24; this is the store's own guard). */
export const MAX_NAME_LENGTH = 64;

export function checkCredentialsShape(name: string, password: string): boolean {
  return typeof name === "string" && typeof password === "string" && name.length > 0 && name.length <= MAX_NAME_LENGTH && password.length > 0 && !passwordTooLong(password);
}

export class PgAccountStore implements AccountStore {
  constructor(private readonly opts: PgAccountStoreOptions) {}

  async register(name: string, password: string): Promise<Account> {
    if (!checkCredentialsShape(name, password)) throw new RiftError("PROTO_SCHEMA", "name or password out of bounds");
    const passHash = await hashPassword(password, this.opts.scrypt ?? DEFAULT_SCRYPT);
    // Not idempotent: a blind re-run after a lost COMMIT would report USER_EXISTS for our
    // own insert. The router still retries when the statement never reached a primary.
    return this.opts.router.transaction(this.opts.globalScope, async (tx) => {
      let id: string;
      try {
        const { rows } = await tx.query<{ id: string }>("INSERT INTO users (name, pass_hash) VALUES ($1, $2) RETURNING id", [name, passHash]);
        id = rows[0]!.id;
      } catch (err) {
        if (sqlState(err) === "23505") throw new RiftError("USER_EXISTS", name);
        throw err;
      }
      const userId = Number(id);
      await this.opts.shardMap.assignWithin(tx, userId);
      return { userId, name };
    });
  }

  async verify(name: string, password: string): Promise<Account> {
    if (!checkCredentialsShape(name, password)) throw new RiftError("AUTH_FAILED");
    const { rows } = await this.opts.router.query<{ id: string; pass_hash: string }>(
      this.opts.globalScope,
      "SELECT id, pass_hash FROM users WHERE name = $1",
      [name],
      { idempotent: true },
    );
    const row = rows[0];
    const ok = row ? await verifyPassword(password, row.pass_hash) : await verifyAgainstDummy(password, this.opts.scrypt ?? DEFAULT_SCRYPT);
    if (!ok || !row) throw new RiftError("AUTH_FAILED");
    return { userId: Number(row.id), name };
  }
}

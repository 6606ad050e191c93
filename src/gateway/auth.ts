/**
 * Authentication for the gateway: accounts (global DB), stateless tokens, and the zone the
 * user should enter (from the user's player row, or the start zone for brand-new users —
 * the field server creates the row with `ensure` on attach).
 *
 * Errors are RiftErrors from the catalog (AUTH_FAILED, AUTH_TOKEN_INVALID, USER_EXISTS,
 * DEPENDENCY_UNAVAILABLE…); the connection maps them to a close code or an `error` reply.
 * At most `maxInFlight` requests run at once (scrypt is expensive); beyond that requests
 * fail at once with SERVER_BUSY rather than queueing without bound.
 */
import { RiftError } from "../core/errors.js";
import type { Account, AccountStore, PlayerRepository, TokenService } from "../shard/types.js";

export type LoginRequest = { name: string; password: string } | { token: string };

export interface LoginResult {
  account: Account;
  token: string;
  zone: string;
}

export interface Authenticator {
  register(name: string, password: string): Promise<Account>;
  login(req: LoginRequest): Promise<LoginResult>;
}

export interface DataLayerAuthenticatorDeps {
  accounts: AccountStore;
  tokens: TokenService;
  players: Pick<PlayerRepository, "load">;
  /** Zone of users without a player row yet. */
  startZone: string;
  maxInFlight?: number;
}

export class DataLayerAuthenticator implements Authenticator {
  private inFlight = 0;

  constructor(private readonly deps: DataLayerAuthenticatorDeps) {}

  private async slot<T>(fn: () => Promise<T>): Promise<T> {
    if (this.inFlight >= (this.deps.maxInFlight ?? 256)) throw new RiftError("SERVER_BUSY", "too many logins in progress");
    this.inFlight++;
    try {
      return await fn();
    } catch (e) {
      if (e instanceof RiftError) throw e;
      throw new RiftError("DEPENDENCY_UNAVAILABLE", e instanceof Error ? e.message.slice(0, 200) : String(e), { cause: e });
    } finally {
      this.inFlight--;
    }
  }

  register(name: string, password: string): Promise<Account> {
    return this.slot(() => this.deps.accounts.register(name, password));
  }

  login(req: LoginRequest): Promise<LoginResult> {
    return this.slot(async () => {
      const account = "token" in req ? this.deps.tokens.verify(req.token) : await this.deps.accounts.verify(req.name, req.password);
      const row = await this.deps.players.load(account.userId);
      return { account, token: this.deps.tokens.issue(account), zone: row?.state.zone || this.deps.startZone };
    });
  }
}

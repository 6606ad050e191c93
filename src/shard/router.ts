/**
 * ShardRouter: one pg Pool per Patroni scope (the global cluster and each shard), pointed at
 * that scope's CURRENT primary and at the configured database, rebuilt when the locator
 * reports a new primary (the old pool drains and ends in the background).
 *
 * Failover retry (bounded by `retryDeadlineMs`): a call whose statement certainly did not run
 * (no connection, or it reached a standby) is retried against the then-current primary; a
 * call whose connection died mid-statement is retried only when the caller declared it
 * `idempotent`. Waiting between attempts ends early when the locator announces a new primary.
 * After the deadline, or for a non-idempotent call with an ambiguous outcome, the call
 * rejects with RiftError(DEPENDENCY_UNAVAILABLE) (cause attached). SQL errors are passed
 * through untouched and never retried.
 *
 * Every Pool gets an 'error' listener (idle connections dying during a failover are normal),
 * and checked-out clients get one while they are lent out.
 */
import pg, { type PoolClient, type PoolConfig, type QueryResult, type QueryResultRow } from "pg";
import { RiftError } from "../core/errors.js";
import type { Logger } from "../core/log.js";
import { counter, type Counter, type Registry } from "../core/metrics.js";
import { classifyPgError } from "./pg-errors.js";
import { redact } from "./patroni-locator.js";
import type { PrimaryLocator } from "./types.js";

/** Anything that runs a statement: a pooled client inside `withClient`/`transaction`. */
export interface Queryable {
  query<R extends QueryResultRow = any>(sql: string, params?: unknown[]): Promise<QueryResult<R>>;
}

export interface CallOptions {
  /**
   * The operation may safely run twice (same effect as once). Only then is it retried after
   * the connection died mid-statement. Default false.
   */
  idempotent?: boolean;
}

export interface ShardRouterOptions {
  locator: PrimaryLocator;
  /** Database name on every cluster (config `db.database`, or a per-test database). */
  database: string;
  user: string;
  /** Max connections per scope. */
  poolSize: number;
  log: Logger;
  /** Longest time one call spends retrying across a failover (default 20 s). */
  retryDeadlineMs?: number;
  /** Who connects, shown as `application_name` = `<client>/<scope>` in pg_stat_activity and usable in audits (default "rift"). */
  client?: string;
  /** Connect timeout of pooled connections (default 3 s). */
  connectTimeoutMs?: number;
  /** Registry for rift_db_* metrics (optional). */
  metrics?: Registry;
  /** Test seam: build a pool (default `new pg.Pool(config)`). */
  poolFactory?: (config: PoolConfig) => pg.Pool;
}

interface Entry {
  url: string;
  pool: pg.Pool;
}

/** Connection settings for `url` (a Patroni `conn_url`) with our database and user. Pure. */
export function connectionConfig(url: string, database: string, user: string): { host: string; port: number; database: string; user: string; password?: string } {
  const u = new URL(url);
  const port = u.port ? Number(u.port) : 5432;
  const out: { host: string; port: number; database: string; user: string; password?: string } = {
    host: decodeURIComponent(u.hostname),
    port,
    database,
    user,
  };
  if (u.password) out.password = decodeURIComponent(u.password);
  return out;
}

export class ShardRouter {
  private readonly entries = new Map<string, Entry>();
  private readonly pending = new Map<string, Promise<Entry>>();
  /** Per scope: resolvers woken when the scope's pool is replaced. */
  private readonly changeWaiters = new Map<string, Set<() => void>>();
  private readonly unsubscribe: () => void;
  private readonly log: Logger;
  private readonly retries: Counter<string> | undefined;
  private readonly switches: Counter<string> | undefined;
  private closed = false;

  constructor(private readonly opts: ShardRouterOptions) {
    this.log = opts.log.child({ component: "shard-router" });
    if (opts.metrics) {
      this.retries = counter(opts.metrics, "rift_db_retries_total", "Database calls retried after a connection failure", ["scope"]);
      this.switches = counter(opts.metrics, "rift_db_primary_switches_total", "Pools rebuilt for a new primary", ["scope"]);
    }
    this.unsubscribe = opts.locator.onChange((scope, url) => this.onPrimary(scope, url));
  }

  /** Run `sql` on the primary of `scope`. */
  query<R extends QueryResultRow = any>(scope: string, sql: string, params: unknown[] = [], opts: CallOptions = {}): Promise<QueryResult<R>> {
    return this.withClient(scope, (c) => c.query<R>(sql, params), opts);
  }

  /** Run `fn` in BEGIN/COMMIT on the primary of `scope` (ROLLBACK when it throws). */
  transaction<T>(scope: string, fn: (c: Queryable) => Promise<T>, opts: CallOptions = {}): Promise<T> {
    return this.withClient(
      scope,
      async (c) => {
        await c.query("BEGIN");
        try {
          const out = await fn(c);
          await c.query("COMMIT");
          return out;
        } catch (err) {
          await c.query("ROLLBACK").catch(() => undefined);
          throw err;
        }
      },
      opts,
    );
  }

  /**
   * Lend a pooled connection to the primary of `scope` for `fn`. `fn` must leave the connection
   * clean (no open transaction) — use `transaction()` for multi-statement work. The whole of
   * `fn` is re-run on retry, so it must be safe to repeat under the rules above.
   */
  async withClient<T>(scope: string, fn: (c: Queryable) => Promise<T>, opts: CallOptions = {}): Promise<T> {
    const deadline = Date.now() + (this.opts.retryDeadlineMs ?? 20_000);
    for (let attempt = 0; ; attempt++) {
      if (this.closed) throw new RiftError("DEPENDENCY_UNAVAILABLE", "shard router closed");
      const entry = await this.poolFor(scope);
      let client: PoolClient;
      try {
        client = await entry.pool.connect();
      } catch (err) {
        if (classifyPgError(err, "connect") === "fatal") throw err;
        await this.beforeRetry(scope, entry, err, attempt, deadline);
        continue;
      }
      const onClientError = (e: Error) => this.log.warn({ scope, err: e.message }, "pooled connection failed while in use");
      client.on("error", onClientError);
      try {
        const out = await fn(client);
        client.off("error", onClientError);
        client.release();
        return out;
      } catch (err) {
        const kind = classifyPgError(err, "query");
        client.off("error", onClientError);
        // A broken connection must not go back to the pool.
        client.release(kind === "fatal" ? undefined : (err as Error));
        if (kind === "fatal") throw err;
        if (kind === "ambiguous" && !opts.idempotent) {
          throw new RiftError("DEPENDENCY_UNAVAILABLE", `database '${scope}': connection lost during a non-idempotent call (${errText(err)})`, { cause: err });
        }
        await this.beforeRetry(scope, entry, err, attempt, deadline);
      }
    }
  }

  /** Connection settings of the current primary of `scope` for another database (admin tasks). */
  async adminConnection(scope: string, database: string): Promise<ReturnType<typeof connectionConfig>> {
    return connectionConfig(await this.opts.locator.primaryUrl(scope), database, this.opts.user);
  }

  /** The database this router's pools use. */
  get database(): string {
    return this.opts.database;
  }

  private async beforeRetry(scope: string, entry: Entry, err: unknown, attempt: number, deadline: number): Promise<void> {
    const left = deadline - Date.now();
    if (left <= 0) {
      throw new RiftError("DEPENDENCY_UNAVAILABLE", `database '${scope}' unreachable (${errText(err)})`, { cause: err });
    }
    this.retries?.inc({ scope });
    this.log.warn({ scope, attempt, primary: redact(entry.url), err: errText(err) }, "database call failed; retrying");
    if (this.entries.get(scope) !== entry) return; // a new primary was announced meanwhile
    const delay = Math.min(100 * 2 ** attempt, 1000, left);
    await new Promise<void>((resolve) => {
      let waiters = this.changeWaiters.get(scope);
      if (!waiters) this.changeWaiters.set(scope, (waiters = new Set()));
      const done = () => {
        clearTimeout(timer);
        waiters!.delete(done);
        resolve();
      };
      const timer = setTimeout(done, delay);
      waiters.add(done);
    });
  }

  private async poolFor(scope: string): Promise<Entry> {
    const e = this.entries.get(scope);
    if (e) return e;
    let p = this.pending.get(scope);
    if (!p) {
      p = this.opts.locator.primaryUrl(scope).then((url) => {
        const existing = this.entries.get(scope);
        if (existing) return existing;
        if (this.closed) throw new RiftError("DEPENDENCY_UNAVAILABLE", "shard router closed");
        const entry = { url, pool: this.makePool(scope, url) };
        this.entries.set(scope, entry);
        return entry;
      });
      const cleanup = () => this.pending.delete(scope);
      p.then(cleanup, cleanup);
      this.pending.set(scope, p);
    }
    return p;
  }

  private makePool(scope: string, url: string): pg.Pool {
    const config: PoolConfig = {
      ...connectionConfig(url, this.opts.database, this.opts.user),
      max: this.opts.poolSize,
      connectionTimeoutMillis: this.opts.connectTimeoutMs ?? 3000,
      idleTimeoutMillis: 30_000,
      keepAlive: true,
      application_name: `${this.opts.client ?? "rift"}/${scope}`.slice(0, 63),
    };
    const pool = this.opts.poolFactory ? this.opts.poolFactory(config) : new pg.Pool(config);
    pool.on("error", (err: Error) => this.log.warn({ scope, primary: redact(url), err: err.message }, "idle database connection failed"));
    this.log.info({ scope, primary: redact(url), database: this.opts.database }, "database pool ready");
    return pool;
  }

  private onPrimary(scope: string, url: string): void {
    if (this.closed) return;
    const old = this.entries.get(scope);
    if (!old || old.url === url) return;
    this.entries.set(scope, { url, pool: this.makePool(scope, url) });
    this.switches?.inc({ scope });
    this.log.warn({ scope, from: redact(old.url), to: redact(url) }, "primary changed; pool switched");
    void old.pool.end().catch((err: unknown) => this.log.warn({ scope, err: errText(err) }, "ending old pool failed"));
    for (const w of [...(this.changeWaiters.get(scope) ?? [])]) w();
  }

  /** End every pool (waits for lent connections to come back). Further calls reject. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.unsubscribe();
    for (const set of this.changeWaiters.values()) for (const w of [...set]) w();
    const pools = [...this.entries.values()].map((e) => e.pool);
    this.entries.clear();
    await Promise.all(pools.map((p) => p.end().catch(() => undefined)));
  }
}

function errText(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === "string" ? `${code} ${err.message}` : err.message;
  }
  return String(err);
}

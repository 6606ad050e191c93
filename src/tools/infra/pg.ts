/**
 * Short-lived Postgres connections for the launcher and the tests: always with a connect
 * timeout, a query timeout and an 'error' listener, and always closed.
 */
import pg from "pg";

/** `postgres://postgres@127.0.0.1:<port>/<db>` (trust auth on 127.0.0.1 in our clusters). */
export function pgUrl(port: number, database = "postgres", user = "postgres"): string {
  return `postgres://${encodeURIComponent(user)}@127.0.0.1:${port}/${encodeURIComponent(database)}`;
}

/**
 * Rewrites a Patroni `conn_url` (which names no user) for a database and user.
 * `postgres://127.0.0.1:5432/postgres` → `postgres://postgres@127.0.0.1:5432/<database>`.
 */
export function withDatabase(connUrl: string, database: string, user = "postgres"): string {
  const u = new URL(connUrl);
  u.username = encodeURIComponent(user);
  u.pathname = `/${encodeURIComponent(database)}`;
  return u.toString();
}

export interface PgOptions {
  connectTimeoutMs?: number;
  queryTimeoutMs?: number;
}

/** Opens a client, runs `fn`, closes the client (also on errors). */
export async function withPg<T>(url: string, fn: (c: pg.Client) => Promise<T>, opts: PgOptions = {}): Promise<T> {
  const c = new pg.Client({
    connectionString: url,
    connectionTimeoutMillis: opts.connectTimeoutMs ?? 2000,
    query_timeout: opts.queryTimeoutMs ?? 10_000,
  });
  c.on("error", () => {
    /* a dropped connection surfaces as a rejected query; nothing else to do here */
  });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end().catch(() => {});
  }
}

/** Double-quotes an SQL identifier. */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** Creates the database unless it exists (safe against a concurrent creator). */
export async function ensureDatabase(url: string, name: string): Promise<"created" | "exists"> {
  return withPg(url, async (c) => {
    const r = await c.query("SELECT 1 FROM pg_database WHERE datname = $1", [name]);
    if (r.rowCount) return "exists";
    try {
      await c.query(`CREATE DATABASE ${quoteIdent(name)}`);
      return "created";
    } catch (e) {
      if ((e as { code?: string }).code === "42P04") return "exists";
      throw e;
    }
  });
}

/**
 * Classifying Postgres/driver errors for the router's failover retry. Pure.
 *
 * - `unsent`: the statement certainly did not run (no connection, or the server refused it:
 *   read-only standby, starting up, too many connections). Always safe to retry.
 * - `ambiguous`: the connection died while the statement was in flight; it may or may not
 *   have committed. Retry only idempotent operations.
 * - `fatal`: a real SQL error (constraint, syntax...). Never retried; passed to the caller.
 */

export type PgFailure = "unsent" | "ambiguous" | "fatal";

/** SQLSTATEs meaning "this server did not run the statement; another one may". */
const UNSENT_SQLSTATE = new Set([
  "25006", // read_only_sql_transaction: we reached a standby (demoted primary)
  "57P03", // cannot_connect_now: starting up / shutting down / in recovery
  "53300", // too_many_connections
  "08001", // sqlclient_unable_to_establish_sqlconnection
  "08004", // sqlserver_rejected_establishment_of_sqlconnection
]);

/** SQLSTATEs meaning "the session was killed under us". */
const AMBIGUOUS_SQLSTATE = new Set([
  "57P01", // admin_shutdown
  "57P02", // crash_shutdown
  "08000", // connection_exception
  "08003", // connection_does_not_exist
  "08006", // connection_failure
  "40001", // serialization_failure (retry is the documented remedy)
  "40P01", // deadlock_detected
]);

/** Connect-time SQLSTATEs that no failover fixes: missing database, bad role/password, no permission. */
const FATAL_CONNECT_SQLSTATE = new Set(["3D000", "28000", "28P01", "42501"]);

const CONNECT_ERRNO = new Set(["ECONNREFUSED", "EHOSTUNREACH", "ENETUNREACH", "ENOTFOUND", "EAI_AGAIN"]);
const BROKEN_ERRNO = new Set(["ECONNRESET", "EPIPE", "ETIMEDOUT"]);

/**
 * @param phase `connect` when the error came from acquiring a connection, `query` otherwise.
 */
export function classifyPgError(err: unknown, phase: "connect" | "query"): PgFailure {
  if (typeof err !== "object" || err === null) return "fatal";
  const e = err as { code?: unknown; message?: unknown };
  const code = typeof e.code === "string" ? e.code : "";
  const message = typeof e.message === "string" ? e.message : "";
  if (UNSENT_SQLSTATE.has(code)) return "unsent";
  if (phase === "connect") {
    // Failing to obtain a connection means nothing was sent (refused, reset, pool connect
    // timeout, server starting up...), except configuration errors that no retry can fix.
    return FATAL_CONNECT_SQLSTATE.has(code) ? "fatal" : "unsent";
  }
  if (AMBIGUOUS_SQLSTATE.has(code) || BROKEN_ERRNO.has(code) || CONNECT_ERRNO.has(code)) return "ambiguous";
  if (/Connection terminated|connection (is )?(closed|ended)|Client has encountered a connection error|Client was closed/i.test(message)) {
    return "ambiguous";
  }
  return "fatal";
}

/** SQLSTATE of a pg error, if any. */
export function sqlState(err: unknown): string | undefined {
  const code = typeof err === "object" && err !== null ? (err as { code?: unknown }).code : undefined;
  return typeof code === "string" && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/**
 * The one error catalog of the project (in the spirit of Fastify's error codes).
 *
 * Every error that can leave a process — as a WebSocket close code, a protocol error
 * reply, a log line, an exit status or an HTTP status — is defined here with a stable
 * code. Codes are never renumbered or reused; add new ones at the end of their group.
 *
 * `close` is the WebSocket close code (4000–4999 is the application range) used when
 * the error ends a client connection. `exit` is the process exit status for start-up
 * errors (2 = user/config error).
 */

export interface ErrorDef {
  /** Stable string code, e.g. `RIFT_PROTO_MALFORMED`. */
  readonly code: string;
  /** Human text; details are appended by the thrower. */
  readonly message: string;
  /** WebSocket close code when this error closes a client connection. */
  readonly close?: number;
  /** HTTP status when returned over an HTTP API. */
  readonly http?: number;
  /** Process exit status when this error aborts start-up. */
  readonly exit?: number;
}

function def<const T extends ErrorDef>(d: T): T {
  return d;
}

export const ErrorCatalog = {
  // ---- start-up / configuration (exit 2) ----
  CONFIG_INVALID: def({ code: "RIFT_CONFIG_INVALID", message: "invalid configuration", exit: 2 }),
  CONFIG_FILE: def({ code: "RIFT_CONFIG_FILE", message: "cannot read configuration file", exit: 2 }),
  UNKNOWN_ROLE: def({ code: "RIFT_UNKNOWN_ROLE", message: "unknown role", exit: 2 }),
  PORT_IN_USE: def({ code: "RIFT_PORT_IN_USE", message: "port already in use", exit: 2 }),
  USAGE: def({ code: "RIFT_USAGE", message: "invalid command-line usage", exit: 2 }),

  // ---- infrastructure ----
  INFRA_START_FAILED: def({ code: "RIFT_INFRA_START_FAILED", message: "infrastructure component failed to start", exit: 1 }),
  INFRA_NOT_RUNNING: def({ code: "RIFT_INFRA_NOT_RUNNING", message: "infrastructure is not running", exit: 1 }),
  INFRA_INSTALL_FAILED: def({ code: "RIFT_INFRA_INSTALL_FAILED", message: "installing a Debian package failed", exit: 1 }),
  DEPENDENCY_UNAVAILABLE: def({ code: "RIFT_DEPENDENCY_UNAVAILABLE", message: "a dependency is unavailable", http: 503 }),
  INFRA_CLUSTER_EXISTS: def({ code: "RIFT_INFRA_CLUSTER_EXISTS", message: "a database cluster with this name already exists", exit: 1 }),

  // ---- protocol (close the offending connection) ----
  PROTO_MALFORMED: def({ code: "RIFT_PROTO_MALFORMED", message: "malformed frame", close: 4001 }),
  PROTO_VERSION: def({ code: "RIFT_PROTO_VERSION", message: "unsupported protocol version", close: 4002 }),
  PROTO_UNKNOWN_TYPE: def({ code: "RIFT_PROTO_UNKNOWN_TYPE", message: "unknown message type", close: 4003 }),
  PROTO_SCHEMA: def({ code: "RIFT_PROTO_SCHEMA", message: "message does not match its schema", close: 4004 }),
  PROTO_TOO_LARGE: def({ code: "RIFT_PROTO_TOO_LARGE", message: "frame exceeds the maximum size", close: 4005 }),
  PROTO_NOT_BINARY: def({ code: "RIFT_PROTO_NOT_BINARY", message: "text frames are not accepted", close: 4006 }),
  PROTO_UNEXPECTED: def({ code: "RIFT_PROTO_UNEXPECTED", message: "message not allowed in this state", close: 4007 }),
  PROTO_REPLAY: def({ code: "RIFT_PROTO_REPLAY", message: "sequence number replayed or out of order", close: 4008 }),

  // ---- limits ----
  RATE_LIMITED: def({ code: "RIFT_RATE_LIMITED", message: "message rate limit exceeded", close: 4010 }),
  SEND_QUEUE_FULL: def({ code: "RIFT_SEND_QUEUE_FULL", message: "client is not reading; send queue full", close: 4011 }),
  HANDSHAKE_TIMEOUT: def({ code: "RIFT_HANDSHAKE_TIMEOUT", message: "no hello/login within the deadline", close: 4012 }),
  SERVER_BUSY: def({ code: "RIFT_SERVER_BUSY", message: "server queue full, try again", close: 4013 }),

  // ---- auth / session ----
  AUTH_FAILED: def({ code: "RIFT_AUTH_FAILED", message: "invalid credentials", close: 4020, http: 401 }),
  AUTH_TOKEN_INVALID: def({ code: "RIFT_AUTH_TOKEN_INVALID", message: "invalid or expired session token", close: 4021, http: 401 }),
  USER_EXISTS: def({ code: "RIFT_USER_EXISTS", message: "user name already taken", http: 409 }),
  SESSION_REPLACED: def({ code: "RIFT_SESSION_REPLACED", message: "logged in from another connection", close: 4022 }),

  // ---- game / ownership ----
  NO_SERVER_FOR_ZONE: def({ code: "RIFT_NO_SERVER_FOR_ZONE", message: "no game server owns this zone", close: 4030 }),
  SERVER_GONE: def({ code: "RIFT_SERVER_GONE", message: "the game server owning this user went away", close: 4031 }),
  PERSIST_REJECTED: def({ code: "RIFT_PERSIST_REJECTED", message: "state could not be saved; reload from the database", close: 4032 }),
  OWNERSHIP_LOST: def({ code: "RIFT_OWNERSHIP_LOST", message: "this server no longer owns the user", close: 4033 }),
  SHUTTING_DOWN: def({ code: "RIFT_SHUTTING_DOWN", message: "server is shutting down", close: 4034 }),
  HANDLER_FAILED: def({ code: "RIFT_HANDLER_FAILED", message: "the server failed to handle your request (the error was recorded)" }),
  HANDLER_CRASH_LOOP: def({ code: "RIFT_HANDLER_CRASH_LOOP", message: "requests of this user keep failing on the server; reconnect later", close: 4036 }),
  PERSIST_UNAVAILABLE: def({ code: "RIFT_PERSIST_UNAVAILABLE", message: "the database has not accepted this user's state for too long; reconnect later", close: 4035 }),
  QUEUE_FULL: def({ code: "RIFT_QUEUE_FULL", message: "bounded queue is full" }),
  MOVE_REJECTED: def({ code: "RIFT_MOVE_REJECTED", message: "movement rejected" }),

  // ---- chat (non-fatal replies: `chatError`, the connection stays open) ----
  CHAT_MUTED: def({ code: "RIFT_CHAT_MUTED", message: "you are muted" }),
  CHAT_BANNED: def({ code: "RIFT_CHAT_BANNED", message: "you are banned from chat" }),
  CHAT_RATE_LIMITED: def({ code: "RIFT_CHAT_RATE_LIMITED", message: "chat messages too fast, slow down" }),
  CHAT_TOO_LONG: def({ code: "RIFT_CHAT_TOO_LONG", message: "chat message too long" }),
  CHAT_FILTERED: def({ code: "RIFT_CHAT_FILTERED", message: "chat message rejected by the filter" }),
  CHAT_USER_OFFLINE: def({ code: "RIFT_CHAT_USER_OFFLINE", message: "no such user online" }),
  CHAT_BAD_CHANNEL: def({ code: "RIFT_CHAT_BAD_CHANNEL", message: "unknown chat channel, or not a member of it" }),
  CHAT_UNAVAILABLE: def({ code: "RIFT_CHAT_UNAVAILABLE", message: "no chat server available, try again" }),

  // ---- operations (issue #9: switches, flags, operator events) ----
  FEATURE_DISABLED: def({ code: "RIFT_FEATURE_DISABLED", message: "this feature is disabled", http: 409 }),
  KICKED: def({ code: "RIFT_KICKED", message: "disconnected by an operator", close: 4040 }),
  ANALYTICS_UNAVAILABLE: def({ code: "RIFT_ANALYTICS_UNAVAILABLE", message: "the analytics queue is unavailable, the event was not recorded" }),

  // ---- items and trades (issue #7) ----
  TRADE_REJECTED: def({ code: "RIFT_TRADE_REJECTED", message: "trade rejected; nothing was changed", http: 409 }),
  TRADE_IN_DOUBT: def({ code: "RIFT_TRADE_IN_DOUBT", message: "trade outcome not yet known; the recovery task will finish it", http: 503 }),

  // ---- internal ----
  OPS_BAD_REQUEST: def({ code: "RIFT_OPS_BAD_REQUEST", message: "invalid ops API request", http: 400 }),
  SHARD_UNKNOWN: def({ code: "RIFT_SHARD_UNKNOWN", message: "no such shard", http: 404, exit: 2 }),
  SHARD_MOVE_FAILED: def({ code: "RIFT_SHARD_MOVE_FAILED", message: "moving users between shards failed", http: 409, exit: 1 }),
  DUNGEON_PARTY: def({ code: "RIFT_DUNGEON_PARTY", message: "dungeon party request refused" }),
  DUNGEON_UNAVAILABLE: def({ code: "RIFT_DUNGEON_UNAVAILABLE", message: "no dungeon instance could be opened (no dungeon server, or it did not start in time)" }),
  DUNGEON_ACTION: def({ code: "RIFT_DUNGEON_ACTION", message: "dungeon action refused" }),
  ITEMS_UNAVAILABLE: def({ code: "RIFT_ITEMS_UNAVAILABLE", message: "inventory could not be read or written now; try again" }),
  INTERNAL: def({ code: "RIFT_INTERNAL", message: "internal error", close: 1011, http: 500 }),
} as const;

export type ErrorKey = keyof typeof ErrorCatalog;

/** An error carrying a catalog entry. `details` is appended to the catalog message. */
export class RiftError extends Error {
  readonly key: ErrorKey;
  readonly code: string;
  readonly def: ErrorDef;
  readonly details: string | undefined;

  constructor(key: ErrorKey, details?: string, options?: { cause?: unknown }) {
    const d: ErrorDef = ErrorCatalog[key];
    super(details ? `${d.message}: ${details}` : d.message, options);
    this.name = "RiftError";
    this.key = key;
    this.code = d.code;
    this.def = d;
    this.details = details;
  }

  /** One line for operators: `RIFT_X: message: details`. */
  toLine(): string {
    return `${this.code}: ${this.message}`;
  }
}

export function isRiftError(e: unknown, key?: ErrorKey): e is RiftError {
  return e instanceof RiftError && (key === undefined || e.key === key);
}

/** Find the catalog entry for a WebSocket close code (for clients and tests). */
export function errorByCloseCode(close: number): (ErrorDef & { key: ErrorKey }) | undefined {
  for (const [key, d] of Object.entries(ErrorCatalog) as [ErrorKey, ErrorDef][]) {
    if (d.close === close) return { ...d, key };
  }
  return undefined;
}

/** Find the catalog entry for a string code. */
export function errorByCode(code: string): (ErrorDef & { key: ErrorKey }) | undefined {
  for (const [key, d] of Object.entries(ErrorCatalog) as [ErrorKey, ErrorDef][]) {
    if (d.code === code) return { ...d, key };
  }
  return undefined;
}

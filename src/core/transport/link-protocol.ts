/**
 * The gateway ↔ game-server link protocol (internal; docs/PROTOCOL.md §Link).
 *
 * One WebSocket per (gateway, game-server IO worker) pair, binary msgpack frames. Each frame
 * is a BATCH: an array of ops, flushed at most every few milliseconds (gateway → server) or
 * once per tick (server → gateway). Users are identified by their numeric user id.
 */

/** Gateway → game server. */
export type GatewayOp =
  /** First op on a link: who the gateway is. */
  | ["hello", { gateway: string }]
  /** Serve this user (load from DB, take ownership by bumping the owner epoch). */
  | ["attach", { user: number; name: string; zone: string }]
  /** The client is gone (or moves elsewhere): flush, release, forget. */
  | ["detach", { user: number; reason: string }]
  /** A validated client message for this user. */
  | ["in", number, string, unknown];

/** Game server → gateway. */
export type ServerOp =
  /** User is now served here; `enter` is a pre-encoded client envelope (`enter`). */
  | ["attached", { user: number; enter: Uint8Array }]
  /** Attach refused (e.g. zone not hosted, DB unavailable). */
  | ["rejected", { user: number; code: string }]
  /**
   * One tick of output for this gateway's users:
   *   cells:  [cellId, encoded `cell` envelope][] — each cell encoded ONCE per tick;
   *   subs:   [user, cellIds][] — a user's watched cells changed (replace the set);
   *   direct: [user, encoded envelopes][] — messages for one user (aoi, pong, error…).
   * The gateway sends each user one frame: its direct buffers, then the buffers of the
   * cells it watches that appear in `cells`, concatenated (no re-encoding).
   */
  | ["tick", { tick: number; cells: [number, Uint8Array][]; subs: [number, number[]][]; direct: [number, Uint8Array[]][] }]
  /** Close this user's connection with the given catalog key. */
  | ["kick", { user: number; key: string; reason?: string }]
  /** The user must be moved to the server owning `zone` (state already flushed). */
  | ["transfer", { user: number; zone: string }];

export type LinkFrame<T> = T[];

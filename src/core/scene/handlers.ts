/**
 * What a role plugs into the scene host: one handler per client message type it accepts
 * (the field server: move, ping, travel). Handlers run on the logic thread inside a tick,
 * synchronously; they act only through the context. An exception in a handler is caught
 * per packet (logged, counted); the loop and the other users are unaffected.
 */
import type { ErrorKey } from "../errors.js";
import type { ClientBody, ClientSchemaTable, ServerBody, ServerSchemaTable } from "../protocol/messages.js";
import type { World } from "../../game/world.js";
import type { Session } from "./sessions.js";

export interface SceneContext {
  /** Loop clock of the current tick (ms). */
  readonly now: number;
  /** The world of a zone hosted here. */
  world(zone: string): World | undefined;
  /** Queue a direct message for this user (encoded by the IO unit, sent with the tick). */
  reply<K extends keyof ServerSchemaTable & string>(s: Session, type: K, body: ServerBody<K>): void;
  /** A non-fatal `error` reply with a catalog code. */
  error(s: Session, key: ErrorKey, detail?: string): void;
  /** Count a dropped client message (reason label of packets_dropped_total). */
  dropped(reason: "replay" | "invalid"): void;
  /** The user's persistent state changed (write-behind will save it). */
  dirty(s: Session): void;
  /** Move the user to another zone: save with `pos` (default the zone's spawn point), then `transfer`. */
  travel(s: Session, zone: string, pos?: { x: number; y: number }): void;
  /** Whether some server can take users in this zone (placement known to this process). */
  zoneExists(zone: string): boolean;
  /** A user served here now. */
  session(user: number): Session | undefined;
  /** The users in a channel key (zone, channel or dungeon instance). */
  sessionsIn(key: string): Session[];
  /** Set the user's hit points (saved by write-behind). */
  setHp(s: Session, hp: number): void;
  /** The owner epoch this server holds for the user (fences DB writes made outside write-behind). */
  epochOf(user: number): number | undefined;
  /** Forget the world of an empty channel key (a destroyed dungeon instance). False while users are in it. */
  dropWorld(key: string): boolean;
  /** This server's node id. */
  readonly nodeId: string;
}

/**
 * Role hooks beside the message handlers. They run on the logic thread like handlers; an
 * exception is caught and counted (the loop goes on).
 */
export interface SceneHooks {
  /** A user was attached here (its world joined, `attached` sent). */
  entered?(ctx: SceneContext, s: Session): void;
  /** A user is about to leave (detach, travel, kick, hand-over); still in the tables. */
  leaving?(ctx: SceneContext, s: Session): void;
  /** Every tick, after the packet queue was consumed. */
  tick?(ctx: SceneContext): void;
}

export type SceneHandlers = {
  [K in keyof ClientSchemaTable]?: (ctx: SceneContext, s: Session, body: ClientBody<K>) => void;
};

/**
 * Several roles' hooks as one (e.g. dungeon entry + trades on a field server): each hook runs
 * in order; one that throws does not stop the others (the first error is rethrown after all
 * ran, so the host counts and logs it).
 */
export function mergeHooks(...all: (SceneHooks | undefined)[]): SceneHooks {
  const hs = all.filter((h): h is SceneHooks => h !== undefined);
  const each = (fn: (h: SceneHooks) => void) => {
    let first: unknown;
    for (const h of hs) {
      try {
        fn(h);
      } catch (err) {
        first ??= err;
      }
    }
    if (first !== undefined) throw first;
  };
  return {
    entered: (ctx, s) => each((h) => h.entered?.(ctx, s)),
    leaving: (ctx, s) => each((h) => h.leaving?.(ctx, s)),
    tick: (ctx) => each((h) => h.tick?.(ctx)),
  };
}

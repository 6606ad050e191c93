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
  /** Move the user to another zone: save with the zone's spawn point, then `transfer`. */
  travel(s: Session, zone: string): void;
  /** Whether some server can take users in this zone (placement known to this process). */
  zoneExists(zone: string): boolean;
}

export type SceneHandlers = {
  [K in keyof ClientSchemaTable]?: (ctx: SceneContext, s: Session, body: ClientBody<K>) => void;
};

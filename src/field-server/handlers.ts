/**
 * Field-server message handlers (plugged into the scene host): movement and ping (shared with
 * dungeon servers), travel, inventory, and dungeon entry (dungeon-entry.ts).
 */
import { baseZone } from "../core/cluster/channels.js";
import type { SceneHandlers } from "../core/scene/handlers.js";
import { movementHandlers } from "../core/scene/common-handlers.js";

export const fieldHandlers: SceneHandlers = {
  ...movementHandlers,

  travel(ctx, s, body) {
    if (body.zone === baseZone(s.zone)) return ctx.error(s, "PROTO_UNEXPECTED", `already in zone ${body.zone}`);
    if (!ctx.zoneExists(body.zone)) return ctx.error(s, "NO_SERVER_FOR_ZONE", body.zone);
    ctx.travel(s, body.zone);
  },
};

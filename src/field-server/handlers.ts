/**
 * Field-server message handlers (plugged into the scene host): movement, ping, travel.
 * Pure rules live in src/game; these only route a validated message to them and report.
 */
import { baseZone } from "../core/cluster/channels.js";
import type { SceneHandlers } from "../core/scene/handlers.js";

export const fieldHandlers: SceneHandlers = {
  move(ctx, s, body) {
    const out = ctx.world(s.zone)?.move(s.user, body, ctx.now);
    if (!out) return;
    if (out.kind === "replay" || out.kind === "invalid") ctx.dropped(out.kind);
    else if (out.distance > 0) ctx.dirty(s);
  },

  ping(ctx, s, body) {
    ctx.reply(s, "pong", { t: body.t, s: Date.now() });
  },

  travel(ctx, s, body) {
    if (body.zone === baseZone(s.zone)) return ctx.error(s, "PROTO_UNEXPECTED", `already in zone ${body.zone}`);
    if (!ctx.zoneExists(body.zone)) return ctx.error(s, "NO_SERVER_FOR_ZONE", body.zone);
    ctx.travel(s, body.zone);
  },
};

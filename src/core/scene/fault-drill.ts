/**
 * Ops API `POST /debug/fault {user, count?}` (only when `field.faultInjection` is on; field and dungeon servers): the
 * user's next `count` (default 1) requests throw inside the scene's handler boundary — a drill
 * of exception isolation (the player goes to the safe spot, a trace lands in the game log).
 */
import { z } from "zod";
import { RiftError } from "../errors.js";
import type { Logger } from "../log.js";
import type { OpsServer } from "../metrics.js";

const Body = z.strictObject({ user: z.number().int().positive(), count: z.number().int().min(1).max(100).optional() });

export function registerFaultDrill(ops: OpsServer, scene: { injectFault(user: number, count?: number): void }, log: Logger): void {
  log.warn("fault injection enabled (field.faultInjection): POST /debug/fault makes users' requests throw");
  ops.addJsonPost("/debug/fault", (b) => {
    const r = Body.safeParse(b);
    if (!r.success) throw new RiftError("OPS_BAD_REQUEST", r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; "));
    scene.injectFault(r.data.user, r.data.count ?? 1);
    return { injected: r.data.count ?? 1, user: r.data.user };
  });
}

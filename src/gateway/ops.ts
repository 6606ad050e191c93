/**
 * Operator events and flag changes applied to a gateway (issue #9): `announce` → a notice to
 * every logged-in client, `kick` → close that user's connection (KICKED) if it is here,
 * switch / flag changes and reloads → push `features` to the clients whose set changed.
 */
import type { OpsState } from "../core/ops/state.js";
import type { Gateway } from "./gateway.js";

export function followOps(ops: OpsState, gateway: Pick<Gateway, "announce" | "kickUser" | "refreshFeatures">): () => void {
  return ops.on((e) => {
    switch (e.kind) {
      case "announce":
        gateway.announce(e.text);
        return;
      case "kick":
        gateway.kickUser(e.userId, e.reason);
        return;
      default:
        gateway.refreshFeatures();
    }
  });
}

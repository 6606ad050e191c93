/**
 * The explicit role table (no folder scanning): role name → its wiring function.
 * A role that is missing here is rejected by main.ts with RIFT_UNKNOWN_ROLE.
 */
import type { Role } from "./core/config.js";
import type { RoleMain } from "./core/runtime.js";
import { coordinatorMain } from "./coordinator/main.js";
import { fieldMain } from "./field-server/main.js";
import { startGateway } from "./gateway/main.js";
import { chatMain } from "./chat-server/main.js";
import { dungeonMain } from "./dungeon-server/main.js";

export const roleMains: Partial<Record<Role, RoleMain>> = {
  gateway: startGateway,
  field: fieldMain,
  dungeon: dungeonMain,
  coordinator: coordinatorMain,
  chat: chatMain,
};

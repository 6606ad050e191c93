/**
 * The process runtime shared by every role: configuration, root logger, metrics registry,
 * ops HTTP server and lifecycle. A role's `main.ts` receives a `ProcessContext` and wires its
 * parts onto it; it registers shutdown hooks for everything it starts.
 */
import { hostname } from "node:os";
import type { Config, Role } from "./config.js";
import { Lifecycle } from "./lifecycle.js";
import { createLogger, type Logger } from "./log.js";
import { createRegistry, OpsServer, type Registry } from "./metrics.js";

export interface ProcessContext {
  readonly role: Role;
  readonly nodeId: string;
  readonly config: Config;
  readonly log: Logger;
  readonly metrics: Registry;
  readonly ops: OpsServer;
  readonly lifecycle: Lifecycle;
  /** Port the ops HTTP server is bound to (after start). */
  opsPort: number;
}

export type RoleMain = (ctx: ProcessContext) => Promise<void>;

export function defaultNodeId(role: Role): string {
  return `${role}-${hostname()}-${process.pid}`;
}

/** Build the context and start the ops server. Throws RiftError(PORT_IN_USE) on conflicts. */
export async function createProcessContext(role: Role, config: Config): Promise<ProcessContext> {
  const nodeId = config.node.id || defaultNodeId(role);
  const log = createLogger({ level: config.log.level, role, nodeId });
  const metrics = createRegistry({ role, node: nodeId });
  const info = { role, node: nodeId, version: config.node.version, colour: config.node.colour };
  const ops = new OpsServer({ host: config.node.host, port: config.ops.port, registry: metrics, info });
  const lifecycle = new Lifecycle({ deadlineMs: config.shutdown.deadlineMs, log });
  const ctx: ProcessContext = { role, nodeId, config, log, metrics, ops, lifecycle, opsPort: 0 };
  ctx.opsPort = await ops.listen();
  lifecycle.onShutdown("ops-http", () => ops.close());
  return ctx;
}

/**
 * Entry point of an IO worker thread (spawned by WorkerIoHost in io-workers.ts): runs one
 * IoUnit and relays IoEvents / IoCommands over the worker port. An uncaught exception ends
 * the worker; the host notices the exit and restarts it on the same port.
 */
import { parentPort, workerData } from "node:worker_threads";
import type { LevelWithSilent } from "pino";
import { createLogger } from "../log.js";
import { IoUnit } from "./io-worker-core.js";
import type { IoCommand, IoEvent, IoUnitConfig } from "./io-worker-protocol.js";

const port = parentPort;
if (port) {
  const cfg = workerData as IoUnitConfig;
  const log = createLogger({ level: cfg.logLevel as LevelWithSilent, role: cfg.role, nodeId: cfg.nodeId }).child({ component: "io", unit: cfg.index });
  const unit = new IoUnit(cfg, (e: IoEvent) => port.postMessage(e), log);
  port.on("message", (msg: IoCommand | { k: "stop"; code: number; reason: string }) => {
    if (msg.k === "stop") {
      void unit.stop(msg.code, msg.reason).then(() => port.postMessage({ k: "stopped" }));
      return;
    }
    unit.handle(msg);
  });
  unit.start().catch((err: unknown) => {
    port.postMessage({ k: "start-failed", error: err instanceof Error ? err.message : String(err), code: (err as { code?: string }).code });
  });
}

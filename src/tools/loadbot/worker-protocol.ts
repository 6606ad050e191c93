/**
 * Messages between the load controller (main thread) and a bot worker thread.
 * Requests carry an `id`; the worker answers each `report`/`stop` with a `report` reply of
 * the same id. `workerData` is the worker's PoolConfig.
 */
import type { PoolReport } from "./pool.js";

export type ToWorker =
  | { k: "target"; n: number; rampSec: number }
  | { k: "report"; id: number }
  | { k: "stop"; id: number };

export type FromWorker = { k: "ready" } | { k: "report"; id: number; report: PoolReport } | { k: "fatal"; error: string };

/**
 * Entry of a bot worker thread: one BotPool driven by the controller's messages
 * (worker-protocol.ts). Owns nothing global beyond its pool.
 */
import { parentPort, workerData } from "node:worker_threads";
import { BotPool, type PoolConfig } from "./pool.js";
import type { FromWorker, ToWorker } from "./worker-protocol.js";

const port = parentPort;
if (!port) throw new Error("loadbot worker must run in a worker_thread");
const pool = new BotPool(workerData as PoolConfig);
const post = (m: FromWorker) => {
  if (m.k === "report") port.postMessage(m, [m.report.latencies.buffer as ArrayBuffer]);
  else port.postMessage(m);
};

process.on("uncaughtException", (err) => post({ k: "fatal", error: err instanceof Error ? (err.stack ?? err.message) : String(err) }));

port.on("message", (m: ToWorker) => {
  switch (m.k) {
    case "target":
      pool.setTarget(m.n, m.rampSec);
      break;
    case "report":
      post({ k: "report", id: m.id, report: pool.takeReport() });
      break;
    case "stop":
      void pool.stop().then((report) => {
        post({ k: "report", id: m.id, report });
        port.close();
      });
      break;
  }
});
post({ k: "ready" });

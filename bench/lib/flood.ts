/** Main-thread handle of a flood worker (flood-protocol.ts). */
import type { Worker } from "node:worker_threads";
import { siblingEntry, startTsWorker } from "../../src/tools/loadbot/worker-entry.js";
import type { FloodConfig, FromFlood, ToFlood } from "./flood-protocol.js";

export class Flooder {
  private nextId = 1;
  private readonly waiting = new Map<number, (r: { sent: number; closed: number }) => void>();
  private stopping: Promise<{ sent: number; closed: number }> | undefined;

  private constructor(private readonly worker: Worker) {}

  /** Start the worker; resolves when every connection is open (and logged in, mode gateway). */
  static start(cfg: FloodConfig, timeoutMs = 60_000): Promise<Flooder> {
    const worker = startTsWorker(siblingEntry(import.meta.url, "flood-worker"), { workerData: cfg, name: "bench-flood" });
    const f = new Flooder(worker);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        void worker.terminate();
        reject(new Error(`flood worker: connections not ready within ${timeoutMs} ms`));
      }, timeoutMs);
      worker.on("message", (m: FromFlood) => {
        if (m.k === "ready") {
          clearTimeout(timer);
          resolve(f);
        } else if (m.k === "failed") {
          clearTimeout(timer);
          void worker.terminate();
          reject(new Error(`flood worker: ${m.error}`));
        } else if (m.k === "count") {
          f.waiting.get(m.id)?.({ sent: m.sent, closed: m.closed });
          f.waiting.delete(m.id);
        }
      });
      worker.on("error", (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
  }

  private ask(k: "count" | "stop"): Promise<{ sent: number; closed: number }> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      this.worker.postMessage({ k, id } satisfies ToFlood);
    });
  }

  go(): void {
    this.worker.postMessage({ k: "go" } satisfies ToFlood);
  }

  pause(): void {
    this.worker.postMessage({ k: "pause" } satisfies ToFlood);
  }

  count(): Promise<{ sent: number; closed: number }> {
    return this.ask("count");
  }

  /** Stop the flood and the worker (idempotent); resolves with the final counts. */
  stop(): Promise<{ sent: number; closed: number }> {
    this.stopping ??= (async () => {
      const r = await Promise.race([this.ask("stop"), new Promise<{ sent: number; closed: number }>((res) => setTimeout(() => res({ sent: -1, closed: -1 }), 5000))]);
      await this.worker.terminate();
      return r;
    })();
    return this.stopping;
  }
}

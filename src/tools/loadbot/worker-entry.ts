/**
 * Starting a worker_thread from a TypeScript module. Compiled (.js): the file itself. From
 * source (under tsx): Node 20 workers cannot load a .ts entry even when the parent runs
 * under tsx, so the worker is an eval'd shim that registers tsx's ESM loader first.
 */
import { Worker, type WorkerOptions } from "node:worker_threads";

/** `file` is the entry's URL as seen from the caller, e.g. `new URL("./worker.ts", import.meta.url)`. */
export function startTsWorker(file: URL, opts: Omit<WorkerOptions, "eval"> = {}): Worker {
  if (!file.pathname.endsWith(".ts")) return new Worker(file, opts);
  const tsxApi = import.meta.resolve("tsx/esm/api");
  const shim = `import(${JSON.stringify(tsxApi)}).then((m) => { (m.register ?? m.default.register)(); return import(${JSON.stringify(file.href)}); })`;
  return new Worker(shim, { ...opts, eval: true });
}

/** The worker file next to `base` (a module URL): `.ts` when running from source, else `.js`. */
export function siblingEntry(base: string, name: string): URL {
  return new URL(`./${name}${base.endsWith(".ts") ? ".ts" : ".js"}`, base);
}

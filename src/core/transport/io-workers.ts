/**
 * IO hosts: how the logic thread runs its IO units.
 *
 * - `WorkerIoHost`: `count` worker_threads, unit i listening on `basePort + i` (Node 20
 *   workers cannot share a listening port; basePort 0 = an ephemeral port each). A unit that
 *   dies is reported (`link-closed` for each of its links, so the logic thread releases
 *   those users) and restarted on the port it had.
 * - `InlineIoHost`: one unit in the main thread (`field.ioWorkers: 0`), same protocol.
 *
 * Contract: `start(onEvent)` resolves with the bound port of every unit (index order) or
 * rejects (RiftError PORT_IN_USE when a port is taken). Events are delivered asynchronously
 * from the unit (never re-entrantly inside `send`). `stop()` closes every link with the given
 * close code and stops the units.
 */
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { RiftError } from "../errors.js";
import type { Logger } from "../log.js";
import { IoUnit } from "./io-worker-core.js";
import type { IoCommand, IoEvent, IoUnitConfig, LinkId } from "./io-worker-protocol.js";
import { ioUnitOfLink } from "./io-worker-protocol.js";

export interface IoHost {
  readonly units: number;
  start(onEvent: (e: IoEvent) => void): Promise<number[]>;
  send(unit: number, cmd: IoCommand): void;
  stop(code: number, reason: string): Promise<void>;
}

export type IoUnitSettings = Omit<IoUnitConfig, "index" | "port">;

export interface IoHostOptions {
  /** 0 = run one unit inline in the main thread. */
  workers: number;
  basePort: number;
  unit: IoUnitSettings;
  log: Logger;
}

export function createIoHost(opts: IoHostOptions): IoHost {
  return opts.workers === 0 ? new InlineIoHost(opts) : new WorkerIoHost(opts);
}

export class InlineIoHost implements IoHost {
  readonly units = 1;
  private unit: IoUnit | undefined;

  constructor(private readonly opts: IoHostOptions) {}

  async start(onEvent: (e: IoEvent) => void): Promise<number[]> {
    // deliver events on a later turn, like postMessage would (never re-entrant)
    const emit = (e: IoEvent) => queueMicrotask(() => onEvent(e));
    this.unit = new IoUnit({ ...this.opts.unit, index: 0, port: this.opts.basePort }, emit, this.opts.log.child({ component: "io", unit: 0 }));
    return [await this.unit.start()];
  }

  send(_unit: number, cmd: IoCommand): void {
    this.unit?.handle(cmd);
  }

  async stop(code: number, reason: string): Promise<void> {
    await this.unit?.stop(code, reason);
    this.unit = undefined;
  }
}

/** ESM resolution of a package specifier (the `import` condition, unlike require.resolve). */
function resolveImport(spec: string): string {
  try {
    return import.meta.resolve(spec);
  } catch {
    // fallback for loaders without import.meta.resolve: the package's "import" export by hand
    const req = createRequire(import.meta.url);
    const [pkgName, ...rest] = spec.split("/");
    const pkgJson = req.resolve(`${pkgName}/package.json`);
    const exp = (req(pkgJson) as { exports: Record<string, { import?: string | { default?: string } }> }).exports[`./${rest.join("/")}`];
    const file = typeof exp?.import === "string" ? exp.import : exp?.import?.default;
    if (!file) throw new Error(`cannot resolve ${spec}`);
    return pathToFileURL(new URL(file, pathToFileURL(pkgJson)).pathname).href;
  }
}

/**
 * How to start the worker entry. Compiled (.js): the file itself. From source (.ts, under tsx
 * or vitest): Node 20 workers cannot load a .ts entry even when the parent runs under tsx,
 * so the worker is an eval'd shim that registers tsx's ESM loader, then imports the entry.
 */
function workerEntry(): { entry: string | URL; eval: boolean } {
  const isTs = import.meta.url.endsWith(".ts");
  if (!isTs) return { entry: new URL("./io-worker.js", import.meta.url), eval: false };
  const target = new URL("./io-worker.ts", import.meta.url).href;
  const tsxApi = resolveImport("tsx/esm/api");
  const shim = `import(${JSON.stringify(tsxApi)}).then((m) => { (m.register ?? m.default.register)(); return import(${JSON.stringify(target)}); })`;
  return { entry: shim, eval: true };
}

interface UnitSlot {
  index: number;
  port: number;
  worker: Worker | undefined;
  links: Set<LinkId>;
  gateways: Map<LinkId, string>;
  restarts: number;
}

type WorkerReply = IoEvent | { k: "start-failed"; error: string; code?: string } | { k: "stopped" };

export class WorkerIoHost implements IoHost {
  readonly units: number;
  private readonly slots: UnitSlot[];
  private onEvent: (e: IoEvent) => void = () => {};
  private stopping = false;

  constructor(private readonly opts: IoHostOptions) {
    this.units = opts.workers;
    this.slots = Array.from({ length: opts.workers }, (_, i) => ({
      index: i,
      port: opts.basePort === 0 ? 0 : opts.basePort + i,
      worker: undefined,
      links: new Set<LinkId>(),
      gateways: new Map<LinkId, string>(),
      restarts: 0,
    }));
  }

  async start(onEvent: (e: IoEvent) => void): Promise<number[]> {
    this.onEvent = onEvent;
    return Promise.all(this.slots.map((s) => this.spawn(s)));
  }

  private spawn(slot: UnitSlot): Promise<number> {
    const { entry, eval: isEval } = workerEntry();
    const cfg: IoUnitConfig = { ...this.opts.unit, index: slot.index, port: slot.port };
    const worker = new Worker(entry, { eval: isEval, workerData: cfg, name: `io-${slot.index}` });
    slot.worker = worker;
    return new Promise<number>((resolve, reject) => {
      let started = false;
      worker.on("message", (msg: WorkerReply) => {
        if (msg.k === "listening") {
          started = true;
          slot.port = msg.port;
          resolve(msg.port);
        } else if (msg.k === "start-failed") {
          reject(msg.code === "RIFT_PORT_IN_USE" || /port already in use/.test(msg.error) ? new RiftError("PORT_IN_USE", `field.linkPort+${slot.index}: ${msg.error}`) : new Error(msg.error));
          void worker.terminate();
          return;
        } else if (msg.k === "stopped") {
          return;
        }
        if (msg.k === "link-open") {
          slot.links.add(msg.link);
          slot.gateways.set(msg.link, msg.gateway);
        } else if (msg.k === "link-closed") {
          slot.links.delete(msg.link);
          slot.gateways.delete(msg.link);
        }
        this.onEvent(msg);
      });
      worker.on("error", (err) => {
        this.opts.log.error({ err, unit: slot.index }, "io worker crashed");
        if (!started) reject(err);
      });
      worker.on("exit", (code) => {
        if (slot.worker !== worker) return;
        slot.worker = undefined;
        // every link of the dead unit is gone: tell the logic thread so it releases the users
        for (const link of slot.links) this.onEvent({ k: "link-closed", link, gateway: slot.gateways.get(link) ?? "", code: 1006, reason: "io worker exited" });
        slot.links.clear();
        slot.gateways.clear();
        if (this.stopping || !started) return;
        slot.restarts++;
        this.opts.log.warn({ unit: slot.index, code, restarts: slot.restarts, port: slot.port }, "restarting io worker");
        this.spawn(slot).catch((err: unknown) => this.opts.log.error({ err, unit: slot.index }, "io worker restart failed"));
      });
    });
  }

  send(unit: number, cmd: IoCommand): void {
    this.slots[unit]?.worker?.postMessage(cmd);
  }

  /** Route a command to the unit owning a link. */
  sendToLink(link: LinkId, cmd: IoCommand): void {
    this.send(ioUnitOfLink(link), cmd);
  }

  async stop(code: number, reason: string): Promise<void> {
    this.stopping = true;
    await Promise.all(
      this.slots.map(async (s) => {
        const w = s.worker;
        if (!w) return;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 3000);
          timer.unref();
          w.on("message", (m: WorkerReply) => {
            if (m.k === "stopped") {
              clearTimeout(timer);
              resolve();
            }
          });
          w.postMessage({ k: "stop", code, reason });
        });
        await w.terminate();
      }),
    );
  }
}

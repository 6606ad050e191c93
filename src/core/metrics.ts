/**
 * Metrics: one prom-client Registry per process (never the library's global default
 * registry), plus the per-process ops HTTP endpoint serving `/metrics` (Prometheus text)
 * and `/healthz` (JSON; 200 when every registered health check passes, else 503).
 * Every metric name is prefixed `rift_`; docs/OPERATIONS.md lists them.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Registry, collectDefaultMetrics, Counter, Gauge, Histogram } from "prom-client";
import { RiftError } from "./errors.js";

export { Counter, Gauge, Histogram, Registry } from "prom-client";

export function createRegistry(labels: Record<string, string>): Registry {
  const reg = new Registry();
  reg.setDefaultLabels(labels);
  collectDefaultMetrics({ register: reg, prefix: "rift_process_" });
  return reg;
}

/** Buckets in seconds suited to tick and latency measurement (0.5 ms .. 2.5 s). */
export const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2.5];

export function counter(reg: Registry, name: string, help: string, labelNames: string[] = []): Counter<string> {
  return new Counter({ name, help, labelNames, registers: [reg] });
}
export function gauge(reg: Registry, name: string, help: string, labelNames: string[] = []): Gauge<string> {
  return new Gauge({ name, help, labelNames, registers: [reg] });
}
export function histogram(
  reg: Registry,
  name: string,
  help: string,
  buckets: number[] = LATENCY_BUCKETS,
  labelNames: string[] = [],
): Histogram<string> {
  return new Histogram({ name, help, buckets, labelNames, registers: [reg] });
}

export type HealthCheck = () => { ok: boolean; detail?: string } | Promise<{ ok: boolean; detail?: string }>;

export interface OpsServerOptions {
  host: string;
  port: number;
  registry: Registry;
  /** Static facts shown on /healthz (role, node id, version...). */
  info: Record<string, string>;
  /** Extra routes, e.g. a role's ops API. Return false when not handled. */
  routes?: (req: IncomingMessage, res: ServerResponse) => boolean | Promise<boolean>;
}

/** Largest body a POST ops route accepts. */
export const MAX_POST_BYTES = 1 << 20;

function readJsonBody(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > MAX_POST_BYTES) {
        reject(new RiftError("OPS_BAD_REQUEST", `body larger than ${MAX_POST_BYTES} bytes`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on("error", reject);
    req.on("end", () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString("utf8") || "null"));
      } catch {
        reject(new RiftError("OPS_BAD_REQUEST", "body is not JSON"));
      }
    });
  });
}

/** The per-process ops HTTP server. */
export class OpsServer {
  private readonly server: Server;
  private readonly checks = new Map<string, HealthCheck>();
  private readonly jsonRoutes = new Map<string, (query: URLSearchParams) => unknown>();
  private readonly postRoutes = new Map<string, (body: unknown) => unknown>();
  private readonly rawRoutes = new Map<string, (req: IncomingMessage, res: ServerResponse) => void | Promise<void>>();
  private readonly opts: OpsServerOptions;

  constructor(opts: OpsServerOptions) {
    this.opts = opts;
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        res.statusCode = 500;
        res.end(String(err));
      });
    });
  }

  addHealthCheck(name: string, check: HealthCheck): void {
    this.checks.set(name, check);
  }

  /** Serve `GET path` with the JSON of what `fn` returns (a role's read-only ops API). */
  addJsonRoute(path: string, fn: (query: URLSearchParams) => unknown): void {
    this.jsonRoutes.set(path, fn);
  }

  /**
   * Serve `POST path`: the JSON body (at most MAX_POST_BYTES) is passed to `fn`, which must
   * validate it; its result is returned as JSON. A RiftError thrown by `fn` becomes its HTTP
   * status (`def.http`, else 500) with body `{ code, message }`; unparsable JSON is 400
   * RIFT_OPS_BAD_REQUEST. Internal cluster control (e.g. shard-move holds): the ops port must
   * stay on a private network.
   */
  addJsonPost(path: string, fn: (body: unknown) => unknown): void {
    this.postRoutes.set(path, fn);
  }

  /** Serve `GET path` with a handler of its own (static files, server-sent events). */
  addRawRoute(path: string, fn: (req: IncomingMessage, res: ServerResponse) => void | Promise<void>): void {
    this.rawRoutes.set(path, fn);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = (req.url ?? "/").split("?")[0];
    if (url === "/metrics") {
      res.setHeader("content-type", this.opts.registry.contentType);
      res.end(await this.opts.registry.metrics());
      return;
    }
    if (url === "/healthz") {
      const results: Record<string, { ok: boolean; detail?: string }> = {};
      let ok = true;
      for (const [name, check] of this.checks) {
        try {
          results[name] = await check();
        } catch (e) {
          results[name] = { ok: false, detail: String(e) };
        }
        ok &&= results[name]!.ok;
      }
      res.statusCode = ok ? 200 : 503;
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ ok, ...this.opts.info, checks: results }));
      return;
    }
    const json = this.jsonRoutes.get(url ?? "");
    if (json && req.method === "GET") {
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify(await json(new URL(req.url ?? "/", "http://x").searchParams)));
      return;
    }
    const raw = this.rawRoutes.get(url ?? "");
    if (raw && req.method === "GET") {
      await raw(req, res);
      return;
    }
    const post = this.postRoutes.get(url ?? "");
    if (post && req.method === "POST") {
      res.setHeader("content-type", "application/json");
      try {
        const result = await post(await readJsonBody(req));
        res.end(JSON.stringify(result ?? {}));
      } catch (e) {
        const err = e instanceof RiftError ? e : new RiftError("INTERNAL", String(e), { cause: e });
        res.statusCode = err.def.http ?? 500;
        res.end(JSON.stringify({ code: err.code, message: err.message }));
      }
      return;
    }
    if (this.opts.routes && (await this.opts.routes(req, res))) return;
    res.statusCode = 404;
    res.end("not found\n");
  }

  /** Listen; a port conflict becomes RiftError(PORT_IN_USE). Returns the bound port. */
  async listen(): Promise<number> {
    await listenOrThrow(this.server, this.opts.host, this.opts.port, "ops.port");
    return (this.server.address() as AddressInfo).port;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}

/** Anything with Node's `listen(port, host)` + EventEmitter (http.Server, net.Server, ws's server). */
export interface Listenable {
  listen(port: number, host: string): unknown;
  once(event: string, listener: (...args: any[]) => void): unknown;
  off(event: string, listener: (...args: any[]) => void): unknown;
}

/** Listen on host:port, turning EADDRINUSE into RiftError(PORT_IN_USE) naming the config key. */
export function listenOrThrow(
  server: Listenable,
  host: string,
  port: number,
  what: string,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      server.off("listening", onListening);
      if (err.code === "EADDRINUSE") reject(new RiftError("PORT_IN_USE", `${host}:${port} (${what})`));
      else reject(err);
    };
    const onListening = () => {
      server.off("error", onError);
      resolve();
    };
    server.once("error", onError);
    server.once("listening", onListening);
    server.listen(port, host);
  });
}

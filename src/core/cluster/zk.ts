/**
 * A small promise wrapper around node-zookeeper-client, shared by every role (membership,
 * member views, leader election, Patroni leader lookup).
 *
 * Contract:
 * - `Zk.connect()` resolves once a session is established, or rejects with
 *   RiftError(DEPENDENCY_UNAVAILABLE) when none is within `connectTimeoutMs` (the half-made
 *   client is closed, nothing keeps retrying in the background).
 * - The library reconnects by itself after a DISCONNECT (same session; watches are re-set).
 *   A session EXPIRY is final for a client: with `renewOnExpiry` (default) this wrapper
 *   builds a NEW client, connects it (retrying until `close()`), swaps it in and emits
 *   `renewed`. Ephemeral nodes and watches of the old session are gone: owners of those must
 *   listen to `onSession` and re-create them (Membership and MemberView do).
 * - Game servers that must self-fence listen for `expired` (emitted before the renewal starts).
 * - Every method maps library errors to `ZkError` (with the numeric library `code`); use
 *   `isZkError(e, "NO_NODE")` etc. to branch. Operations issued while the session is
 *   expired and not yet renewed fail with SESSION_EXPIRED.
 * - Watchers are one-shot (ZooKeeper semantics); the library dedups the same function
 *   registered twice on one path, so callers may pass a stable function on every read.
 *
 * Paths are absolute (no chroot); `zkJoin` builds them.
 */
import zookeeper from "node-zookeeper-client";
import type { Client, Event as ZkEvent, Stat } from "node-zookeeper-client";
import { RiftError } from "../errors.js";
import type { Logger } from "../log.js";

export type { Stat } from "node-zookeeper-client";
export type ZkWatcher = (event: ZkEvent) => void;

export const CreateMode = zookeeper.CreateMode;
export const ZkEventType = zookeeper.Event;

/** Library error codes we branch on. */
export const ZkCodes = {
  NO_NODE: zookeeper.Exception.NO_NODE,
  NODE_EXISTS: zookeeper.Exception.NODE_EXISTS,
  NOT_EMPTY: zookeeper.Exception.NOT_EMPTY,
  BAD_VERSION: zookeeper.Exception.BAD_VERSION,
  CONNECTION_LOSS: zookeeper.Exception.CONNECTION_LOSS,
  SESSION_EXPIRED: zookeeper.Exception.SESSION_EXPIRED,
} as const;
export type ZkCodeName = keyof typeof ZkCodes;

export class ZkError extends Error {
  readonly code: number;
  readonly path: string | undefined;
  constructor(message: string, code: number, path?: string) {
    super(message);
    this.name = "ZkError";
    this.code = code;
    this.path = path;
  }
}

export function isZkError(e: unknown, name?: ZkCodeName): e is ZkError {
  return e instanceof ZkError && (name === undefined || e.code === ZkCodes[name]);
}

function wrap(err: unknown, op: string, path: string): ZkError {
  if (err instanceof ZkError) return err;
  const code = typeof (err as { code?: unknown })?.code === "number" ? (err as { code: number }).code : 0;
  const name = typeof (err as { name?: unknown })?.name === "string" ? (err as { name: string }).name : String(err);
  return new ZkError(`zookeeper ${op} ${path}: ${name}`, code, path);
}

/** Join znode path segments: zkJoin("/rift", "members", "gateway") → "/rift/members/gateway". */
export function zkJoin(...parts: string[]): string {
  const segs = parts.flatMap((p) => p.split("/")).filter((s) => s.length > 0);
  return "/" + segs.join("/");
}

export interface ZkOptions {
  /** `host:port[,host:port...]` */
  connect: string;
  sessionTimeoutMs: number;
  /** Deadline for establishing the first session (default: max(2 × sessionTimeoutMs, 5000)). */
  connectTimeoutMs?: number;
  /** Build a new session after EXPIRED (default true). */
  renewOnExpiry?: boolean;
  log?: Logger;
}

/**
 * One operation of a fenced multi-op (`Zk.commitFenced`). Versions are exact (`-1` =
 * any version); `mode` defaults to PERSISTENT.
 */
export type FencedOp =
  | { op: "create"; path: string; data: Buffer | null; mode?: number }
  | { op: "setData"; path: string; data: Buffer | null; version: number }
  | { op: "remove"; path: string; version: number };

/** Multi-op result entries as node-zookeeper-client reports them (`type` -1 = error entry). */
interface MultiResult {
  type?: number;
  err?: number;
}
const MULTI_ERROR_TYPE = -1;

/**
 * Session events:
 *  - `disconnected`: connection lost, the library is reconnecting (session may survive);
 *  - `connected`: (re)connected to the same or a new session;
 *  - `expired`: the session is gone — its ephemerals and watches are lost;
 *  - `renewed`: a new session replaced an expired one (re-create ephemerals and watches).
 */
export type ZkSessionEvent = "disconnected" | "connected" | "expired" | "renewed";

function newClient(opts: ZkOptions): Client {
  return zookeeper.createClient(opts.connect, { sessionTimeout: opts.sessionTimeoutMs, spinDelay: 200, retries: 0 });
}

/** Connect one client; resolves when SYNC_CONNECTED, rejects (and closes it) at the deadline. */
function connectClient(client: Client, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      client.removeListener("connected", onConnected);
      client.close();
      reject(new RiftError("DEPENDENCY_UNAVAILABLE", `zookeeper: no session within ${timeoutMs} ms`));
    }, timeoutMs);
    const onConnected = () => {
      clearTimeout(timer);
      resolve();
    };
    client.once("connected", onConnected);
    client.connect();
  });
}

export class Zk {
  private current: Client;
  private readonly opts: ZkOptions;
  private readonly listeners = new Set<(e: ZkSessionEvent) => void>();
  private closed = false;
  private renewing: Promise<void> | undefined;

  private constructor(client: Client, opts: ZkOptions) {
    this.current = client;
    this.opts = opts;
    this.attach(client);
  }

  /** Establish a session (see class contract). */
  static async connect(opts: ZkOptions): Promise<Zk> {
    const client = newClient(opts);
    await connectClient(client, opts.connectTimeoutMs ?? Math.max(2 * opts.sessionTimeoutMs, 5000));
    return new Zk(client, opts);
  }

  /** The raw library client of the current session (for recipes this wrapper lacks). */
  get client(): Client {
    return this.current;
  }

  /** Hex id of the current session. */
  get sessionId(): string {
    return this.current.getSessionId().toString("hex");
  }

  /** Session id + password, e.g. to build a second client on the same session in tests. */
  sessionCredentials(): { sessionId: Buffer; sessionPassword: Buffer } {
    return { sessionId: this.current.getSessionId(), sessionPassword: this.current.getSessionPassword() };
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Subscribe to session events. Returns an unsubscribe function. */
  onSession(fn: (e: ZkSessionEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private emit(e: ZkSessionEvent): void {
    for (const fn of [...this.listeners]) {
      try {
        fn(e);
      } catch (err) {
        this.opts.log?.error({ err, event: e }, "zookeeper session listener failed");
      }
    }
  }

  private attach(client: Client): void {
    client.on("disconnected", () => {
      if (client === this.current && !this.closed) this.emit("disconnected");
    });
    client.on("connected", () => {
      if (client === this.current && !this.closed) this.emit("connected");
    });
    client.on("expired", () => {
      if (client !== this.current || this.closed) return;
      this.opts.log?.warn("zookeeper session expired");
      this.emit("expired");
      if (this.opts.renewOnExpiry ?? true) void this.renew();
    });
  }

  /** Replace an expired session by a new client; retries with backoff until closed. */
  private renew(): Promise<void> {
    if (this.renewing) return this.renewing;
    this.renewing = (async () => {
      let delay = 200;
      while (!this.closed) {
        const client = newClient(this.opts);
        try {
          await connectClient(client, Math.max(this.opts.sessionTimeoutMs, 2000));
        } catch {
          await new Promise((r) => setTimeout(r, delay));
          delay = Math.min(delay * 2, 5000);
          continue;
        }
        if (this.closed) {
          client.close();
          return;
        }
        const old = this.current;
        this.current = client;
        this.attach(client);
        old.close();
        this.opts.log?.info({ session: this.sessionId }, "zookeeper session renewed");
        this.emit("renewed");
        return;
      }
    })().finally(() => {
      this.renewing = undefined;
    });
    return this.renewing;
  }

  /** Create a node. Resolves with the created path (differs from `path` for sequential modes). */
  create(path: string, data: Buffer | null = null, mode: number = CreateMode.PERSISTENT): Promise<string> {
    return new Promise((resolve, reject) => {
      const cb = (err: unknown, p: string) => (err ? reject(wrap(err, "create", path)) : resolve(p));
      if (data) this.current.create(path, data, mode, cb);
      else this.current.create(path, mode, cb);
    });
  }

  /** Create `path` and missing parents as persistent empty nodes (no error if it exists). */
  mkdirp(path: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.current.mkdirp(path, (err: unknown) => (err ? reject(wrap(err, "mkdirp", path)) : resolve()));
    });
  }

  /** Stat of the node, or null if it does not exist. The watcher fires on create/delete/data change. */
  exists(path: string, watcher?: ZkWatcher): Promise<Stat | null> {
    return new Promise((resolve, reject) => {
      const cb = (err: unknown, stat: Stat) => (err ? reject(wrap(err, "exists", path)) : resolve(stat ?? null));
      if (watcher) this.current.exists(path, watcher, cb);
      else this.current.exists(path, cb);
    });
  }

  /** Child names (not paths), sorted. Throws NO_NODE if `path` does not exist. */
  getChildren(path: string, watcher?: ZkWatcher): Promise<string[]> {
    return new Promise((resolve, reject) => {
      const cb = (err: unknown, children: string[]) =>
        err ? reject(wrap(err, "getChildren", path)) : resolve([...children].sort());
      if (watcher) this.current.getChildren(path, watcher, cb);
      else this.current.getChildren(path, cb);
    });
  }

  /** Data and stat. Throws NO_NODE if `path` does not exist. */
  getData(path: string, watcher?: ZkWatcher): Promise<{ data: Buffer | null; stat: Stat }> {
    return new Promise((resolve, reject) => {
      const cb = (err: unknown, data: Buffer, stat: Stat) =>
        err ? reject(wrap(err, "getData", path)) : resolve({ data: data ?? null, stat });
      if (watcher) this.current.getData(path, watcher, cb);
      else this.current.getData(path, cb);
    });
  }

  /** Set data; `version` -1 = unconditional. Throws BAD_VERSION / NO_NODE. */
  setData(path: string, data: Buffer | null, version = -1): Promise<Stat> {
    return new Promise((resolve, reject) => {
      this.current.setData(path, data, version, (err: unknown, stat: Stat) =>
        err ? reject(wrap(err, "setData", path)) : resolve(stat),
      );
    });
  }

  /** Remove one node; `version` -1 = unconditional. Throws NO_NODE / NOT_EMPTY / BAD_VERSION. */
  remove(path: string, version = -1): Promise<void> {
    return new Promise((resolve, reject) => {
      this.current.remove(path, version, (err: unknown) => (err ? reject(wrap(err, "remove", path)) : resolve()));
    });
  }

  /** Remove a subtree (children first); missing nodes are ignored. For tests and tools. */
  async removeRecursive(path: string): Promise<void> {
    let children: string[];
    try {
      children = await this.getChildren(path);
    } catch (e) {
      if (isZkError(e, "NO_NODE")) return;
      throw e;
    }
    for (const c of children) await this.removeRecursive(zkJoin(path, c));
    try {
      await this.remove(path);
    } catch (e) {
      if (isZkError(e, "NO_NODE")) return;
      if (isZkError(e, "NOT_EMPTY")) return this.removeRecursive(path); // raced with a creator
      throw e;
    }
  }

  /** True while the current session is connected (false while disconnected or expired). */
  get connected(): boolean {
    const state = this.current.getState();
    return !this.closed && (state === zookeeper.State.SYNC_CONNECTED || state === zookeeper.State.CONNECTED_READ_ONLY);
  }

  /**
   * Fenced write: ONE ZooKeeper multi-op that first checks that `checkPath` exists (e.g. our
   * leader-election node, which lives only as long as our session and our candidacy), then
   * applies `ops` in order. All-or-nothing: if the check or any op fails, nothing is applied
   * and the promise rejects with the ZkError of the FAILING op (its code and path): NO_NODE
   * when `checkPath` is gone (we are no longer leader) or a node to change is missing,
   * BAD_VERSION on a version mismatch, NODE_EXISTS for a create over an existing node.
   * A CONNECTION_LOSS leaves the outcome unknown (the caller re-reads and decides).
   */
  commitFenced(checkPath: string, ops: FencedOp[]): Promise<void> {
    const all: { op: string; path: string }[] = [{ op: "check", path: checkPath }, ...ops];
    return new Promise((resolve, reject) => {
      let tx: ReturnType<Client["transaction"]>;
      try {
        tx = this.current.transaction();
        tx.check(checkPath, -1);
        for (const o of ops) {
          switch (o.op) {
            case "create":
              if (o.data) tx.create(o.path, o.data, o.mode ?? CreateMode.PERSISTENT);
              else tx.create(o.path, o.mode ?? CreateMode.PERSISTENT);
              break;
            case "setData":
              tx.setData(o.path, o.data, o.version);
              pinLastVersion(tx, o.version);
              break;
            case "remove":
              tx.remove(o.path, o.version);
              pinLastVersion(tx, o.version);
              break;
          }
        }
      } catch (err) {
        reject(wrap(err, "multi", checkPath)); // invalid path (the library validates synchronously)
        return;
      }
      tx.commit((err: unknown, results: unknown) => {
        if (!err) return resolve();
        // The server marks the failing op with its error code, ops before it with OK and ops
        // after it with RUNTIME_INCONSISTENCY: the first non-OK error entry is the culprit.
        const list = Array.isArray(results) ? (results as MultiResult[]) : [];
        const i = list.findIndex((r) => r?.type === MULTI_ERROR_TYPE && r.err !== undefined && r.err !== 0);
        const failing = i >= 0 ? all[i] : undefined;
        reject(wrap(err, failing ? `multi (${failing.op})` : "multi", failing?.path ?? checkPath));
      });
    });
  }

  /**
   * End the session (its ephemerals vanish at once) and stop renewing. Resolves when the
   * server acknowledged the close or after `timeoutMs`.
   */
  close(timeoutMs = 2000): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    const client = this.current;
    const state = client.getState();
    if (state !== zookeeper.State.SYNC_CONNECTED && state !== zookeeper.State.CONNECTED_READ_ONLY) {
      client.close();
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      timer.unref?.();
      client.once("disconnected", () => {
        clearTimeout(timer);
        resolve();
      });
      client.close();
    });
  }
}

/**
 * node-zookeeper-client's Transaction turns version 0 into -1 (`version || -1`), which would
 * make a "node must be at version 0" op unconditional. Write the exact version into the op
 * just added (the builder keeps its ops in the public `ops` array).
 */
function pinLastVersion(tx: object, version: number): void {
  const ops = (tx as { ops?: { version?: number }[] }).ops;
  const last = ops?.[ops.length - 1];
  if (!last || !("version" in last)) throw new Error("node-zookeeper-client: unexpected Transaction layout (cannot pin op version)");
  last.version = version;
}

/** What `forceSessionExpiry` needs to know about the client whose session it ends. */
export interface ExpirySubject {
  /** Credentials of the session to end now (re-read on every attempt). */
  credentials(): { sessionId: Buffer; sessionPassword: Buffer; sessionTimeoutMs: number };
  /** True once the subject noticed the expiry (e.g. saw `expired`, or holds a new session). */
  expired(): boolean;
}

/**
 * Force a session expiry (tests only): a second client joins the same session and closes it,
 * which ends the session on the server exactly like an expiry. The original client may win
 * the session back by reconnecting before the twin's close arrives; so this repeats until
 * the subject reports the expiry (or the deadline passes).
 */
export async function forceSessionExpiry(connect: string, subject: ExpirySubject, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!subject.expired()) {
    if (Date.now() > deadline) throw new Error(`session did not expire within ${timeoutMs} ms`);
    const { sessionId, sessionPassword, sessionTimeoutMs } = subject.credentials();
    const twin = zookeeper.createClient(connect, {
      sessionTimeout: sessionTimeoutMs,
      sessionId,
      sessionPassword,
    } as unknown as Parameters<typeof zookeeper.createClient>[1]);
    try {
      await connectClient(twin, 3000);
    } catch {
      continue; // the session is already gone (the subject will see the expiry)
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 2000);
      twin.once("disconnected", () => {
        clearTimeout(timer);
        resolve();
      });
      twin.close();
    });
    const until = Date.now() + 1500;
    while (!subject.expired() && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  }
}

/** `forceSessionExpiry` for a `Zk` wrapper: done when it emitted `expired`. */
export async function expireSessionForTest(zk: Zk, connect: string, timeoutMs = 15_000): Promise<void> {
  let expired = false;
  const off = zk.onSession((e) => {
    if (e === "expired") expired = true;
  });
  try {
    await forceSessionExpiry(
      connect,
      {
        credentials: () => ({ ...zk.sessionCredentials(), sessionTimeoutMs: zk.client.getSessionTimeout() }),
        expired: () => expired,
      },
      timeoutMs,
    );
  } finally {
    off();
  }
}

/**
 * Reading Patroni's DCS (ZooKeeper) with watches, behind a small interface so the
 * PrimaryLocator can be unit-tested against an in-memory double (`MemoryDcs`).
 *
 * `ZkDcsReader` owns one node-zookeeper-client session. When the session EXPIRES (the
 * process was paused or partitioned past the session timeout) the library client is dead
 * for good: we close it, build a new client and tell subscribers (`onNewSession`) so they
 * re-read everything and re-arm their watches. Plain disconnects need nothing: the library
 * reconnects within the session and re-registers its watches itself (SetWatches).
 */
import zookeeper, { type Client as ZkClient, type State as ZkState } from "node-zookeeper-client";
import { RiftError } from "../core/errors.js";
import type { Logger } from "../core/log.js";

export interface DcsReader {
  /**
   * Read `path` and leave a one-shot watch on it: `onChange` is called once when the node is
   * created, changed or deleted after this read. Repeated reads with the same callback while
   * a watch is pending arm no extra watch (callbacks are kept in a set per path).
   * Resolves to the data, or `undefined` when the node does not exist.
   * Rejects (RiftError DEPENDENCY_UNAVAILABLE) on connection loss or timeout; callers retry.
   */
  read(path: string, onChange: () => void): Promise<Buffer | undefined>;
  /**
   * `fn` runs each time a NEW session replaced an expired one: every watch is gone, so
   * subscribers must re-read what they follow. Returns an unsubscribe function.
   */
  onNewSession(fn: () => void): () => void;
  close(): Promise<void>;
}

export interface ZkDcsOptions {
  /** host:port[,host:port...] (no chroot: Patroni's namespace is absolute). */
  connect: string;
  sessionTimeoutMs: number;
  log: Logger;
  /** Deadline of one read while disconnected (default 5 s). */
  opTimeoutMs?: number;
}

/** The ZooKeeper implementation of DcsReader. */
export class ZkDcsReader implements DcsReader {
  private client: ZkClient;
  private closed = false;
  /** path → callbacks waiting for the next event on it (one armed ZK watch per path). */
  private watches = new Map<string, { fire: () => void; callbacks: Set<() => void> }>();
  private readonly sessionListeners = new Set<() => void>();
  private readonly opts: ZkDcsOptions;
  private readonly log: Logger;

  constructor(opts: ZkDcsOptions) {
    this.opts = opts;
    this.log = opts.log.child({ component: "zk-dcs" });
    this.client = this.newClient();
  }

  private newClient(): ZkClient {
    const client = zookeeper.createClient(this.opts.connect, {
      sessionTimeout: this.opts.sessionTimeoutMs,
      spinDelay: 200,
    });
    client.on("state", (state: ZkState) => {
      if (client !== this.client || this.closed) return;
      if (state === zookeeper.State.EXPIRED) this.replaceExpiredClient();
      else if (state === zookeeper.State.DISCONNECTED) this.log.warn("zookeeper disconnected");
      else if (state === zookeeper.State.SYNC_CONNECTED) this.log.debug("zookeeper connected");
    });
    client.connect();
    return client;
  }

  private replaceExpiredClient(): void {
    this.log.warn("zookeeper session expired; building a new session and re-reading watched nodes");
    const old = this.client;
    this.watches = new Map();
    this.client = this.newClient();
    try {
      old.close();
    } catch {
      /* already dead */
    }
    this.client.once("connected", () => {
      if (this.closed) return;
      for (const fn of [...this.sessionListeners]) fn();
    });
  }

  onNewSession(fn: () => void): () => void {
    this.sessionListeners.add(fn);
    return () => this.sessionListeners.delete(fn);
  }

  /** The current session's id and password (diagnostics; tests use them to force an expiry). */
  session(): { id: Buffer; password: Buffer } {
    return { id: this.client.getSessionId(), password: this.client.getSessionPassword() };
  }

  private watcherFor(path: string, onChange: () => void): () => void {
    let w = this.watches.get(path);
    if (!w) {
      const entry = {
        callbacks: new Set<() => void>(),
        fire: () => {
          if (this.watches.get(path) === entry) this.watches.delete(path);
          for (const cb of entry.callbacks) cb();
          entry.callbacks.clear();
        },
      };
      w = entry;
      this.watches.set(path, w);
    }
    w.callbacks.add(onChange);
    return w.fire;
  }

  read(path: string, onChange: () => void): Promise<Buffer | undefined> {
    if (this.closed) return Promise.reject(new RiftError("DEPENDENCY_UNAVAILABLE", "zookeeper reader closed"));
    const client = this.client;
    const watcher = this.watcherFor(path, onChange);
    const timeoutMs = this.opts.opTimeoutMs ?? 5000;
    return new Promise<Buffer | undefined>((resolve, reject) => {
      let done = false;
      const timer = setTimeout(() => finish(new RiftError("DEPENDENCY_UNAVAILABLE", `zookeeper read of ${path} timed out after ${timeoutMs} ms`)), timeoutMs);
      const finish = (err: unknown, data?: Buffer) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        if (err) reject(err instanceof RiftError ? err : new RiftError("DEPENDENCY_UNAVAILABLE", `zookeeper read of ${path}: ${String(err)}`, { cause: err }));
        else resolve(data);
      };
      // getData arms a data watch when the node exists; on NO_NODE, exists() arms a creation
      // watch. If the node appeared in between, loop (bounded).
      const attempt = (left: number) => {
        client.getData(path, watcher, (err, data) => {
          if (!err) return finish(null, data ?? Buffer.alloc(0));
          if (!isNoNode(err)) return finish(err);
          client.exists(path, watcher, (err2, stat) => {
            if (err2) return finish(err2);
            if (!stat) return finish(null, undefined);
            if (left <= 0) return finish(new Error(`${path} flapping`));
            attempt(left - 1);
          });
        });
      };
      attempt(3);
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.watches.clear();
    this.sessionListeners.clear();
    try {
      this.client.close();
    } catch {
      /* ignore */
    }
  }
}

function isNoNode(err: unknown): boolean {
  return typeof err === "object" && err !== null && (err as { code?: unknown }).code === zookeeper.Exception.NO_NODE;
}

/**
 * In-memory DcsReader for unit tests: `set`/`remove` nodes (firing watches like ZooKeeper),
 * `dropWatches()` loses every watch silently, `expireSession()` drops them and notifies
 * `onNewSession` subscribers, and
 * `failReads(n)` makes the next n reads reject as a connection loss would.
 */
export class MemoryDcs implements DcsReader {
  private readonly nodes = new Map<string, Buffer>();
  private watches = new Map<string, Set<() => void>>();
  private readonly sessionListeners = new Set<() => void>();
  private failures = 0;
  /** Number of reads served (tests assert watches, not polling). */
  reads = 0;

  set(path: string, data: string | Buffer): void {
    this.nodes.set(path, typeof data === "string" ? Buffer.from(data) : data);
    this.fire(path);
  }

  remove(path: string): void {
    if (this.nodes.delete(path)) this.fire(path);
  }

  failReads(n: number): void {
    this.failures = n;
  }

  /** Lose every pending watch without notice (what a dead session does). */
  dropWatches(): void {
    this.watches = new Map();
  }

  /** Session expired and a new one was built: watches are gone, subscribers re-read. */
  expireSession(): void {
    this.dropWatches();
    for (const fn of [...this.sessionListeners]) fn();
  }

  /** Number of paths with a pending watch. */
  armedWatches(): number {
    return this.watches.size;
  }

  private fire(path: string): void {
    const cbs = this.watches.get(path);
    if (!cbs) return;
    this.watches.delete(path);
    for (const cb of cbs) cb();
  }

  async read(path: string, onChange: () => void): Promise<Buffer | undefined> {
    await Promise.resolve();
    if (this.failures > 0) {
      this.failures--;
      throw new RiftError("DEPENDENCY_UNAVAILABLE", `memory dcs: injected failure reading ${path}`);
    }
    this.reads++;
    let set = this.watches.get(path);
    if (!set) {
      set = new Set();
      this.watches.set(path, set);
    }
    set.add(onChange);
    return this.nodes.get(path);
  }

  onNewSession(fn: () => void): () => void {
    this.sessionListeners.add(fn);
    return () => this.sessionListeners.delete(fn);
  }

  async close(): Promise<void> {
    this.watches.clear();
    this.sessionListeners.clear();
  }
}

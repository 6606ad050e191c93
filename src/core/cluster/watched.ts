/**
 * Follow one znode (its data, or its children) with ZooKeeper watches.
 *
 * Contract: `onValue` is called with the latest value after every change and once after the
 * first read (`undefined` while the node does not exist). A watch event only marks the node
 * dirty; one read loop re-reads (re-arming the one-shot watch) until nothing is dirty, so
 * bursts of changes give one callback with the final value. After a reconnect or a session
 * renewal the node is re-read. Read errors (connection loss) retry after `retryMs`.
 */
import type { Logger } from "../log.js";
import { isZkError, type Zk, type ZkWatcher } from "./zk.js";

export interface WatchedOptions<T> {
  kind: "data" | "children";
  onValue: (value: T | undefined) => void;
  log?: Logger;
  retryMs?: number;
}

export class WatchedNode<T extends Buffer | string[] = Buffer> {
  private dirty = true;
  private running = false;
  private closed = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly unsubscribe: () => void;
  private readonly watcher: ZkWatcher = () => this.mark();
  private readyResolve!: () => void;
  private readonly readyPromise = new Promise<void>((r) => (this.readyResolve = r));

  constructor(
    private readonly zk: Zk,
    readonly path: string,
    private readonly opts: WatchedOptions<T>,
  ) {
    this.unsubscribe = zk.onSession((e) => {
      if (e === "renewed" || e === "connected") this.mark();
    });
    this.kick();
  }

  /** Resolves after the first successful read. */
  ready(): Promise<void> {
    return this.readyPromise;
  }

  /** Force a re-read (e.g. after writing the node ourselves). */
  mark(): void {
    this.dirty = true;
    this.kick();
  }

  close(): void {
    this.closed = true;
    this.unsubscribe();
    if (this.retryTimer) clearTimeout(this.retryTimer);
  }

  private kick(): void {
    if (this.running || this.closed || this.retryTimer) return;
    this.running = true;
    void this.loop().finally(() => {
      this.running = false;
      if (this.dirty && !this.retryTimer) this.kick();
    });
  }

  private async loop(): Promise<void> {
    while (this.dirty && !this.closed) {
      this.dirty = false;
      let value: T | undefined;
      try {
        value = await this.read();
      } catch (err) {
        this.dirty = true;
        if (this.closed) return;
        this.opts.log?.warn({ err: String(err), path: this.path }, "zookeeper watch: read failed, retrying");
        this.retryTimer = setTimeout(() => {
          this.retryTimer = undefined;
          this.kick();
        }, this.opts.retryMs ?? 200);
        return;
      }
      if (this.closed || this.dirty) continue;
      try {
        this.opts.onValue(value);
      } catch (err) {
        this.opts.log?.error({ err, path: this.path }, "zookeeper watch: listener failed");
      }
      this.readyResolve();
    }
  }

  private async read(): Promise<T | undefined> {
    try {
      if (this.opts.kind === "data") return (await this.zk.getData(this.path, this.watcher)).data as T;
      return (await this.zk.getChildren(this.path, this.watcher)) as T;
    } catch (e) {
      if (!isZkError(e, "NO_NODE")) throw e;
    }
    // Absent: arm a creation watch; if it appeared meanwhile, read again.
    const stat = await this.zk.exists(this.path, this.watcher);
    if (stat) this.dirty = true;
    return undefined;
  }
}

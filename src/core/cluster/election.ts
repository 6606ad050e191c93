/**
 * ZooKeeper implementation of `LeaderElection` (contract in types.ts).
 *
 * Recipe: every candidate owns one EPHEMERAL_SEQUENTIAL node `<root>/election/n_<seq>` whose
 * data is its node id. The lowest sequence number leads. Each candidate watches:
 *  - its PREDECESSOR (exists watch) — the only watch that can make it leader (no herd effect
 *    on joins and leaves further up the line);
 *  - the LOWEST node (data watch) — to keep `leaderId()` fresh; it fires only when the leader
 *    leaves (sequence numbers only grow, so no lower node can appear);
 *  - its OWN node (exists watch) — if someone deletes it, the candidate notices at once
 *    (a leader stops leading) and joins again at the back.
 * All watches mark the election dirty; one serialised loop re-reads the children and
 * re-arms the watches until nothing is dirty (bursts give one evaluation). Read errors
 * (connection loss) retry after `retryMs`.
 *
 * Session events (from `Zk.onSession`):
 *  - `disconnected`: `leader` → `suspended` (the session may survive; do nothing that needs
 *    leadership meanwhile); followers stay followers;
 *  - `connected`: re-check — `leader` again only if our node still exists and is the lowest;
 *  - `expired`: our node is gone: `follower` at once (emitted synchronously, before anything
 *    else runs), leader unknown until we re-join;
 *  - `renewed`: create a new node under the new session (at the back of the line) and re-run.
 * `leader` is only ever entered while the session is connected, after a successful read.
 *
 * A create whose reply is lost (CONNECTION_LOSS) may still have created the node: before
 * creating again, the candidate adopts a node owned by its own session, if there is one.
 *
 * `close()` leaves the election (deletes our node, so the next candidate takes over at once),
 * moves to `follower` (listeners are told) and stops reacting to anything.
 * `onChange` listeners are called only when the state actually changes.
 */
import { RiftError } from "../errors.js";
import type { Logger } from "../log.js";
import { electionPath } from "./paths.js";
import type { ElectionState, LeaderElection } from "./types.js";
import { CreateMode, isZkError, zkJoin, type Zk, type ZkSessionEvent, type ZkWatcher } from "./zk.js";

export interface ZkLeaderElectionOptions {
  /** Cluster root, e.g. `/rift`. */
  root: string;
  /** Our node id (stored as the data of our candidate node; what `leaderId()` returns). */
  id: string;
  log?: Logger;
  /** Pause before retrying a failed read (default 200 ms). */
  retryMs?: number;
  /** `start()` rejects with DEPENDENCY_UNAVAILABLE if no state is known by then (default 30 s). */
  startTimeoutMs?: number;
  /** `close()` gives up waiting for ZooKeeper after this long (default 5 s); the node then goes with the session. */
  closeTimeoutMs?: number;
}

const CANDIDATE = /^n_(\d+)$/;

/** Candidate node names in election order (lowest sequence number first); foreign names dropped. */
export function electionOrder(children: string[]): string[] {
  return children
    .map((name) => ({ name, m: CANDIDATE.exec(name) }))
    .filter((c): c is { name: string; m: RegExpExecArray } => c.m !== null)
    .sort((a, b) => {
      const x = BigInt(a.m[1]!);
      const y = BigInt(b.m[1]!);
      return x < y ? -1 : x > y ? 1 : 0;
    })
    .map((c) => c.name);
}

function baseName(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

function sleepUnref(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref?.());
}

export class ZkLeaderElection implements LeaderElection {
  private readonly zk: Zk;
  private readonly opts: ZkLeaderElectionOptions;
  private readonly dir: string;
  private readonly listeners = new Set<(s: ElectionState) => void>();
  private current: ElectionState = "follower";
  private leader: string | undefined;
  private myPath: string | undefined;

  private started = false;
  private active = false;
  /** Session connected (as far as the events told us). */
  private connected = false;
  /** Session expired, waiting for `renewed`: nothing to do meanwhile. */
  private waitingRenewal = false;
  /** Bumped on expiry/renewal: results of reads issued under an older session are dropped. */
  private epoch = 0;
  /** A create may have succeeded without us hearing back: look for our node before creating. */
  private createUncertain = false;

  private dirty = false;
  private running: Promise<void> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private readonly watcher: ZkWatcher = () => this.mark();
  private settleFirst: (() => void) | undefined;

  constructor(zk: Zk, opts: ZkLeaderElectionOptions) {
    this.zk = zk;
    this.opts = opts;
    this.dir = electionPath(opts.root);
  }

  get state(): ElectionState {
    return this.current;
  }

  leaderId(): string | undefined {
    return this.leader;
  }

  nodePath(): string | undefined {
    return this.myPath;
  }

  onChange(fn: (state: ElectionState) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  async start(): Promise<void> {
    if (this.started) throw new Error("election: already started");
    this.started = true;
    this.active = true;
    this.connected = this.zk.connected;
    this.unsubscribe = this.zk.onSession((e) => this.onSession(e));
    const first = new Promise<void>((resolve) => (this.settleFirst = resolve));
    const timeoutMs = this.opts.startTimeoutMs ?? 30_000;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), timeoutMs)));
    this.mark();
    const outcome = await Promise.race([first, timeout]);
    clearTimeout(timer);
    if (outcome === "timeout") {
      await this.close();
      throw new RiftError("DEPENDENCY_UNAVAILABLE", `leader election: no state known within ${timeoutMs} ms`);
    }
  }

  async close(): Promise<void> {
    if (!this.active) return;
    this.active = false;
    this.unsubscribe?.();
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.settleFirst?.();
    this.leader = undefined;
    this.setState("follower");
    const limit = this.opts.closeTimeoutMs ?? 5000;
    // Let an in-flight evaluation finish (a create in flight must not leave a node behind).
    if (this.running) await Promise.race([this.running, sleepUnref(limit)]);
    const path = this.myPath;
    this.myPath = undefined;
    if (path) await Promise.race([this.removeQuietly(path), sleepUnref(limit)]);
  }

  private async removeQuietly(path: string): Promise<void> {
    try {
      await this.zk.remove(path);
      this.opts.log?.info({ path }, "election: left");
    } catch (err) {
      if (isZkError(err, "NO_NODE") || isZkError(err, "SESSION_EXPIRED")) return;
      this.opts.log?.warn({ err: String(err), path }, "election: removing our node failed (it goes with the session)");
    }
  }

  private setState(next: ElectionState): void {
    if (next === this.current) return;
    const prev = this.current;
    this.current = next;
    this.opts.log?.info({ from: prev, to: next, node: this.myPath, leader: this.leader }, "election: state changed");
    for (const fn of [...this.listeners]) {
      try {
        fn(next);
      } catch (err) {
        this.opts.log?.error({ err }, "election: state listener failed");
      }
    }
  }

  private onSession(e: ZkSessionEvent): void {
    if (!this.active) return;
    switch (e) {
      case "disconnected":
        this.connected = false;
        if (this.current === "leader") this.setState("suspended");
        return;
      case "connected":
        this.connected = true;
        this.mark();
        return;
      case "expired":
        this.epoch++;
        this.connected = false;
        this.waitingRenewal = true;
        this.myPath = undefined;
        this.createUncertain = false;
        this.leader = undefined;
        if (this.retryTimer) clearTimeout(this.retryTimer);
        this.retryTimer = undefined;
        this.setState("follower");
        return;
      case "renewed":
        this.epoch++;
        this.connected = true;
        this.waitingRenewal = false;
        this.myPath = undefined;
        this.createUncertain = false;
        if (this.retryTimer) clearTimeout(this.retryTimer);
        this.retryTimer = undefined;
        this.mark();
        return;
    }
  }

  private mark(): void {
    this.dirty = true;
    this.kick();
  }

  private kick(): void {
    if (!this.active || this.running || this.retryTimer || this.waitingRenewal) return;
    this.running = this.loop().finally(() => {
      this.running = undefined;
      if (this.dirty) this.kick();
    });
  }

  private async loop(): Promise<void> {
    while (this.dirty && this.active && !this.waitingRenewal) {
      this.dirty = false;
      const epoch = this.epoch;
      try {
        await this.evaluate(epoch);
      } catch (err) {
        if (!this.active) return;
        this.dirty = true;
        if (epoch !== this.epoch) continue; // the session changed under us: start over at once
        this.opts.log?.warn({ err: String(err) }, "election: evaluation failed, retrying");
        this.retryTimer = setTimeout(() => {
          this.retryTimer = undefined;
          this.kick();
        }, this.opts.retryMs ?? 200);
        return;
      }
      if (!this.dirty) this.settleFirst?.();
    }
  }

  /** One pass: make sure we have a node, find our place in line, re-arm the watches, set the state. */
  private async evaluate(epoch: number): Promise<void> {
    if (!this.myPath) {
      const path = await this.join();
      if (!this.active) {
        await this.removeQuietly(path); // closed while the create was in flight
        return;
      }
      if (epoch !== this.epoch) return; // created under a session that is gone
      this.myPath = path;
      this.opts.log?.info({ path }, "election: joined");
    }
    const me = this.myPath;
    const line = electionOrder(await this.zk.getChildren(this.dir));
    const idx = line.indexOf(baseName(me));
    const own = idx < 0 ? null : await this.zk.exists(me, this.watcher);
    if (epoch !== this.epoch || !this.active) return;
    if (!own) {
      // Our node was deleted while our session lives: we lost our place. Join again at the back.
      this.opts.log?.warn({ path: me }, "election: our node vanished, re-joining");
      if (this.myPath === me) this.myPath = undefined;
      this.setState("follower");
      this.dirty = true;
      return;
    }
    let leaderId: string | undefined;
    if (idx === 0) {
      leaderId = this.opts.id;
    } else {
      try {
        const { data } = await this.zk.getData(zkJoin(this.dir, line[0]!), this.watcher);
        leaderId = data?.toString("utf8");
      } catch (err) {
        if (!isZkError(err, "NO_NODE")) throw err;
        this.dirty = true; // the leader left between the two reads
        return;
      }
      const predecessor = await this.zk.exists(zkJoin(this.dir, line[idx - 1]!), this.watcher);
      if (!predecessor) {
        this.dirty = true; // our predecessor left between the two reads
        return;
      }
    }
    if (epoch !== this.epoch || !this.active) return;
    this.leader = leaderId;
    if (idx > 0) this.setState("follower");
    else if (this.connected) this.setState("leader");
    else if (this.current === "leader") this.setState("suspended");
    // lowest but disconnected, never led: stay follower until `connected` re-runs us
  }

  /** Create our candidate node (or adopt the one a create with a lost reply made). */
  private async join(): Promise<string> {
    await this.zk.mkdirp(this.dir);
    if (this.createUncertain) {
      const adopted = await this.findOwnNode();
      if (adopted) {
        this.createUncertain = false;
        return adopted;
      }
    }
    try {
      const path = await this.zk.create(zkJoin(this.dir, "n_"), Buffer.from(this.opts.id, "utf8"), CreateMode.EPHEMERAL_SEQUENTIAL);
      this.createUncertain = false;
      return path;
    } catch (err) {
      if (isZkError(err, "CONNECTION_LOSS")) this.createUncertain = true;
      throw err;
    }
  }

  /** A candidate node owned by our current session holding our id, if any (extra ones are removed). */
  private async findOwnNode(): Promise<string | undefined> {
    const session = this.zk.client.getSessionId();
    let found: string | undefined;
    for (const name of electionOrder(await this.zk.getChildren(this.dir))) {
      const path = zkJoin(this.dir, name);
      let node: { data: Buffer | null; stat: { ephemeralOwner: Buffer } };
      try {
        node = await this.zk.getData(path);
      } catch (err) {
        if (isZkError(err, "NO_NODE")) continue;
        throw err;
      }
      if (Buffer.compare(node.stat.ephemeralOwner, session) !== 0 || node.data?.toString("utf8") !== this.opts.id) continue;
      if (found === undefined) found = path;
      else await this.removeQuietly(path);
    }
    return found;
  }
}

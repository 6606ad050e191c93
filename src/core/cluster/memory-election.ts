/**
 * In-memory double of `LeaderElection` for unit tests (coordinator logic without ZooKeeper).
 * A `MemoryElectionGroup` plays the part of the election znode: candidates join at the back
 * of one line, the first in line leads. Same contract as `ZkLeaderElection` (types.ts):
 *
 *  - `start()` joins (node path `/election/n_<seq>`, 10-digit sequence like ZooKeeper's);
 *    the state is known when it resolves;
 *  - `close()` leaves the line (the next candidate leads at once), state → `follower`;
 *  - `suspend(id)` simulates a connection loss that the session survives: a leader becomes
 *    `suspended`; while suspended a candidate learns nothing (like a disconnected client)
 *    and keeps its place in line;
 *  - `resume(id)` reconnects: the candidate re-checks (leader again if still first in line);
 *  - `expire(id)` simulates a session expiry: the node leaves the line and the state becomes
 *    `follower` synchronously; the candidate re-joins at the back of the line on a later
 *    macrotask (like the renewal of the ZooKeeper session), or only at `renew(id)` when
 *    called with `{ renew: false }`.
 *
 * `onChange` listeners are called synchronously, only on actual changes, after every
 * candidate's new state has been computed (a listener sees a consistent group). A listener
 * that throws does not stop the others; the first error is rethrown to the caller of the
 * operation (start/close/suspend/…) so unit tests see it, unlike ZkLeaderElection, which logs it.
 * `nodeExists(path)` lets a memory store fence writes on a candidate node like
 * `Zk.commitFenced` does.
 */
import type { ElectionState, LeaderElection } from "./types.js";

interface Member {
  id: string;
  /** In the line (started, not closed, not expired-and-waiting). */
  path: string | undefined;
  started: boolean;
  closed: boolean;
  connected: boolean;
  /** Expired and waiting for `renew`. */
  expired: boolean;
  renewTimer: NodeJS.Timeout | undefined;
  state: ElectionState;
  leader: string | undefined;
  listeners: Set<(s: ElectionState) => void>;
}

export class MemoryElectionGroup {
  private seq = 0;
  private readonly line: Member[] = [];
  private readonly members: Member[] = [];
  private notifying = false;
  private pending: { m: Member; s: ElectionState }[] = [];

  /** A new candidate (one "coordinator process"). Several may share an id, though tests rarely want that. */
  candidate(id: string): LeaderElection {
    const m: Member = {
      id,
      path: undefined,
      started: false,
      closed: false,
      connected: true,
      expired: false,
      renewTimer: undefined,
      state: "follower",
      leader: undefined,
      listeners: new Set(),
    };
    this.members.push(m);
    return {
      start: async () => {
        if (m.started) throw new Error("election: already started");
        m.started = true;
        this.join(m);
        this.recompute();
      },
      get state() {
        return m.state;
      },
      leaderId: () => m.leader,
      nodePath: () => m.path,
      onChange: (fn) => {
        m.listeners.add(fn);
        return () => m.listeners.delete(fn);
      },
      close: async () => {
        if (!m.started || m.closed) return;
        m.closed = true;
        if (m.renewTimer) clearTimeout(m.renewTimer);
        this.leave(m);
        m.leader = undefined;
        this.change(m, "follower");
        this.recompute();
      },
    };
  }

  /** Connection lost, session alive (see file contract). */
  suspend(id: string): void {
    for (const m of this.live(id)) {
      if (!m.connected) continue;
      m.connected = false;
      if (m.state === "leader") this.change(m, "suspended");
    }
    this.flush();
  }

  /** Connection back on the same session: re-check. */
  resume(id: string): void {
    for (const m of this.live(id)) m.connected = true;
    this.recompute();
  }

  /** Session expired (see file contract). */
  expire(id: string, opts: { renew?: boolean } = {}): void {
    for (const m of this.live(id)) {
      if (m.expired) continue;
      this.leave(m);
      m.expired = true;
      m.connected = true; // the client learns of the expiry by reconnecting
      m.leader = undefined;
      this.change(m, "follower");
      if (opts.renew ?? true) {
        m.renewTimer = setTimeout(() => {
          m.renewTimer = undefined;
          this.renew(id);
        }, 0);
      }
    }
    this.recompute();
  }

  /** A new session replaced the expired one: re-join at the back of the line. */
  renew(id: string): void {
    for (const m of this.live(id)) {
      if (!m.expired) continue;
      if (m.renewTimer) clearTimeout(m.renewTimer);
      m.renewTimer = undefined;
      m.expired = false;
      this.join(m);
    }
    this.recompute();
  }

  /** True while `path` is a live candidate node (fencing for memory stores). */
  nodeExists(path: string): boolean {
    return this.line.some((m) => m.path === path);
  }

  /** Ids in line, leader first. */
  order(): string[] {
    return this.line.map((m) => m.id);
  }

  private live(id: string): Member[] {
    const found = this.members.filter((m) => m.id === id && m.started && !m.closed);
    if (found.length === 0) throw new Error(`memory election: no running candidate '${id}'`);
    return found;
  }

  private join(m: Member): void {
    m.path = `/election/n_${String(this.seq++).padStart(10, "0")}`;
    this.line.push(m);
  }

  private leave(m: Member): void {
    const i = this.line.indexOf(m);
    if (i >= 0) this.line.splice(i, 1);
    m.path = undefined;
  }

  /** Every connected candidate in line learns its place and the leader. */
  private recompute(): void {
    const first = this.line[0];
    for (const m of this.line) {
      if (!m.connected) continue;
      m.leader = first?.id;
      this.change(m, m === first ? "leader" : "follower");
    }
    this.flush();
  }

  private change(m: Member, s: ElectionState): void {
    if (m.state === s) return;
    m.state = s;
    this.pending.push({ m, s });
  }

  private flush(): void {
    if (this.notifying) return; // the outer flush delivers what listeners caused
    this.notifying = true;
    let failure: { err: unknown } | undefined;
    try {
      while (this.pending.length > 0) {
        const { m, s } = this.pending.shift()!;
        for (const fn of [...m.listeners]) {
          try {
            fn(s);
          } catch (err) {
            failure ??= { err }; // deliver to everyone, then surface the first failure
          }
        }
      }
    } finally {
      this.notifying = false;
    }
    if (failure) throw failure.err;
  }
}

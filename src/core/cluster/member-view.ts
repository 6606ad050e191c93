/**
 * ZooKeeper implementation of `MemberView`: watches `<root>/members` (roles), each role's
 * children (members) and each member's data.
 *
 * Consistency: watch events only mark paths dirty; one refresh loop re-reads every dirty
 * path (re-arming the one-shot watches) until nothing is dirty, and only THEN publishes a
 * snapshot. A published snapshot therefore never mixes a half-read role list with member
 * data of another moment, and listeners see at most one call per settled change.
 * Listeners are called only when the snapshot actually changed.
 *
 * After a session renewal (expiry) or a reconnect every path is re-read.
 * Read errors (connection loss) keep the dirty marks and retry after a short backoff.
 */
import type { Role } from "../config.js";
import type { Logger } from "../log.js";
import { decodeMemberInfo } from "./member-info.js";
import { membersPath } from "./paths.js";
import type { MemberInfo, MemberView } from "./types.js";
import { isZkError, zkJoin, type Zk, type ZkWatcher } from "./zk.js";

export interface ZkMemberViewOptions {
  root: string;
  /** Only these roles (default: all). */
  roles?: Role[];
  log?: Logger;
  /** Retry delay after a failed read (default 200 ms). */
  retryMs?: number;
}

function sortMembers(a: MemberInfo, b: MemberInfo): number {
  return a.role < b.role ? -1 : a.role > b.role ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

export class ZkMemberView implements MemberView {
  private readonly zk: Zk;
  private readonly opts: ZkMemberViewOptions;
  private readonly base: string;
  /** role → member ids currently listed. */
  private readonly roleChildren = new Map<string, Set<string>>();
  /** member path → info (only valid infos). */
  private readonly infos = new Map<string, MemberInfo>();
  private snapshot: MemberInfo[] = [];
  private snapshotKey = "";
  private readonly listeners = new Set<(m: MemberInfo[]) => void>();

  private dirtyRoot = true;
  private readonly dirtyRoles = new Set<string>();
  private readonly dirtyMembers = new Set<string>();
  private running = false;
  private closed = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly unsubscribe: () => void;
  private readyResolve!: () => void;
  private readonly readyPromise: Promise<void>;

  private readonly rootWatcher: ZkWatcher = () => this.markRoot();
  private readonly roleWatchers = new Map<string, ZkWatcher>();
  private readonly memberWatchers = new Map<string, ZkWatcher>();

  constructor(zk: Zk, opts: ZkMemberViewOptions) {
    this.zk = zk;
    this.opts = opts;
    this.base = membersPath(opts.root);
    this.readyPromise = new Promise((r) => (this.readyResolve = r));
    this.unsubscribe = zk.onSession((e) => {
      if (e === "renewed" || e === "connected") this.markAll();
    });
    this.kick();
  }

  members(role?: Role): MemberInfo[] {
    return role ? this.snapshot.filter((m) => m.role === role) : [...this.snapshot];
  }

  onChange(fn: (members: MemberInfo[]) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  ready(): Promise<void> {
    return this.readyPromise;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.unsubscribe();
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.listeners.clear();
  }

  private wanted(role: string): boolean {
    return !this.opts.roles || (this.opts.roles as string[]).includes(role);
  }

  private markRoot(): void {
    this.dirtyRoot = true;
    this.kick();
  }

  private markAll(): void {
    this.dirtyRoot = true;
    for (const role of this.roleChildren.keys()) this.dirtyRoles.add(role);
    for (const path of this.infos.keys()) this.dirtyMembers.add(path);
    this.kick();
  }

  private roleWatcher(role: string): ZkWatcher {
    let w = this.roleWatchers.get(role);
    if (!w) {
      w = () => {
        this.dirtyRoles.add(role);
        this.kick();
      };
      this.roleWatchers.set(role, w);
    }
    return w;
  }

  private memberWatcher(path: string): ZkWatcher {
    let w = this.memberWatchers.get(path);
    if (!w) {
      w = () => {
        this.dirtyMembers.add(path);
        this.kick();
      };
      this.memberWatchers.set(path, w);
    }
    return w;
  }

  private isDirty(): boolean {
    return this.dirtyRoot || this.dirtyRoles.size > 0 || this.dirtyMembers.size > 0;
  }

  private kick(): void {
    if (this.running || this.closed || this.retryTimer) return;
    this.running = true;
    void this.refresh().finally(() => {
      this.running = false;
      // A watch may have fired between the end of the loop and now.
      if (this.isDirty()) this.kick();
    });
  }

  private async refresh(): Promise<void> {
    try {
      while (!this.closed && this.isDirty()) {
        if (this.dirtyRoot) {
          this.dirtyRoot = false;
          await this.readRoot();
        }
        for (const role of [...this.dirtyRoles]) {
          this.dirtyRoles.delete(role);
          await this.readRole(role);
        }
        for (const path of [...this.dirtyMembers]) {
          this.dirtyMembers.delete(path);
          await this.readMember(path);
        }
      }
    } catch (err) {
      if (this.closed) return;
      this.opts.log?.warn({ err: String(err) }, "member view: read failed, retrying");
      this.retryTimer = setTimeout(() => {
        this.retryTimer = undefined;
        this.kick();
      }, this.opts.retryMs ?? 200);
      return;
    }
    if (!this.closed) this.publish();
  }

  private async readRoot(): Promise<void> {
    let roles: string[];
    try {
      roles = await this.zk.getChildren(this.base, this.rootWatcher);
    } catch (e) {
      this.dirtyRoot = true;
      if (!isZkError(e, "NO_NODE")) throw e;
      // Not created yet: create it (persistent, harmless) so the children watch can be set.
      await this.zk.mkdirp(this.base);
      return;
    }
    const present = new Set(roles.filter((r) => this.wanted(r)));
    for (const role of [...this.roleChildren.keys()]) {
      if (!present.has(role)) this.dropRole(role);
    }
    for (const role of present) {
      if (!this.roleChildren.has(role)) {
        this.roleChildren.set(role, new Set());
        this.dirtyRoles.add(role);
      }
    }
  }

  private dropRole(role: string): void {
    for (const id of this.roleChildren.get(role) ?? []) this.dropMember(zkJoin(this.base, role, id));
    this.roleChildren.delete(role);
    this.roleWatchers.delete(role);
  }

  private dropMember(path: string): void {
    this.infos.delete(path);
    this.memberWatchers.delete(path);
    this.dirtyMembers.delete(path);
  }

  private async readRole(role: string): Promise<void> {
    const rolePath = zkJoin(this.base, role);
    let ids: string[];
    try {
      ids = await this.zk.getChildren(rolePath, this.roleWatcher(role));
    } catch (e) {
      if (isZkError(e, "NO_NODE")) {
        this.dropRole(role);
        return;
      }
      this.dirtyRoles.add(role);
      throw e;
    }
    const known = this.roleChildren.get(role) ?? new Set<string>();
    const now = new Set(ids);
    for (const id of known) if (!now.has(id)) this.dropMember(zkJoin(rolePath, id));
    for (const id of now) if (!known.has(id)) this.dirtyMembers.add(zkJoin(rolePath, id));
    this.roleChildren.set(role, now);
  }

  private async readMember(path: string): Promise<void> {
    try {
      const { data } = await this.zk.getData(path, this.memberWatcher(path));
      const info = decodeMemberInfo(data);
      if (info) this.infos.set(path, info);
      else {
        this.infos.delete(path);
        this.opts.log?.warn({ path }, "member view: ignoring node with invalid MemberInfo");
      }
    } catch (e) {
      if (isZkError(e, "NO_NODE")) {
        this.dropMember(path);
        return;
      }
      this.dirtyMembers.add(path);
      throw e;
    }
  }

  private publish(): void {
    const snap = [...this.infos.values()].sort(sortMembers);
    const key = JSON.stringify(snap);
    this.readyResolve();
    if (key === this.snapshotKey) return;
    this.snapshot = snap;
    this.snapshotKey = key;
    for (const fn of [...this.listeners]) {
      try {
        fn(this.members());
      } catch (err) {
        this.opts.log?.error({ err }, "member view listener failed");
      }
    }
  }
}

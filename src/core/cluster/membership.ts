/**
 * ZooKeeper implementation of `Membership`: one EPHEMERAL znode
 * `<root>/members/<role>/<nodeId>` holding the JSON MemberInfo of this process.
 *
 * - Parents are created persistently (mkdirp).
 * - If a node with our id already exists from an OLD session (restart with a fixed node id
 *   before the old session timed out), it is removed and re-created under our session.
 * - After a session expiry, when Zk renews the session, the node is re-created with the
 *   latest info (including patches applied meanwhile).
 * - `update` is rate-limited to one write per `minUpdateIntervalMs` (default 1000): calls in
 *   between are merged and written once at the end of the interval; every caller's promise
 *   resolves when a write containing its patch is done.
 */
import type { Logger } from "../log.js";
import { encodeMemberInfo } from "./member-info.js";
import { memberPath, roleMembersPath } from "./paths.js";
import type { MemberInfo, Membership } from "./types.js";
import { CreateMode, isZkError, type Zk } from "./zk.js";

export interface ZkMembershipOptions {
  /** Cluster root, e.g. `/rift`. */
  root: string;
  log?: Logger;
  /** Minimum time between two data writes by `update` (default 1000 ms). */
  minUpdateIntervalMs?: number;
  /** Clock (tests). */
  now?: () => number;
}

export class ZkMembership implements Membership {
  private readonly zk: Zk;
  private readonly opts: ZkMembershipOptions;
  private info: MemberInfo | undefined;
  private path: string | undefined;
  private active = false;
  private lastWrite = -Infinity;
  private pending: { timer: NodeJS.Timeout; waiters: { resolve: () => void; reject: (e: unknown) => void }[] } | undefined;
  private unsubscribe: (() => void) | undefined;
  /** Serialises znode writes so a re-create and an update never interleave. */
  private chain: Promise<void> = Promise.resolve();

  constructor(zk: Zk, opts: ZkMembershipOptions) {
    this.zk = zk;
    this.opts = opts;
  }

  private now(): number {
    return (this.opts.now ?? Date.now)();
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.chain.then(fn, fn);
    this.chain = p.then(
      () => undefined,
      () => undefined,
    );
    return p;
  }

  async register(info: MemberInfo): Promise<void> {
    if (this.active) throw new Error("membership: already registered");
    this.info = { ...info };
    this.path = memberPath(this.opts.root, info.role, info.id);
    this.active = true;
    this.unsubscribe = this.zk.onSession((e) => {
      if (e === "renewed" && this.active) {
        this.serial(() => this.createNode()).catch((err: unknown) =>
          this.opts.log?.error({ err }, "membership: re-registering after session renewal failed"),
        );
      }
    });
    try {
      await this.serial(() => this.createNode());
    } catch (e) {
      this.active = false;
      this.unsubscribe();
      throw e;
    }
    this.lastWrite = this.now();
  }

  private async createNode(): Promise<void> {
    const info = this.info!;
    const path = this.path!;
    await this.zk.mkdirp(roleMembersPath(this.opts.root, info.role));
    for (let attempt = 0; ; attempt++) {
      try {
        await this.zk.create(path, encodeMemberInfo(info), CreateMode.EPHEMERAL);
        this.opts.log?.info({ path }, "membership: registered");
        return;
      } catch (e) {
        if (!isZkError(e, "NODE_EXISTS") || attempt >= 3) throw e;
      }
      // A node with our id exists: ours (retry after a lost reply) → just write the data;
      // an old session's → remove it and create ours.
      const stat = await this.zk.exists(path);
      if (!stat) continue;
      const mine = Buffer.compare(stat.ephemeralOwner, this.zk.client.getSessionId()) === 0;
      if (mine) {
        await this.zk.setData(path, encodeMemberInfo(info));
        return;
      }
      this.opts.log?.warn({ path }, "membership: replacing a stale node of an older session");
      try {
        await this.zk.remove(path, stat.version);
      } catch (err) {
        if (!isZkError(err, "NO_NODE") && !isZkError(err, "BAD_VERSION")) throw err;
      }
    }
  }

  update(patch: Partial<MemberInfo>): Promise<void> {
    if (!this.active || !this.info) return Promise.reject(new Error("membership: not registered"));
    Object.assign(this.info, patch, { role: this.info.role, id: this.info.id });
    return new Promise((resolve, reject) => {
      if (this.pending) {
        this.pending.waiters.push({ resolve, reject });
        return;
      }
      const wait = Math.max(0, this.lastWrite + (this.opts.minUpdateIntervalMs ?? 1000) - this.now());
      const timer = setTimeout(() => this.flushUpdate(), wait);
      this.pending = { timer, waiters: [{ resolve, reject }] };
    });
  }

  private flushUpdate(): void {
    const pending = this.pending;
    this.pending = undefined;
    if (!pending) return;
    this.lastWrite = this.now();
    const write = async () => {
      if (!this.active) return;
      try {
        await this.zk.setData(this.path!, encodeMemberInfo(this.info!));
      } catch (e) {
        // Node lost with the session: the renewal re-creates it with the latest info.
        if (isZkError(e, "SESSION_EXPIRED")) return;
        if (isZkError(e, "NO_NODE")) return this.createNode();
        throw e;
      }
    };
    this.serial(write).then(
      () => pending.waiters.forEach((w) => w.resolve()),
      (e: unknown) => pending.waiters.forEach((w) => w.reject(e)),
    );
  }

  /** The info as last registered/patched (what the node holds or is about to hold). */
  current(): MemberInfo | undefined {
    return this.info ? { ...this.info } : undefined;
  }

  async deregister(): Promise<void> {
    if (!this.active) return;
    this.active = false;
    this.unsubscribe?.();
    if (this.pending) {
      clearTimeout(this.pending.timer);
      this.pending.waiters.forEach((w) => w.resolve());
      this.pending = undefined;
    }
    await this.serial(async () => {
      try {
        await this.zk.remove(this.path!);
        this.opts.log?.info({ path: this.path }, "membership: deregistered");
      } catch (e) {
        if (!isZkError(e, "NO_NODE") && !isZkError(e, "SESSION_EXPIRED")) throw e;
      }
    });
  }
}

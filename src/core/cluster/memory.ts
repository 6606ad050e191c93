/**
 * In-memory doubles of Membership and MemberView for unit tests: a shared `MemoryCluster`
 * plays the part of ZooKeeper. Same contracts as the ZooKeeper implementations (snapshots
 * sorted by role then id; listeners called only on change).
 */
import type { Role } from "../config.js";
import type { MemberInfo, Membership, MemberView } from "./types.js";

export class MemoryCluster {
  private readonly members = new Map<string, MemberInfo>();
  private readonly listeners = new Set<() => void>();

  snapshot(): MemberInfo[] {
    return [...this.members.values()]
      .map((m) => ({ ...m }))
      .sort((a, b) => (a.role === b.role ? (a.id < b.id ? -1 : a.id > b.id ? 1 : 0) : a.role < b.role ? -1 : 1));
  }

  set(info: MemberInfo): void {
    this.members.set(`${info.role}/${info.id}`, { ...info });
    this.changed();
  }

  delete(role: Role, id: string): void {
    if (this.members.delete(`${role}/${id}`)) this.changed();
  }

  get(role: Role, id: string): MemberInfo | undefined {
    return this.members.get(`${role}/${id}`);
  }

  subscribe(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private changed(): void {
    for (const fn of [...this.listeners]) fn();
  }

  membership(): Membership {
    let mine: MemberInfo | undefined;
    return {
      register: async (info) => {
        mine = { ...info };
        this.set(mine);
      },
      update: async (patch) => {
        if (!mine) throw new Error("membership: not registered");
        mine = { ...mine, ...patch, role: mine.role, id: mine.id };
        this.set(mine);
      },
      deregister: async () => {
        if (mine) this.delete(mine.role, mine.id);
        mine = undefined;
      },
    };
  }

  view(): MemberView {
    let snap = this.snapshot();
    let key = JSON.stringify(snap);
    const listeners = new Set<(m: MemberInfo[]) => void>();
    const unsubscribe = this.subscribe(() => {
      const next = this.snapshot();
      const k = JSON.stringify(next);
      if (k === key) return;
      snap = next;
      key = k;
      for (const fn of [...listeners]) fn([...snap]);
    });
    return {
      members: (role) => (role ? snap.filter((m) => m.role === role) : [...snap]),
      onChange: (fn) => {
        listeners.add(fn);
        return () => listeners.delete(fn);
      },
      ready: async () => {},
      close: async () => {
        unsubscribe();
        listeners.clear();
      },
    };
  }
}

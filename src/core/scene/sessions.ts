/**
 * The users served by a scene host, indexed by user, by gateway link and by channel key
 * (a session's `zone` is fixed while it is in the table: moving elsewhere is remove + add).
 * Pure bookkeeping.
 */
import type { LinkId } from "../transport/io-worker-protocol.js";

export interface Session {
  readonly user: number;
  readonly name: string;
  readonly zone: string;
  link: LinkId;
  hp: number;
  /** Cell ids this user watches as last sent to its gateway (`subs`). */
  cells: number[];
}

export class SessionTable {
  private readonly byUser = new Map<number, Session>();
  private readonly byLink = new Map<LinkId, Set<number>>();
  private readonly byZone = new Map<string, Set<Session>>();

  get size(): number {
    return this.byUser.size;
  }

  get(user: number): Session | undefined {
    return this.byUser.get(user);
  }

  values(): IterableIterator<Session> {
    return this.byUser.values();
  }

  add(s: Session): void {
    if (this.byUser.has(s.user)) throw new Error(`session ${s.user} exists`);
    this.byUser.set(s.user, s);
    this.index(s.link).add(s.user);
    let inZone = this.byZone.get(s.zone);
    if (!inZone) this.byZone.set(s.zone, (inZone = new Set()));
    inZone.add(s);
  }

  remove(user: number): Session | undefined {
    const s = this.byUser.get(user);
    if (!s) return undefined;
    this.byUser.delete(user);
    this.unindex(s.link, user);
    const inZone = this.byZone.get(s.zone);
    inZone?.delete(s);
    if (inZone?.size === 0) this.byZone.delete(s.zone);
    return s;
  }

  moveLink(s: Session, link: LinkId): void {
    this.unindex(s.link, s.user);
    s.link = link;
    this.index(link).add(s.user);
  }

  /** The sessions in a channel key (zone, channel or dungeon instance), in arrival order. */
  inZone(key: string): Session[] {
    return [...(this.byZone.get(key) ?? [])];
  }

  usersOf(link: LinkId): number[] {
    return [...(this.byLink.get(link) ?? [])];
  }

  private index(link: LinkId): Set<number> {
    let set = this.byLink.get(link);
    if (!set) this.byLink.set(link, (set = new Set()));
    return set;
  }

  private unindex(link: LinkId, user: number): void {
    const set = this.byLink.get(link);
    if (!set) return;
    set.delete(user);
    if (set.size === 0) this.byLink.delete(link);
  }
}

/**
 * The users served by a scene host, indexed by user and by gateway link. Pure bookkeeping.
 */
import type { LinkId } from "../transport/io-worker-protocol.js";

export interface Session {
  readonly user: number;
  readonly name: string;
  zone: string;
  link: LinkId;
  hp: number;
  /** Cell ids this user watches as last sent to its gateway (`subs`). */
  cells: number[];
}

export class SessionTable {
  private readonly byUser = new Map<number, Session>();
  private readonly byLink = new Map<LinkId, Set<number>>();

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
  }

  remove(user: number): Session | undefined {
    const s = this.byUser.get(user);
    if (!s) return undefined;
    this.byUser.delete(user);
    this.unindex(s.link, user);
    return s;
  }

  moveLink(s: Session, link: LinkId): void {
    this.unindex(s.link, s.user);
    s.link = link;
    this.index(link).add(s.user);
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

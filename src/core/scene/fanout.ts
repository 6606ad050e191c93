/**
 * Per-tick output assembly on the logic thread (no encoding here — IO units encode).
 *
 * `LinkInterest` counts, per link, how many of its users watch each cell, so a tick sends a
 * link only the changed cells some user of that link watches (each cell once per link, however
 * many of its users watch it).
 *
 * `Outbox` collects, between two ticks, the control ops, subscription changes and direct
 * messages per link; `buildTick()` turns them plus the tick's cell changes into one
 * IoCommand per IO unit.
 */
import type { CtrlOut, CellOut, DirectMsg, IoCommand, LinkId, LinkTickOut } from "../transport/io-worker-protocol.js";
import { ioUnitOfLink } from "../transport/io-worker-protocol.js";

export class LinkInterest {
  private readonly refs = new Map<LinkId, Map<number, number>>();

  add(link: LinkId, cells: readonly number[]): void {
    let m = this.refs.get(link);
    if (!m) this.refs.set(link, (m = new Map()));
    for (const c of cells) m.set(c, (m.get(c) ?? 0) + 1);
  }

  remove(link: LinkId, cells: readonly number[]): void {
    const m = this.refs.get(link);
    if (!m) return;
    for (const c of cells) {
      const n = (m.get(c) ?? 0) - 1;
      if (n > 0) m.set(c, n);
      else m.delete(c);
    }
    if (m.size === 0) this.refs.delete(link);
  }

  dropLink(link: LinkId): void {
    this.refs.delete(link);
  }

  watches(link: LinkId, cell: number): boolean {
    return this.refs.get(link)?.has(cell) ?? false;
  }

  links(): IterableIterator<LinkId> {
    return this.refs.keys();
  }

  /** Cells watched by a link (tests, tools). */
  cellsOf(link: LinkId): number[] {
    return [...(this.refs.get(link)?.keys() ?? [])].sort((a, b) => a - b);
  }
}

function emptyOut(link: LinkId): LinkTickOut {
  return { link, ctrl: [], cells: [], subs: [], direct: [] };
}

export class Outbox {
  private perLink = new Map<LinkId, LinkTickOut>();
  private directIdx = new Map<LinkId, Map<number, DirectMsg[]>>();

  private out(link: LinkId): LinkTickOut {
    let o = this.perLink.get(link);
    if (!o) this.perLink.set(link, (o = emptyOut(link)));
    return o;
  }

  ctrl(link: LinkId, op: CtrlOut): void {
    this.out(link).ctrl.push(op);
  }

  subs(link: LinkId, user: number, cells: number[]): void {
    this.out(link).subs.push([user, cells]);
  }

  direct(link: LinkId, user: number, msg: DirectMsg): void {
    const o = this.out(link);
    let byUser = this.directIdx.get(link);
    if (!byUser) this.directIdx.set(link, (byUser = new Map()));
    let list = byUser.get(user);
    if (!list) {
      byUser.set(user, (list = []));
      o.direct.push([user, list]);
    }
    list.push(msg);
  }

  /** Drop everything queued for a link (it closed). */
  dropLink(link: LinkId): void {
    this.perLink.delete(link);
    this.directIdx.delete(link);
  }

  /** Take the pending control ops of every link (used when no tick will run: shutdown). */
  takeCtrl(): [LinkId, CtrlOut[]][] {
    const out: [LinkId, CtrlOut[]][] = [];
    for (const o of this.perLink.values()) {
      if (o.ctrl.length > 0) out.push([o.link, o.ctrl]);
      o.ctrl = [];
    }
    return out;
  }

  /**
   * Build one `tick` command per IO unit (every unit gets one, even if empty, so it reports
   * its send-queue stats every tick) and reset the outbox.
   */
  buildTick(tick: number, changed: readonly CellOut[], interest: LinkInterest, units: number): IoCommand[] {
    for (const link of interest.links()) {
      for (const c of changed) {
        if (interest.watches(link, c.c)) this.out(link).cells.push(c.c);
      }
    }
    const byUnit = Array.from({ length: units }, () => ({ links: [] as LinkTickOut[], need: new Set<number>() }));
    for (const o of this.perLink.values()) {
      if (o.ctrl.length === 0 && o.cells.length === 0 && o.subs.length === 0 && o.direct.length === 0) continue;
      const u = byUnit[ioUnitOfLink(o.link)];
      if (!u) continue;
      u.links.push(o);
      for (const c of o.cells) u.need.add(c);
    }
    this.perLink = new Map();
    this.directIdx = new Map();
    return byUnit.map((u) => ({ k: "tick" as const, tick, cells: changed.filter((c) => u.need.has(c.c)), links: u.links }));
  }
}

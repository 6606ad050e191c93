/**
 * Tick fan-out (DESIGN §7): a game server sends this gateway ONE `tick` op per tick holding
 * each AOI cell's change list encoded once; the gateway knows which cells each of its users
 * watches and builds every user's frame by concatenating buffers — no re-encoding.
 *
 * Pure: no sockets, no timers. One `CellSubscriptions` per server link (cell ids are only
 * unique within one server).
 */

/** Which cells each user watches, with the reverse index cell → users. */
export class CellSubscriptions {
  private readonly byUser = new Map<number, readonly number[]>();
  private readonly byCell = new Map<number, Set<number>>();

  /** Replace the user's watched set. */
  set(user: number, cells: readonly number[]): void {
    this.clear(user);
    const unique = [...new Set(cells)];
    this.byUser.set(user, unique);
    for (const c of unique) {
      let s = this.byCell.get(c);
      if (!s) this.byCell.set(c, (s = new Set()));
      s.add(user);
    }
  }

  /** Forget the user (detached, moved to another server). */
  clear(user: number): void {
    const old = this.byUser.get(user);
    if (!old) return;
    this.byUser.delete(user);
    for (const c of old) {
      const s = this.byCell.get(c);
      if (!s) continue;
      s.delete(user);
      if (s.size === 0) this.byCell.delete(c);
    }
  }

  cellsOf(user: number): readonly number[] {
    return this.byUser.get(user) ?? [];
  }

  watchers(cell: number): ReadonlySet<number> | undefined {
    return this.byCell.get(cell);
  }

  get userCount(): number {
    return this.byUser.size;
  }
}

export interface TickBody {
  tick: number;
  cells: [number, Uint8Array][];
  subs: [number, number[]][];
  direct: [number, Uint8Array[]][];
}

/**
 * Apply the tick's `subs` for users where `acceptSubs(user)`, then collect the parts of each
 * user where `acceptDeliver(user)`: its direct buffers first, then the buffers of the watched
 * cells present in this tick, in the tick's cell order.
 */
export function assembleTick(
  tick: TickBody,
  subs: CellSubscriptions,
  acceptSubs: (user: number) => boolean,
  acceptDeliver: (user: number) => boolean = acceptSubs,
): Map<number, Uint8Array[]> {
  for (const [user, cells] of tick.subs) if (acceptSubs(user)) subs.set(user, cells);
  const out = new Map<number, Uint8Array[]>();
  for (const [user, bufs] of tick.direct) {
    if (bufs.length === 0 || !acceptDeliver(user)) continue;
    const parts = out.get(user);
    if (parts) parts.push(...bufs);
    else out.set(user, [...bufs]);
  }
  for (const [cell, buf] of tick.cells) {
    const ws = subs.watchers(cell);
    if (!ws) continue;
    for (const user of ws) {
      let parts = out.get(user);
      if (!parts) {
        if (!acceptDeliver(user)) continue;
        out.set(user, (parts = []));
      }
      parts.push(buf);
    }
  }
  return out;
}

/** Concatenate parts into one frame (one copy; a single part is returned as is). */
export function concatParts(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  let total = 0;
  for (const p of parts) total += p.byteLength;
  const out = Buffer.allocUnsafe(total);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.byteLength;
  }
  return out;
}

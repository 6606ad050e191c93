/**
 * Full-queue policy for client input (see core/loop/bounded-queue.ts): when the packet queue
 * is full the packet is dropped and counted; a user whose packets were dropped at least
 * `maxDrops` times within `windowMs` is reported once as "kick" (the scene kicks it with
 * SERVER_BUSY). The count restarts with each window. Pure (time passed in).
 */
export class InputGuard {
  private readonly drops = new Map<number, { since: number; n: number }>();

  constructor(
    private readonly maxDrops: number,
    private readonly windowMs: number,
  ) {}

  /** Record one dropped packet; returns "kick" exactly when the user crosses the limit. */
  dropped(user: number, now: number): "ok" | "kick" {
    let d = this.drops.get(user);
    if (!d || now - d.since >= this.windowMs) this.drops.set(user, (d = { since: now, n: 0 }));
    d.n++;
    return d.n === this.maxDrops ? "kick" : "ok";
  }

  forget(user: number): void {
    this.drops.delete(user);
  }

  /** Drop stale windows (call now and then; bounded by users who overflowed). */
  sweep(now: number): void {
    for (const [u, d] of this.drops) if (now - d.since >= this.windowMs) this.drops.delete(u);
  }
}

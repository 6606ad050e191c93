/**
 * Exception isolation at the packet boundary (DESIGN §1 "Fail gracefully", issue #7 item 5),
 * the bookkeeping half (pure, no IO; the scene host does the moving and sending):
 *
 * - `record(user, tick, type, body)` keeps each user's last `recentPerUser` handled messages
 *   (references only: nothing is encoded until a fault happens) — the "recent debug log" of
 *   the error trace.
 * - `fault(...)` builds the error trace (server, tick, message type, error message, stack,
 *   recent messages) and decides: `relocate` (send the player to the safe spot, keep the
 *   connection) — or `kick` when the same user faulted `maxFaults` times within `windowMs`
 *   (a crash loop: the user is disconnected politely and traces stop piling up).
 * - `inject(user, n)`: the next n messages of the user throw inside the handler boundary
 *   (tests and drills; only reachable through the ops API when `field.faultInjection` is on).
 */
export interface RecentMessage {
  tick: number;
  type: string;
  body: string;
}

export interface FaultTrace {
  user: number;
  server: string;
  tick: number;
  type: string;
  error: string;
  stack: string;
  recent: RecentMessage[];
  /** Faults of this user within the window, this one included. */
  faultsInWindow: number;
}

export interface FaultIsolationOptions {
  server: string;
  recentPerUser?: number;
  maxFaults?: number;
  windowMs?: number;
}

/** Thrown by an injected fault. */
export class InjectedFault extends Error {
  constructor() {
    super("injected fault (ops API /debug/fault)");
    this.name = "InjectedFault";
  }
}

function summarize(body: unknown): string {
  try {
    const s = JSON.stringify(body);
    return s === undefined ? String(body) : s.length > 200 ? `${s.slice(0, 200)}…` : s;
  } catch {
    return "(unserializable)";
  }
}

export class FaultIsolation {
  private readonly recent = new Map<number, { tick: number; type: string; body: unknown }[]>();
  private readonly faults = new Map<number, number[]>();
  private readonly injected = new Map<number, number>();
  private readonly recentPerUser: number;
  private readonly maxFaults: number;
  private readonly windowMs: number;

  constructor(private readonly opts: FaultIsolationOptions) {
    this.recentPerUser = opts.recentPerUser ?? 16;
    this.maxFaults = opts.maxFaults ?? 3;
    this.windowMs = opts.windowMs ?? 60_000;
  }

  record(user: number, tick: number, type: string, body: unknown): void {
    let ring = this.recent.get(user);
    if (!ring) this.recent.set(user, (ring = []));
    ring.push({ tick, type, body });
    if (ring.length > this.recentPerUser) ring.shift();
  }

  /** Throws InjectedFault when a fault is pending for the user (call inside the handler boundary). */
  maybeThrow(user: number): void {
    const n = this.injected.get(user);
    if (!n) return;
    if (n <= 1) this.injected.delete(user);
    else this.injected.set(user, n - 1);
    throw new InjectedFault();
  }

  inject(user: number, count: number): void {
    this.injected.set(user, (this.injected.get(user) ?? 0) + count);
  }

  fault(user: number, tick: number, type: string, err: unknown, now: number): { action: "relocate" | "kick"; trace: FaultTrace } {
    const times = (this.faults.get(user) ?? []).filter((t) => now - t < this.windowMs);
    times.push(now);
    this.faults.set(user, times);
    const e = err instanceof Error ? err : new Error(String(err));
    const trace: FaultTrace = {
      user,
      server: this.opts.server,
      tick,
      type,
      error: e.message,
      stack: e.stack ?? e.message,
      recent: (this.recent.get(user) ?? []).map((r) => ({ tick: r.tick, type: r.type, body: summarize(r.body) })),
      faultsInWindow: times.length,
    };
    return { action: times.length >= this.maxFaults ? "kick" : "relocate", trace };
  }

  /** The user left this server: drop its ring (fault history stays for the window). */
  forget(user: number): void {
    this.recent.delete(user);
    this.injected.delete(user);
  }

  /** Drop fault histories older than the window (call now and then). */
  sweep(now: number): void {
    for (const [u, times] of this.faults) if (times.every((t) => now - t >= this.windowMs)) this.faults.delete(u);
  }
}

/**
 * OpsState: a process's live copy of the switches and flags (issue #9 items 5–6).
 *
 * Contract:
 * - `start()` loads the durable state (store) and subscribes to the bus; it resolves after
 *   the first load (a failing store is retried in the background; until then the state is
 *   empty = every built-in feature on).
 * - Durable events from the bus are applied at once (no DB read), then listeners run.
 * - `{kind: "resync"}` (bus reconnected), start-up and a periodic timer (`reconcileMs`)
 *   reload the whole state from the store; an event that arrives while a reload is in
 *   flight triggers one more reload, so a stale read never wins over a newer event.
 * - Transient events (`announce`, `kick`) only go to listeners.
 * - Listeners never throw into the bus (errors logged).
 */
import type { Logger } from "../log.js";
import { applyOpsEvent, type OpsBus, type OpsEvent, type OpsStore } from "./events.js";
import { emptySnapshot, featureEnabled, featuresFor, type OpsSnapshot } from "./flags.js";

export type OpsListener = (e: OpsEvent | { kind: "reloaded" }) => void;

export interface OpsStateOptions {
  store: OpsStore;
  bus: OpsBus;
  /** Role of this process (flag scopes). */
  role: string;
  log: Logger;
  /** Period of the full reload from the store (safety net; 0 = never). */
  reconcileMs: number;
}

export class OpsState {
  private snap: OpsSnapshot = emptySnapshot();
  private readonly listeners = new Set<OpsListener>();
  private unsub: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private loading: Promise<void> | undefined;
  private eventsDuringLoad = 0;
  private closed = false;

  constructor(private readonly opts: OpsStateOptions) {}

  get snapshot(): OpsSnapshot {
    return this.snap;
  }

  get role(): string {
    return this.opts.role;
  }

  async start(): Promise<void> {
    this.unsub = this.opts.bus.subscribe((d) => {
      if (d.kind === "resync") return void this.reload();
      this.onEvent(d);
    });
    if (this.opts.reconcileMs > 0) {
      this.timer = setInterval(() => void this.reload(), this.opts.reconcileMs);
      this.timer.unref();
    }
    await this.reload();
  }

  on(fn: OpsListener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  enabled(feature: string, builtin: readonly string[], userId?: number): boolean {
    return featureEnabled(this.snap, builtin, feature, userId, this.opts.role);
  }

  features(builtin: readonly string[], userId?: number): string[] {
    return featuresFor(this.snap, builtin, userId, this.opts.role);
  }

  /** Reload from the store (coalesced: concurrent callers share one load). */
  reload(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.loading ??= (async () => {
      try {
        for (;;) {
          this.eventsDuringLoad = 0;
          const s = await this.opts.store.load();
          if (this.closed) return;
          if (this.eventsDuringLoad === 0) {
            this.snap = s;
            break;
          }
        }
        this.emit({ kind: "reloaded" });
      } catch (err) {
        this.opts.log.warn({ err: err instanceof Error ? err.message : String(err) }, "ops state: reload from the database failed (keeping the current state)");
      } finally {
        this.loading = undefined;
      }
    })();
    return this.loading;
  }

  private onEvent(e: OpsEvent): void {
    this.eventsDuringLoad++;
    this.snap = applyOpsEvent(this.snap, e);
    this.emit(e);
  }

  private emit(e: OpsEvent | { kind: "reloaded" }): void {
    for (const fn of [...this.listeners]) {
      try {
        fn(e);
      } catch (err) {
        this.opts.log.error({ err }, "ops state listener failed");
      }
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.unsub?.();
    if (this.timer) clearInterval(this.timer);
    this.listeners.clear();
    await this.opts.bus.close();
  }
}

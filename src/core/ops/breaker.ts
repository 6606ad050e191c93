/**
 * Circuit breakers for calls to NON-critical external services (issue #9 item 7), over
 * opossum. A breaker wraps one async action:
 *
 * - every call gets `timeoutMs` (the action also receives an AbortSignal that fires then,
 *   so a hanging HTTP request is torn down, not only abandoned);
 * - a failed, timed-out or rejected call resolves with the FALLBACK value instead of
 *   rejecting (`call` never rejects unless the fallback itself throws);
 * - CLOSED → OPEN when, within the rolling window (`rollingWindowMs`), at least
 *   `volumeThreshold` calls were made and more than `errorThresholdPercentage` % of them
 *   failed or timed out; while OPEN every call is rejected at once (fallback, no IO);
 * - after `resetTimeoutMs` the breaker is HALF-OPEN: the next call is a trial (other calls
 *   meanwhile are rejected); its success closes the breaker, its failure re-opens it.
 *
 * Metrics (on the process registry, shared by all breakers of the process):
 * `rift_breaker_state{name}` 0 closed / 1 half-open / 2 open and
 * `rift_breaker_calls_total{name,result}` with result success | failure | timeout | reject |
 * fallback (a failed call counts `failure` or `timeout` AND `fallback`).
 *
 * Never call a breaker from a game server's logic tick expecting a value in that tick: the
 * result is a promise; the caller answers when it settles (the tick never waits on IO).
 */
import CircuitBreaker from "opossum";
import type { Logger } from "../log.js";
import { Counter, Gauge, type Registry } from "../metrics.js";

export interface BreakerOptions {
  /** A call not settled after this long counts as a `timeout` failure (and its signal aborts). */
  timeoutMs: number;
  /** Open when more than this % of the calls in the rolling window failed (0–100). */
  errorThresholdPercentage: number;
  /** Minimum calls in the rolling window before the breaker may open. */
  volumeThreshold: number;
  /** Time OPEN before a half-open trial call is allowed. */
  resetTimeoutMs: number;
  /** Rolling statistics window (default 10 s). */
  rollingWindowMs?: number;
}

export type BreakerState = "closed" | "halfOpen" | "open";
export const BREAKER_STATE_VALUE: Readonly<Record<BreakerState, number>> = { closed: 0, halfOpen: 1, open: 2 };
export type BreakerResult = "success" | "failure" | "timeout" | "reject" | "fallback";

export interface BreakerMetrics {
  state: Gauge<"name">;
  calls: Counter<"name" | "result">;
}

export const BREAKER_STATE_METRIC = "rift_breaker_state";
export const BREAKER_CALLS_METRIC = "rift_breaker_calls_total";

/** The breaker metrics of `reg`, created on first use (idempotent per registry). */
export function breakerMetrics(reg: Registry): BreakerMetrics {
  const state =
    (reg.getSingleMetric(BREAKER_STATE_METRIC) as Gauge<"name"> | undefined) ??
    new Gauge({ name: BREAKER_STATE_METRIC, help: "Circuit breaker state: 0 closed, 1 half-open, 2 open", labelNames: ["name"], registers: [reg] });
  const calls =
    (reg.getSingleMetric(BREAKER_CALLS_METRIC) as Counter<"name" | "result"> | undefined) ??
    new Counter({
      name: BREAKER_CALLS_METRIC,
      help: "Calls through a circuit breaker by result (success, failure, timeout, reject, fallback)",
      labelNames: ["name", "result"],
      registers: [reg],
    });
  return { state, calls };
}

export interface BreakerDeps<R> {
  /** Value served when the call fails, times out or is rejected (may depend on the error). */
  fallback: (err: Error) => R;
  metrics?: BreakerMetrics;
  log?: Logger;
}

export class Breaker<A extends unknown[], R> {
  private readonly cb: CircuitBreaker<A, R>;
  private readonly counts: Record<BreakerResult, number> = { success: 0, failure: 0, timeout: 0, reject: 0, fallback: 0 };

  constructor(
    readonly name: string,
    action: (signal: AbortSignal, ...args: A) => Promise<R>,
    opts: BreakerOptions,
    deps: BreakerDeps<R>,
  ) {
    this.cb = new CircuitBreaker<A, R>((...args: A) => action(AbortSignal.timeout(opts.timeoutMs), ...args), {
      name,
      timeout: opts.timeoutMs,
      errorThresholdPercentage: opts.errorThresholdPercentage,
      volumeThreshold: opts.volumeThreshold,
      resetTimeout: opts.resetTimeoutMs,
      rollingCountTimeout: opts.rollingWindowMs ?? 10_000,
      rollingCountBuckets: 10,
    });
    this.cb.fallback((...a: unknown[]) => deps.fallback(a[a.length - 1] as Error));
    const m = deps.metrics;
    const count = (result: BreakerResult) => {
      this.counts[result]++;
      m?.calls.inc({ name, result });
    };
    const setState = (s: BreakerState) => {
      m?.state.set({ name }, BREAKER_STATE_VALUE[s]);
      deps.log?.[s === "open" ? "warn" : "info"]({ breaker: name, state: s }, `breaker ${name}: ${s}`);
    };
    m?.state.set({ name }, 0);
    for (const r of ["success", "failure", "timeout", "reject", "fallback"] as const) m?.calls.inc({ name, result: r }, 0);
    this.cb.on("success", () => count("success"));
    this.cb.on("timeout", () => count("timeout"));
    // opossum emits `failure` for timeouts too: count those once, as `timeout`
    this.cb.on("failure", (err: Error & { code?: string }) => {
      if (err?.code !== "ETIMEDOUT") count("failure");
      deps.log?.debug({ breaker: name, err: err?.message }, "breaker call failed");
    });
    this.cb.on("reject", () => count("reject"));
    this.cb.on("fallback", () => count("fallback"));
    this.cb.on("open", () => setState("open"));
    this.cb.on("halfOpen", () => setState("halfOpen"));
    this.cb.on("close", () => setState("closed"));
  }

  /** Run the action through the breaker: its value, or the fallback value. */
  call(...args: A): Promise<R> {
    return this.cb.fire(...args);
  }

  get state(): BreakerState {
    return this.cb.opened ? "open" : this.cb.halfOpen ? "halfOpen" : "closed";
  }

  /** Calls by result since construction (tests, diagnostics). */
  get results(): Readonly<Record<BreakerResult, number>> {
    return { ...this.counts };
  }

  /** Stop the breaker's timers (rolling window, reset timer); later calls reject. */
  shutdown(): void {
    this.cb.shutdown();
  }
}

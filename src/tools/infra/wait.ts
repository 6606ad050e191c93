/**
 * Polling with a deadline — the only way the launcher and the tests wait for anything
 * (no fixed sleeps).
 *
 * Contract of `waitFor(cond, opts)`:
 * - `cond` is called immediately, then every `intervalMs` (the interval starts after the
 *   previous call finished, so slow probes never overlap).
 * - A result other than `undefined`, `null` or `false` ends the wait and is returned.
 * - An exception thrown by `cond` counts as "not yet"; the last one is quoted in the
 *   timeout error. Throw a `FatalWaitError` (e.g. "the process died") to stop at once.
 * - On the deadline it throws `WaitTimeoutError` naming `what` — also while a call of `cond`
 *   is still pending (a hung probe cannot stretch the deadline); if `signal` aborts it throws
 *   the signal's reason.
 */

export class WaitTimeoutError extends Error {
  constructor(
    readonly what: string,
    readonly timeoutMs: number,
    readonly lastError: unknown,
  ) {
    const last = lastError === undefined ? "" : ` (last error: ${errorText(lastError)})`;
    super(`timed out after ${(timeoutMs / 1000).toFixed(1)}s waiting for ${what}${last}`);
    this.name = "WaitTimeoutError";
  }
}

/** Thrown from a condition to end the wait immediately (it is rethrown unchanged). */
export class FatalWaitError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "FatalWaitError";
  }
}

export interface WaitOptions {
  /** Deadline for the whole wait. */
  timeoutMs: number;
  /** Pause between two calls of the condition (default 100 ms). */
  intervalMs?: number;
  /** Human description used in the timeout error, e.g. "shard0 standby pg1 streaming". */
  what: string;
  signal?: AbortSignal;
}

export type Falsy = undefined | null | false;

export async function waitFor<T>(cond: () => T | Falsy | Promise<T | Falsy>, opts: WaitOptions): Promise<T> {
  const interval = opts.intervalMs ?? 100;
  const deadline = Date.now() + opts.timeoutMs;
  let lastError: unknown;
  for (;;) {
    opts.signal?.throwIfAborted();
    let v: T | Falsy | typeof TIMED_OUT = undefined;
    try {
      v = await raceDeadline(Promise.resolve().then(cond), deadline, opts.signal);
    } catch (e) {
      if (e instanceof FatalWaitError) throw e;
      opts.signal?.throwIfAborted();
      lastError = e;
    }
    if (v === TIMED_OUT) throw new WaitTimeoutError(opts.what, opts.timeoutMs, lastError ?? new Error("the last check did not finish in time"));
    if (v !== undefined && v !== null && v !== false) return v;
    const left = deadline - Date.now();
    if (left <= 0) throw new WaitTimeoutError(opts.what, opts.timeoutMs, lastError);
    await sleep(Math.min(interval, left), opts.signal);
  }
}

const TIMED_OUT = Symbol("timed out");

/** Settles like `p`, or with TIMED_OUT at `deadline`, or rejects when `signal` aborts. */
function raceDeadline<T>(p: Promise<T>, deadline: number, signal?: AbortSignal): Promise<T | typeof TIMED_OUT> {
  return new Promise((resolve, reject) => {
    const onAbort = () => finish(() => reject(signal!.reason));
    const timer = setTimeout(() => finish(() => resolve(TIMED_OUT)), Math.max(0, deadline - Date.now()));
    signal?.addEventListener("abort", onAbort, { once: true });
    let done = false;
    function finish(f: () => void) {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      f();
    }
    p.then(
      (v) => finish(() => resolve(v)),
      (e: unknown) => finish(() => reject(e)),
    );
  });
}

/**
 * Internal pause between polls (never use it to "give something time": wait on a condition).
 * Rejects with the signal's reason when aborted.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** Rejects after `ms` with an error naming `what`; the timer is cleared when `p` settles. */
export async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new WaitTimeoutError(what, ms, undefined)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export function errorText(e: unknown): string {
  if (e instanceof AggregateError && e.errors.length > 0) return e.errors.map(errorText).join("; ");
  if (e instanceof Error) return e.message || e.name;
  return String(e);
}

/** Seconds since `t0` (a `Date.now()` value), formatted for progress lines: "2.3s". */
export function since(t0: number): string {
  return `${((Date.now() - t0) / 1000).toFixed(1)}s`;
}

/**
 * Token bucket: `ratePerSec` tokens refill continuously up to `burst`; each message takes one.
 * Pure (the clock is injected), so the connection logic is unit-testable without timers.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly ratePerSec: number,
    private readonly burst: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!(ratePerSec > 0) || !(burst >= 1)) throw new RangeError("token bucket: rate > 0 and burst >= 1 required");
    this.tokens = burst;
    this.last = now();
  }

  /** Take `n` tokens; false (and nothing taken) when not enough are available. */
  take(n = 1): boolean {
    const t = this.now();
    const elapsed = t - this.last;
    if (elapsed > 0) {
      this.tokens = Math.min(this.burst, this.tokens + (elapsed * this.ratePerSec) / 1000);
      this.last = t;
    }
    if (this.tokens < n) return false;
    this.tokens -= n;
    return true;
  }

  /** Tokens available now (for tests and metrics). */
  available(): number {
    this.take(0);
    return this.tokens;
  }
}

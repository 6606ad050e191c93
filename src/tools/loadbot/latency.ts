/**
 * Input → observation latency of one bot (pure).
 *
 * `sent(seq, t)` remembers when input `seq` left; `seen(seq, t)` — the bot saw its own
 * entity record carrying `seq` (the last input the server applied) — yields the latency of
 * every remembered input with a sequence ≤ `seq` (each sample once). Sequences increase
 * strictly, so pending inputs form a FIFO.
 *
 * Bounded: at most `capacity` inputs are pending; when full the oldest is dropped and
 * counted in `dropped` (an input the server never confirmed, e.g. lost in a relocation).
 */

export class SeqLatencyTracker {
  private readonly seqs: Float64Array;
  private readonly times: Float64Array;
  private head = 0;
  private size = 0;
  /** Pending inputs discarded because the ring was full or by `clear()`. */
  dropped = 0;

  constructor(readonly capacity = 64) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new Error("capacity must be a positive integer");
    this.seqs = new Float64Array(capacity);
    this.times = new Float64Array(capacity);
  }

  get pending(): number {
    return this.size;
  }

  sent(seq: number, t: number): void {
    if (this.size === this.capacity) {
      this.head = (this.head + 1) % this.capacity;
      this.size--;
      this.dropped++;
    }
    const i = (this.head + this.size) % this.capacity;
    this.seqs[i] = seq;
    this.times[i] = t;
    this.size++;
  }

  /** Report every pending input with seq ≤ `seq` as observed at `t`; returns how many. */
  seen(seq: number, t: number, record: (latencyMs: number) => void): number {
    let n = 0;
    while (this.size > 0 && this.seqs[this.head]! <= seq) {
      record(t - this.times[this.head]!);
      this.head = (this.head + 1) % this.capacity;
      this.size--;
      n++;
    }
    return n;
  }

  /** Forget pending inputs (they will never be confirmed, e.g. after `relocated`). */
  clear(): void {
    this.dropped += this.size;
    this.size = 0;
    this.head = 0;
  }
}

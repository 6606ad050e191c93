/**
 * The last N messages of a channel: a fixed-capacity ring, oldest first on read. Pure.
 */
export class HistoryRing<T> {
  private readonly buf: (T | undefined)[];
  private start = 0;
  private count = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 0) throw new RangeError("history capacity must be an integer >= 0");
    this.buf = new Array<T | undefined>(capacity);
  }

  get size(): number {
    return this.count;
  }

  /** Append; the oldest entry is dropped when full. */
  push(item: T): void {
    if (this.capacity === 0) return;
    if (this.count < this.capacity) {
      this.buf[(this.start + this.count) % this.capacity] = item;
      this.count++;
    } else {
      this.buf[this.start] = item;
      this.start = (this.start + 1) % this.capacity;
    }
  }

  /** Put older entries (oldest first) before the current ones, keeping the newest `capacity`. */
  prepend(older: readonly T[]): void {
    const all = [...older, ...this.items()];
    this.start = 0;
    this.count = 0;
    for (const x of all.slice(Math.max(0, all.length - this.capacity))) this.push(x);
  }

  /** Entries oldest first. */
  items(): T[] {
    const out: T[] = [];
    for (let i = 0; i < this.count; i++) out.push(this.buf[(this.start + i) % this.capacity]!);
    return out;
  }
}

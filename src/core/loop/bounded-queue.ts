/**
 * A bounded FIFO ring buffer (the packet queue between IO and the logic loop).
 *
 * Full-queue behaviour is explicit: `offer()` never grows the buffer and never blocks; it
 * returns false when the queue holds `capacity` items and the CALLER decides what to do.
 * The scene host's policy for client input: drop the packet, count it
 * (`rift_field_packets_dropped_total{reason="queue_full"}`), and kick a user who keeps
 * overflowing with SERVER_BUSY (see core/scene/input-guard.ts).
 */
export class BoundedQueue<T> {
  private readonly buf: (T | undefined)[];
  private head = 0;
  private count = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`queue capacity must be a positive integer, got ${capacity}`);
    this.buf = new Array<T | undefined>(capacity);
  }

  get length(): number {
    return this.count;
  }

  get full(): boolean {
    return this.count === this.capacity;
  }

  /** Append; false (and nothing stored) when full. */
  offer(item: T): boolean {
    if (this.count === this.capacity) return false;
    this.buf[(this.head + this.count) % this.capacity] = item;
    this.count++;
    return true;
  }

  /** Remove and return the oldest item, or undefined when empty. */
  poll(): T | undefined {
    if (this.count === 0) return undefined;
    const item = this.buf[this.head];
    this.buf[this.head] = undefined; // let the GC have it
    this.head = (this.head + 1) % this.capacity;
    this.count--;
    return item;
  }

  /**
   * Consume up to `max` items (default: those present when called) in FIFO order. Items
   * offered by `fn` during the drain are left for the next drain. Returns how many were consumed.
   * If `fn` throws, the item that threw is already removed and the exception propagates.
   */
  drain(fn: (item: T) => void, max: number = this.count): number {
    const n = Math.min(max, this.count);
    for (let i = 0; i < n; i++) fn(this.poll() as T);
    return n;
  }
}

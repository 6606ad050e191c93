/**
 * An in-process stand-in for a pub/sub channel (unit tests of the buses built on RedisChannel):
 * every endpoint of one hub hears what any endpoint emits, in subscription order; an
 * endpoint's `close()` drops only its own subscriptions. Synchronous delivery.
 */
export interface MemoryEndpoint<A extends unknown[]> {
  emit(...args: A): void;
  subscribe(fn: (...args: A) => void): () => void;
  close(): Promise<void>;
}

export class MemoryPubSub<A extends unknown[]> {
  private readonly subs = new Set<(...args: A) => void>();

  endpoint(): MemoryEndpoint<A> {
    const mine = new Set<(...args: A) => void>();
    return {
      emit: (...args) => {
        for (const fn of [...this.subs]) fn(...args);
      },
      subscribe: (fn) => {
        this.subs.add(fn);
        mine.add(fn);
        return () => {
          this.subs.delete(fn);
          mine.delete(fn);
        };
      },
      close: async () => {
        for (const fn of mine) this.subs.delete(fn);
        mine.clear();
      },
    };
  }
}

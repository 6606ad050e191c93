/** Token bucket and bounded send queue: the gateway's per-connection limits, pure. */
import { describe, expect, test } from "vitest";
import { TokenBucket } from "../../src/gateway/rate-limiter.js";
import { BoundedSender, type SendSink } from "../../src/gateway/send-queue.js";

describe("TokenBucket", () => {
  test("allows a burst, then refills at the configured rate", () => {
    let t = 0;
    const b = new TokenBucket(10, 3, () => t);
    expect([b.take(), b.take(), b.take(), b.take()]).toEqual([true, true, true, false]);
    t += 100; // 10/s → one token per 100 ms
    expect(b.take()).toBe(true);
    expect(b.take()).toBe(false);
    t += 10_000; // refill is capped at the burst
    expect(b.available()).toBe(3);
  });

  test("a refused take consumes nothing", () => {
    let t = 0;
    const b = new TokenBucket(1, 2, () => t);
    expect(b.take(3)).toBe(false);
    expect(b.take(2)).toBe(true);
  });

  test("rejects nonsense parameters", () => {
    expect(() => new TokenBucket(0, 1)).toThrow(RangeError);
    expect(() => new TokenBucket(1, 0)).toThrow(RangeError);
  });
});

/** A socket double whose writes complete only when the test says so (a client not reading). */
class FakeSink implements SendSink {
  readonly sent: Uint8Array[] = [];
  private readonly callbacks: (() => void)[] = [];
  bufferedAmount = 0;
  send(data: Uint8Array, cb: (err?: Error) => void): void {
    this.sent.push(data);
    this.bufferedAmount += data.byteLength;
    this.callbacks.push(() => {
      this.bufferedAmount -= data.byteLength;
      cb();
    });
  }
  /** The kernel accepted the oldest `n` writes. */
  drain(n = Infinity): void {
    for (let i = 0; i < n && this.callbacks.length > 0; i++) this.callbacks.shift()!();
  }
}

describe("BoundedSender", () => {
  test("counts frames until written and overflows on the message limit", () => {
    const sink = new FakeSink();
    let overflow: [number, number] | undefined;
    const s = new BoundedSender(sink, { maxMessages: 3, maxBytes: 1000 }, (b, m) => (overflow = [b, m]));
    expect(s.send(new Uint8Array(10))).toBe(true);
    expect(s.send(new Uint8Array(10))).toBe(true);
    expect(s.send(new Uint8Array(10))).toBe(true);
    expect(s.queuedMessages).toBe(3);
    expect(s.send(new Uint8Array(10))).toBe(false);
    expect(overflow).toEqual([30, 3]);
    expect(s.full).toBe(true);
    // Once full, always refused (the owner closes the connection).
    sink.drain();
    expect(s.send(new Uint8Array(1))).toBe(false);
    expect(sink.sent).toHaveLength(3);
  });

  test("overflows on the byte limit; written frames free their share", () => {
    const sink = new FakeSink();
    let overflows = 0;
    const s = new BoundedSender(sink, { maxMessages: 100, maxBytes: 100 }, () => overflows++);
    expect(s.send(new Uint8Array(60))).toBe(true);
    sink.drain(1);
    expect(s.queuedBytes).toBe(0);
    expect(s.send(new Uint8Array(60))).toBe(true);
    expect(s.send(new Uint8Array(40))).toBe(true);
    expect(s.queuedBytes).toBe(100);
    expect(s.send(new Uint8Array(1))).toBe(false);
    expect(overflows).toBe(1);
  });

  test("uses the socket's own buffer size when it is larger than our count", () => {
    const sink = new FakeSink();
    sink.bufferedAmount = 95; // e.g. frames ws queued itself
    const s = new BoundedSender(sink, { maxMessages: 100, maxBytes: 100 }, () => {});
    expect(s.send(new Uint8Array(10))).toBe(false);
  });
});

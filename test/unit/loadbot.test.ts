/** Load bots: option safety rules, the latency tracker, the walk, and one bot against a scripted gateway. */
import fc from "fast-check";
import { describe, expect, test, vi } from "vitest";
import type { ClientTransport, TransportFactory, TransportHandlers } from "../../src/client/transport.js";
import { isRiftError } from "../../src/core/errors.js";
import { encodeEnvelope, unpack } from "../../src/core/protocol/codec.js";
import { encodeRecords } from "../../src/game/records.js";
import { Bot, type BotSink } from "../../src/tools/loadbot/bot.js";
import { BotPool, CONNECT_RETRIES } from "../../src/tools/loadbot/pool.js";
import { SeqLatencyTracker } from "../../src/tools/loadbot/latency.js";
import { isLoopbackUrl, MAX_BOTS, parseAccounts, resolveOptions } from "../../src/tools/loadbot/options.js";
import { mulberry32 } from "../../src/tools/loadbot/prng.js";
import { LatencyRecorder } from "../../src/tools/loadbot/stats.js";
import { RandomWalker } from "../../src/tools/loadbot/walk.js";

describe("loadbot options", () => {
  test.each([
    "ws://127.0.0.1:7000",
    "ws://127.8.9.10:1/",
    "wss://localhost:7000/x",
    "ws://LOCALHOST",
    "ws://[::1]:7000",
    "ws://[::ffff:127.0.0.1]:7000",
  ])("accepts loopback %s", (url) => expect(isLoopbackUrl(url)).toBe(true));

  test.each([
    "ws://10.0.0.1:7000",
    "ws://128.0.0.1:7000",
    "ws://example.com:7000",
    "ws://127.0.0.1.nip.io:7000",
    "ws://[::2]:7000",
    "ws://[::ffff:10.0.0.1]:7000",
    "http://127.0.0.1:7000",
    "ws://user:pw@127.0.0.1:7000",
    "not a url",
  ])("refuses %s", (url) => expect(isLoopbackUrl(url)).toBe(false));

  test("a non-loopback gateway is a usage error naming the URL", () => {
    try {
      resolveOptions({ bots: 1, durationSec: 1, gateways: ["ws://127.0.0.1:7000", "ws://192.168.1.5:7000"] });
      expect.unreachable();
    } catch (e) {
      expect(isRiftError(e, "USAGE")).toBe(true);
      expect(String(e)).toContain("ws://192.168.1.5:7000");
    }
  });

  test("bounds: bot cap, duration, workers, ramp", () => {
    const bad: Parameters<typeof resolveOptions>[0][] = [
      { bots: MAX_BOTS + 1, durationSec: 1 },
      { bots: 0, durationSec: 1 },
      { bots: 1.5, durationSec: 1 },
      { bots: 1, durationSec: 0 },
      { bots: 1, durationSec: Infinity },
      { bots: 1, durationSec: 10, workers: 99 },
      { bots: 1, durationSec: 10, rampSec: 11 },
      { bots: 5, durationSec: 10, accounts: [{ name: "a", password: "b" }] },
    ];
    for (const o of bad) expect(() => resolveOptions(o), JSON.stringify(o)).toThrow(/RIFT_USAGE|invalid command-line/);
  });

  test("defaults: the local gateway, 1 thread for small runs, at most 2", () => {
    const small = resolveOptions({ bots: 20, durationSec: 4 }, 8);
    expect(small).toMatchObject({ gateways: ["ws://127.0.0.1:7000"], workers: 1, moveIntervalMs: 100, maxStep: 5 });
    expect(small.rampSec).toBeLessThanOrEqual(2);
    expect(resolveOptions({ bots: 5000, durationSec: 60 }, 8).workers).toBe(2);
    expect(resolveOptions({ bots: 5000, durationSec: 60 }, 1).workers).toBe(1);
  });

  test("accounts file: `name password` lines, JSON lines, comments", () => {
    expect(parseAccounts("# bots\nalice pw1\n\n{\"name\":\"bob\",\"password\":\"pw 2\"}\n")).toEqual([
      { name: "alice", password: "pw1" },
      { name: "bob", password: "pw 2" },
    ]);
    expect(() => parseAccounts("alice\n")).toThrow(/line 1/);
    expect(() => parseAccounts("a b c\n")).toThrow(/line 1/);
  });
});

describe("SeqLatencyTracker", () => {
  test("an observed seq settles every pending input up to it, once", () => {
    const t = new SeqLatencyTracker(8);
    t.sent(1, 100);
    t.sent(2, 200);
    t.sent(3, 300);
    const got: number[] = [];
    expect(t.seen(2, 250, (ms) => got.push(ms))).toBe(2);
    expect(got).toEqual([150, 50]);
    expect(t.seen(2, 400, (ms) => got.push(ms))).toBe(0); // same record again: nothing new
    expect(t.seen(5, 420, (ms) => got.push(ms))).toBe(1);
    expect(got).toEqual([150, 50, 120]);
    expect(t.pending).toBe(0);
  });

  test("bounded: the oldest input is dropped when full; clear() drops the rest", () => {
    const t = new SeqLatencyTracker(2);
    t.sent(1, 0);
    t.sent(2, 0);
    t.sent(3, 0);
    expect(t.pending).toBe(2);
    expect(t.dropped).toBe(1);
    const got: number[] = [];
    t.seen(1, 10, (ms) => got.push(ms));
    expect(got).toEqual([]); // seq 1 was dropped
    t.clear();
    expect(t.pending).toBe(0);
    expect(t.dropped).toBe(3);
  });
});

describe("RandomWalker", () => {
  test("a walker starting right at the corner (outside the margin band) never steps more than maxStep", () => {
    // found by the property below: (0.2, 999.5) re-headed east, then clamped in y → 5.02
    for (let seed = 440; seed < 450; seed++) {
      // seed 444 re-heads east on the first step
      const w = new RandomWalker(0.2, 999.5, mulberry32(seed), { worldSize: 1000, maxStep: 5 });
      let px = 0.2;
      let py = 999.5;
      for (let i = 0; i < 5; i++) {
        const p = w.next();
        expect(Math.hypot(p.x - px, p.y - py)).toBeLessThanOrEqual(5 + 1e-9);
        px = p.x;
        py = p.y;
      }
    }
  });

  test("every step is at most maxStep long and stays inside the world", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 31 }), fc.double({ min: 0, max: 1000, noNaN: true }), fc.double({ min: 0, max: 1000, noNaN: true }), (seed, x, y) => {
        const w = new RandomWalker(x, y, mulberry32(seed), { worldSize: 1000, maxStep: 5 });
        let px = x;
        let py = y;
        for (let i = 0; i < 300; i++) {
          const p = w.next();
          expect(Math.hypot(p.x - px, p.y - py)).toBeLessThanOrEqual(5 + 1e-9);
          expect(p.x).toBeGreaterThanOrEqual(0);
          expect(p.x).toBeLessThanOrEqual(1000);
          expect(p.y).toBeGreaterThanOrEqual(0);
          expect(p.y).toBeLessThanOrEqual(1000);
          px = p.x;
          py = p.y;
        }
      }),
      { numRuns: 25 },
    );
  });

  test("a crowd spawned at the centre spreads out (correlated walk)", () => {
    const rng = mulberry32(7);
    const walkers = Array.from({ length: 200 }, () => new RandomWalker(500, 500, rng, { worldSize: 1000, maxStep: 5 }));
    for (let i = 0; i < 600; i++) for (const w of walkers) w.next(); // one minute at 10 inputs/s
    const rms = Math.sqrt(walkers.reduce((s, w) => s + (w.x - 500) ** 2 + (w.y - 500) ** 2, 0) / walkers.length);
    expect(rms).toBeGreaterThan(150);
  });
});

describe("LatencyRecorder", () => {
  test("percentiles in ms with µs resolution", () => {
    const r = new LatencyRecorder();
    for (let i = 1; i <= 1000; i++) r.record(i / 10); // 0.1 .. 100 ms
    const s = r.summary();
    expect(s.samples).toBe(1000);
    expect(s.p50).toBeCloseTo(50, 0);
    expect(s.p99).toBeCloseTo(99, 0);
    expect(s.max).toBeCloseTo(100, 0);
    r.reset();
    expect(r.summary().samples).toBe(0);
  });
});

/** A scripted gateway behind a fake transport: answers the handshake, records moves. */
class FakeGateway {
  h: TransportHandlers | undefined;
  readonly moves: { seq: number; x: number; y: number }[] = [];
  readonly types: string[] = [];
  refuseConnect = false;
  loginClose: number | undefined;
  factory: TransportFactory = async (_url, h) => {
    if (this.refuseConnect) {
      queueMicrotask(() => h.onClose(1006, ""));
      throw new Error("connect ECONNREFUSED 127.0.0.1:1");
    }
    this.h = h;
    const t: ClientTransport = {
      send: (d) => {
        const [, type, body] = unpack(d) as [number, string, Record<string, unknown>];
        this.types.push(type);
        queueMicrotask(() => this.reply(type, body));
      },
      close: (code) => queueMicrotask(() => this.h?.onClose(code ?? 1005, "")),
      bufferedAmount: 0,
    };
    return t;
  };

  private reply(type: string, body: Record<string, unknown>): void {
    const h = this.h!;
    if (type === "hello") h.onMessage(encodeEnvelope("welcome", { proto: 1, server: "gw", features: [] }), true);
    else if (type === "register") h.onMessage(encodeEnvelope("registered", { userId: 7 }), true);
    else if (type === "login") {
      if (this.loginClose) return h.onClose(this.loginClose, "RIFT_X");
      h.onMessage(encodeEnvelope("session", { userId: 7, name: "bot", token: "t".repeat(20) }), true);
      h.onMessage(encodeEnvelope("enter", { zone: "z1", server: "f1", self: { id: 7, x: 300, y: 300, seq: 0 }, world: { size: 1000, cell: 100 } }), true);
    } else if (type === "move") this.moves.push(body as { seq: number; x: number; y: number });
  }

  /** A tick frame: another entity's record, then ours with `seq`. */
  tick(seq: number, x: number, y: number): void {
    const m = encodeRecords([
      { id: 99, x: 1, y: 1, seq: 1 },
      { id: 7, x, y, seq },
    ]);
    this.h!.onMessage(encodeEnvelope("cell", { c: 33, tick: 1, m, g: [] }), true);
  }
}

function sink() {
  const s = { latencies: [] as number[], sent: 0, entered: 0, failed: [] as [string, boolean][] };
  const b: BotSink = {
    latency: (ms) => s.latencies.push(ms),
    sent: () => s.sent++,
    entered: () => s.entered++,
    failed: (key, was) => s.failed.push([key, was]),
  };
  return { s, b };
}

function makeBot(gw: FakeGateway, b: BotSink, clock: { t: number }) {
  const timers: { step?: () => void } = {};
  const bot = new Bot({
    url: "ws://127.0.0.1:7000",
    name: "bot_1",
    password: "password1",
    register: true,
    moveIntervalMs: 100,
    maxStep: 5,
    requestTimeoutMs: 2000,
    rng: mulberry32(1),
    transport: gw.factory,
    sink: b,
    now: () => clock.t,
    setTimeout: (fn) => fn(),
    setInterval: (fn) => (timers.step = fn),
    clearInterval: () => (timers.step = undefined),
  });
  return { bot, timers };
}

describe("Bot", () => {
  test("hello → register → login → enter, then moves ≤ 5 units with increasing seq; latency from its own record", async () => {
    const gw = new FakeGateway();
    const { s, b } = sink();
    const clock = { t: 1000 };
    const { bot, timers } = makeBot(gw, b, clock);
    await bot.start();
    expect(gw.types.slice(0, 3)).toEqual(["hello", "register", "login"]);
    expect(s.entered).toBe(1);
    expect(bot.online).toBe(true);
    // the first step ran at once (phase 0 with the injected setTimeout)
    clock.t = 1100;
    timers.step!();
    await Promise.resolve();
    expect(gw.moves.map((m) => m.seq)).toEqual([1, 2]);
    let px = 300;
    let py = 300;
    for (const m of gw.moves) {
      expect(Math.hypot(m.x - px, m.y - py)).toBeLessThanOrEqual(5 + 1e-9);
      px = m.x;
      py = m.y;
    }
    clock.t = 1130;
    gw.tick(1, gw.moves[0]!.x, gw.moves[0]!.y); // seq 1 applied: sent at 1000
    expect(s.latencies).toEqual([130]);
    clock.t = 1180;
    gw.tick(2, px, py);
    expect(s.latencies).toEqual([130, 80]);
    expect(s.sent).toBe(2);
    await bot.stop();
    expect(s.failed).toEqual([]);
    expect(timers.step).toBeUndefined();
  });

  test("a catalogued close is reported by its catalog key", async () => {
    const gw = new FakeGateway();
    gw.loginClose = 4013;
    const { s, b } = sink();
    const { bot } = makeBot(gw, b, { t: 0 });
    await bot.start();
    expect(s.failed).toEqual([["SERVER_BUSY", false]]);
    expect(s.entered).toBe(0);
  });

  test("a refused connection is CONNECT_FAILED", async () => {
    const gw = new FakeGateway();
    gw.refuseConnect = true;
    const { s, b } = sink();
    const { bot } = makeBot(gw, b, { t: 0 });
    await bot.start();
    expect(s.failed).toEqual([["CONNECT_FAILED", false]]);
  });

  test("a close after entering counts as a failure of an entered bot", async () => {
    const gw = new FakeGateway();
    const { s, b } = sink();
    const { bot } = makeBot(gw, b, { t: 0 });
    await bot.start();
    gw.h!.onClose(4031, "RIFT_SERVER_GONE");
    expect(s.failed).toEqual([["SERVER_GONE", true]]);
    expect(bot.online).toBe(false);
  });
});

describe("BotPool restarts bots that failed before entering", () => {
  function poolWith(refusals: number) {
    const gw = new FakeGateway();
    let left = refusals;
    const factory: TransportFactory = (url, h) => {
      gw.refuseConnect = left > 0;
      if (left > 0) left--;
      return gw.factory(url, h);
    };
    const cfg = { thread: 0, threads: 1, gateways: ["ws://127.0.0.1:7000"], accounts: undefined, namePrefix: "t", runId: "r", seed: 1, moveIntervalMs: 100, maxStep: 5, connectConcurrency: 4, requestTimeoutMs: 2000 };
    return new BotPool(cfg, factory);
  }

  test("restarted in its slot after 1 s, then 2 s: the pool reaches its target", async () => {
    vi.useFakeTimers({ toFake: ["performance", "setTimeout", "clearTimeout", "setInterval", "clearInterval"] });
    try {
      const pool = poolWith(2);
      pool.setTarget(1, 0);
      await vi.advanceTimersByTimeAsync(50);
      let r = pool.takeReport();
      expect([r.failedBeforeEnter, r.retries, r.entered]).toEqual([1, 0, 0]);
      await vi.advanceTimersByTimeAsync(1000);
      r = pool.takeReport();
      expect([r.failedBeforeEnter, r.retries, r.entered]).toEqual([2, 1, 0]);
      await vi.advanceTimersByTimeAsync(2000);
      r = pool.takeReport();
      expect([r.failedBeforeEnter, r.retries, r.entered, r.startedTotal]).toEqual([2, 2, 1, 3]);
      expect(r.target).toBe(1);
      await pool.stop();
    } finally {
      vi.useRealTimers();
    }
  });

  test(`gives up after ${CONNECT_RETRIES} restarts`, async () => {
    vi.useFakeTimers({ toFake: ["performance", "setTimeout", "clearTimeout", "setInterval", "clearInterval"] });
    try {
      const pool = poolWith(Number.POSITIVE_INFINITY);
      pool.setTarget(1, 0);
      await vi.advanceTimersByTimeAsync(60_000);
      const r = pool.takeReport();
      expect([r.failedBeforeEnter, r.retries, r.entered, r.startedTotal]).toEqual([CONNECT_RETRIES + 1, CONNECT_RETRIES, 0, CONNECT_RETRIES + 1]);
      await pool.stop();
    } finally {
      vi.useRealTimers();
    }
  });
});

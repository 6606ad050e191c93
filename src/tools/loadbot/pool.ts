/**
 * BotPool: the bots of one thread (a worker_thread, or the caller's thread when
 * `workers: 0`). It starts bots toward a target count — spread evenly over a ramp, with at
 * most `connectConcurrency` bots connecting/logging in at once — and accumulates counters
 * and latency samples until the owner takes a report.
 *
 * Bot numbering: this pool's k-th bot is global bot `k * threads + thread`; the global index
 * picks its gateway (round-robin) and its account (`accounts[i]`, or a registered name
 * `<prefix><runId>_<i>`).
 *
 * Bounded: latency samples between two reports are capped at MAX_SAMPLES_PER_REPORT (extra
 * samples are counted in `samplesDropped`, never stored).
 *
 * A bot that fails before entering the world (connect timeout on a busy gateway, SERVER_BUSY
 * at attach…) is started again in its slot after 1 s, 2 s, 4 s — at most CONNECT_RETRIES
 * times — so the pool keeps heading for its target instead of settling below it. Every
 * failure is still counted (`errors`, `failedBeforeEnter`); `retries` counts the restarts.
 */
import { monitorEventLoopDelay } from "node:perf_hooks";
import type { TransportFactory } from "../../client/transport.js";
import { nodeTransport } from "../../client/node-transport.js";
import { Bot, type BotSink } from "./bot.js";
import type { Credentials } from "./options.js";
import { deriveSeed, mulberry32 } from "./prng.js";

export const MAX_SAMPLES_PER_REPORT = 1_000_000;
/** Restarts of a bot that failed before entering (backoff 1 s, doubling). */
export const CONNECT_RETRIES = 3;

export interface PoolConfig {
  thread: number;
  threads: number;
  gateways: string[];
  accounts: Credentials[] | undefined;
  namePrefix: string;
  runId: string;
  seed: number;
  moveIntervalMs: number;
  maxStep: number;
  connectConcurrency: number;
  requestTimeoutMs: number;
  /** World chat messages per second per bot (0 = none). */
  chatRate?: number;
}

/** Counters since the previous report (latencies: samples in ms). */
export interface PoolReport {
  sent: number;
  /** Chat messages posted / received (world chat mix, `--chat-rate`). */
  chatSent: number;
  chatIn: number;
  framesIn: number;
  bytesIn: number;
  latencies: Float64Array;
  samplesDropped: number;
  /** Failures by error key since the previous report. */
  errors: Record<string, number>;
  /** Event-loop delay p99 of this pool's thread since the previous report (ms): bots too busy when high. */
  loopDelayP99Ms: number;
  /** Gauges at report time. */
  target: number;
  entered: number;
  starting: number;
  /** Cumulative. */
  startedTotal: number;
  enteredTotal: number;
  failedBeforeEnter: number;
  /** Cumulative restarts of bots that failed before entering. */
  retries: number;
}

export class BotPool {
  private readonly bots: Bot[] = [];
  /** Bot start times (performance.now ms) of bots not started yet, by local index. */
  private readonly schedule: { index: number; at: number }[] = [];
  /** Restarts due: the slot in `bots` of a bot that failed before entering. */
  private readonly retryQueue: { index: number; slot: number; bot: Bot; at: number }[] = [];
  private readonly attempts = new Map<number, number>();
  private retries = 0;
  private target = 0;
  private starting = 0;
  private startedTotal = 0;
  private enteredTotal = 0;
  private failedBeforeEnter = 0;
  private sent = 0;
  private chatSent = 0;
  private chatIn = 0;
  private framesIn = 0;
  private bytesIn = 0;
  private samples: number[] = [];
  private samplesDropped = 0;
  private errors: Record<string, number> = {};
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly transport: TransportFactory;
  private readonly loopDelay = monitorEventLoopDelay({ resolution: 10 });

  constructor(
    private readonly cfg: PoolConfig,
    transport: TransportFactory = nodeTransport(),
  ) {
    this.loopDelay.enable();
    // count every frame and byte received, then hand it to the SDK untouched
    this.transport = (url, h) =>
      transport(url, {
        onMessage: (data, binary) => {
          this.framesIn++;
          this.bytesIn += data.byteLength;
          h.onMessage(data, binary);
        },
        onClose: (code, reason) => h.onClose(code, reason),
      });
  }

  /** Desired number of bots in this pool; new bots start evenly over `rampSec`. Lowering stops the newest bots. */
  setTarget(n: number, rampSec: number): void {
    if (this.stopped) return;
    const have = this.bots.length + this.schedule.length;
    if (n > have) {
      const add = n - have;
      const t0 = performance.now();
      for (let i = 0; i < add; i++) this.schedule.push({ index: have + i, at: t0 + (add > 1 ? (i * rampSec * 1000) / (add - 1) : 0) });
    } else if (n < have) {
      let drop = have - n;
      while (drop > 0 && this.schedule.length > 0) {
        this.schedule.pop();
        drop--;
      }
      while (drop > 0 && this.bots.length > 0) {
        void this.bots.pop()!.stop();
        drop--;
      }
    }
    this.target = n;
    this.timer ??= setInterval(() => this.pump(), 10);
    this.pump();
  }

  private pump(): void {
    const now = performance.now();
    for (let i = 0; i < this.retryQueue.length && this.starting < this.cfg.connectConcurrency; ) {
      const r = this.retryQueue[i]!;
      if (r.at > now) {
        i++;
        continue;
      }
      this.retryQueue.splice(i, 1);
      // still wanted (the target was not lowered past it) and still the failed bot there
      if (!this.stopped && this.bots[r.slot] === r.bot) {
        this.retries++;
        this.launch(r.index, r.slot);
      }
    }
    while (this.schedule.length > 0 && this.schedule[0]!.at <= now && this.starting < this.cfg.connectConcurrency) {
      const { index } = this.schedule.shift()!;
      this.launch(index);
    }
  }

  /** Start bot `local` (a new slot at the end of `bots`, or `slot` again for a restart). */
  private launch(local: number, slot?: number): void {
    const c = this.cfg;
    const global = local * c.threads + c.thread;
    const account = c.accounts?.[global];
    const name = account?.name ?? `${c.namePrefix}${c.runId}_${global}`;
    const password = account?.password ?? `lb-${c.runId}-pw`;
    const pos = slot ?? this.bots.length;
    // eslint-disable-next-line prefer-const -- assigned below, read by the sink later
    let bot: Bot;
    const sink: BotSink = {
      latency: (ms) => {
        if (this.samples.length < MAX_SAMPLES_PER_REPORT) this.samples.push(ms);
        else this.samplesDropped++;
      },
      sent: () => {
        this.sent++;
      },
      chatSent: () => {
        this.chatSent++;
      },
      chatIn: () => {
        this.chatIn++;
      },
      entered: () => {
        this.enteredTotal++;
      },
      failed: (key, wasEntered) => {
        this.errors[key] = (this.errors[key] ?? 0) + 1;
        if (wasEntered) return;
        this.failedBeforeEnter++;
        const n = (this.attempts.get(local) ?? 0) + 1;
        if (this.stopped || n > CONNECT_RETRIES) return;
        this.attempts.set(local, n);
        this.retryQueue.push({ index: local, slot: pos, bot, at: performance.now() + 1000 * 2 ** (n - 1) });
      },
    };
    bot = new Bot({
      url: c.gateways[global % c.gateways.length]!,
      name,
      password,
      register: account === undefined,
      moveIntervalMs: c.moveIntervalMs,
      maxStep: c.maxStep,
      chatRate: c.chatRate ?? 0,
      requestTimeoutMs: c.requestTimeoutMs,
      rng: mulberry32(deriveSeed(c.seed, global)),
      transport: this.transport,
      sink,
    });
    if (slot === undefined) this.bots.push(bot);
    else this.bots[slot] = bot;
    this.startedTotal++;
    this.starting++;
    void bot.start().finally(() => {
      this.starting--;
      this.pump();
    });
  }

  /** Counters since the previous report; resets them. */
  takeReport(): PoolReport {
    const r: PoolReport = {
      sent: this.sent,
      chatSent: this.chatSent,
      chatIn: this.chatIn,
      framesIn: this.framesIn,
      bytesIn: this.bytesIn,
      latencies: Float64Array.from(this.samples),
      samplesDropped: this.samplesDropped,
      errors: this.errors,
      loopDelayP99Ms: this.loopDelay.count > 0 ? this.loopDelay.percentile(99) / 1e6 : 0,
      target: this.target,
      entered: this.bots.reduce((n, b) => n + (b.online ? 1 : 0), 0),
      starting: this.starting,
      startedTotal: this.startedTotal,
      enteredTotal: this.enteredTotal,
      failedBeforeEnter: this.failedBeforeEnter,
      retries: this.retries,
    };
    this.sent = 0;
    this.chatSent = 0;
    this.chatIn = 0;
    this.framesIn = 0;
    this.bytesIn = 0;
    this.samples = [];
    this.samplesDropped = 0;
    this.errors = {};
    this.loopDelay.reset();
    return r;
  }

  /** Stop every bot (normal close), then return the last report. */
  async stop(): Promise<PoolReport> {
    this.stopped = true;
    clearInterval(this.timer);
    this.loopDelay.disable();
    this.schedule.length = 0;
    const report = this.takeReport();
    await Promise.all(this.bots.map((b) => b.stop()));
    return report;
  }
}

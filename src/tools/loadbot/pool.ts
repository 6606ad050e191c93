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
 */
import { monitorEventLoopDelay } from "node:perf_hooks";
import type { TransportFactory } from "../../client/transport.js";
import { nodeTransport } from "../../client/node-transport.js";
import { Bot, type BotSink } from "./bot.js";
import type { Credentials } from "./options.js";
import { deriveSeed, mulberry32 } from "./prng.js";

export const MAX_SAMPLES_PER_REPORT = 1_000_000;

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
}

export class BotPool {
  private readonly bots: Bot[] = [];
  /** Bot start times (performance.now ms) of bots not started yet, by local index. */
  private readonly schedule: { index: number; at: number }[] = [];
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
    while (this.schedule.length > 0 && this.schedule[0]!.at <= now && this.starting < this.cfg.connectConcurrency) {
      const { index } = this.schedule.shift()!;
      this.launch(index);
    }
  }

  private launch(local: number): void {
    const c = this.cfg;
    const global = local * c.threads + c.thread;
    const account = c.accounts?.[global];
    const name = account?.name ?? `${c.namePrefix}${c.runId}_${global}`;
    const password = account?.password ?? `lb-${c.runId}-pw`;
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
        if (!wasEntered) this.failedBeforeEnter++;
      },
    };
    const bot = new Bot({
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
    this.bots.push(bot);
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

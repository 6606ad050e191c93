/**
 * LoadController (main thread): runs the bot pools — `workers` worker_threads, or one
 * inline pool when `workers: 0` — splits the target bot count over them, and once a second
 * (or on demand) pulls their reports into a cumulative latency histogram and counters.
 *
 * Used by the CLI (`run` below) and by benchmarks, which step the target with `setTarget`
 * and measure steady-state windows with `openWindow()` / `window.close()`.
 *
 * Contract: `collect()` calls are serialised; `stop()` stops every bot (normal close, not
 * counted as an error), terminates the workers and returns the run summary. A worker that
 * dies is reported once on stderr and counted as error `WORKER_DIED` per bot it carried.
 */
import { randomBytes } from "node:crypto";
import type { Worker } from "node:worker_threads";
import type { LoadbotOptions } from "./options.js";
import { BotPool, type PoolConfig, type PoolReport } from "./pool.js";
import { addCounters, emptyCounters, errorTotal, LatencyRecorder, type Counters, type LatencySummary, type Progress, type Summary } from "./stats.js";
import { siblingEntry, startTsWorker } from "./worker-entry.js";
import type { FromWorker, ToWorker } from "./worker-protocol.js";

interface PoolHandle {
  setTarget(n: number, rampSec: number): void;
  report(): Promise<PoolReport>;
  stop(): Promise<PoolReport>;
}

function emptyReport(target: number, errors: Record<string, number> = {}): PoolReport {
  return { sent: 0, chatSent: 0, chatIn: 0, framesIn: 0, bytesIn: 0, latencies: new Float64Array(0), samplesDropped: 0, errors, loopDelayP99Ms: 0, target, entered: 0, starting: 0, startedTotal: 0, enteredTotal: 0, failedBeforeEnter: 0, retries: 0 };
}

class InlineHandle implements PoolHandle {
  private readonly pool: BotPool;
  constructor(cfg: PoolConfig) {
    this.pool = new BotPool(cfg);
  }
  setTarget(n: number, rampSec: number): void {
    this.pool.setTarget(n, rampSec);
  }
  report(): Promise<PoolReport> {
    return Promise.resolve(this.pool.takeReport());
  }
  stop(): Promise<PoolReport> {
    return this.pool.stop();
  }
}

class WorkerHandle implements PoolHandle {
  private readonly worker: Worker;
  private nextId = 1;
  private readonly pending = new Map<number, (r: PoolReport) => void>();
  private dead: string | undefined;
  private lastTarget = 0;
  private lastEntered = 0;
  readonly ready: Promise<void>;

  constructor(cfg: PoolConfig, onFatal: (msg: string) => void) {
    this.worker = startTsWorker(siblingEntry(import.meta.url, "worker"), { workerData: cfg, name: `loadbot-${cfg.thread}` });
    this.ready = new Promise((resolve, reject) => {
      this.worker.on("message", (m: FromWorker) => {
        if (m.k === "ready") resolve();
        else if (m.k === "report") {
          this.lastEntered = m.report.entered;
          this.pending.get(m.id)?.(m.report);
          this.pending.delete(m.id);
        } else if (m.k === "fatal") onFatal(`loadbot worker ${cfg.thread}: ${m.error}`);
      });
      this.worker.on("error", (err) => {
        onFatal(`loadbot worker ${cfg.thread} crashed: ${err.stack ?? err.message}`);
        reject(err);
      });
      this.worker.on("exit", (code) => {
        this.dead ??= `exited with code ${code}`;
        reject(new Error(`loadbot worker ${cfg.thread} ${this.dead}`));
        // answer whatever is still waiting: the bots of a dead worker are lost
        for (const [, r] of this.pending) r(emptyReport(this.lastTarget, this.lastEntered > 0 ? { WORKER_DIED: this.lastEntered } : {}));
        this.lastEntered = 0;
        this.pending.clear();
      });
    });
  }

  private post(m: ToWorker): void {
    if (!this.dead) this.worker.postMessage(m);
  }

  setTarget(n: number, rampSec: number): void {
    this.lastTarget = n;
    this.post({ k: "target", n, rampSec });
  }

  private request(k: "report" | "stop"): Promise<PoolReport> {
    if (this.dead) return Promise.resolve(emptyReport(this.lastTarget));
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      this.post({ k, id });
    });
  }

  report(): Promise<PoolReport> {
    return this.request("report");
  }

  async stop(): Promise<PoolReport> {
    const r = await this.request("stop");
    this.dead ??= "stopped";
    // the worker closes its port after the reply; make sure it is gone
    await this.worker.terminate();
    return r;
  }
}

/** Statistics of a measurement window (benchmarks). */
export interface WindowStats {
  durationSec: number;
  sentPerSec: number;
  framesInPerSec: number;
  bytesInPerSec: number;
  /** Chat messages received by the bots per second (`chat` events). */
  chatInPerSec?: number;
  latencyMs: LatencySummary;
  errors: Record<string, number>;
  onlineMin: number;
  onlineMax: number;
  /** Worst per-second event-loop delay p99 of the bot threads (ms). */
  botLoopDelayP99Ms: number;
}

export interface LoadWindow {
  /** Pull the latest reports, close the window and return its statistics. */
  close(): Promise<WindowStats>;
}

interface OpenWindow {
  t0: number;
  counters: Counters;
  latency: LatencyRecorder;
  onlineMin: number;
  onlineMax: number;
  loopDelayMax: number;
}

export interface CollectResult extends Progress {
  startedTotal: number;
  enteredTotal: number;
  failedBeforeEnter: number;
  /** Bots restarted after failing before entering (pool.ts CONNECT_RETRIES). */
  retries: number;
  starting: number;
  /** Worst event-loop delay p99 of the bot threads in this interval (ms). */
  loopDelayP99Ms: number;
}

export class LoadController {
  private readonly handles: PoolHandle[] = [];
  private readonly latency = new LatencyRecorder();
  private readonly interval = new LatencyRecorder();
  private readonly counters = emptyCounters();
  private readonly windows = new Set<OpenWindow>();
  private readonly t0 = performance.now();
  private lastAt = performance.now();
  private collecting: Promise<CollectResult> | undefined;
  private target = 0;
  private ccuMax = 0;
  private last: CollectResult | undefined;
  private stopped: Summary | undefined;
  readonly runId: string;

  private constructor(
    readonly opts: LoadbotOptions,
    private readonly onFatal: (msg: string) => void,
  ) {
    this.runId = randomBytes(4).readUInt32BE(0).toString(36).padStart(6, "0").slice(-6);
  }

  static async start(opts: LoadbotOptions, onFatal: (msg: string) => void = (m) => process.stderr.write(`${m}\n`)): Promise<LoadController> {
    const c = new LoadController(opts, onFatal);
    const threads = Math.max(1, opts.workers);
    const ready: Promise<void>[] = [];
    for (let t = 0; t < threads; t++) {
      const cfg: PoolConfig = {
        thread: t,
        threads,
        gateways: opts.gateways,
        accounts: opts.accounts,
        namePrefix: opts.namePrefix,
        runId: c.runId,
        seed: opts.seed,
        moveIntervalMs: opts.moveIntervalMs,
        maxStep: opts.maxStep,
        connectConcurrency: opts.connectConcurrency,
        requestTimeoutMs: opts.requestTimeoutMs,
        chatRate: opts.chatRate,
      };
      if (opts.workers === 0) c.handles.push(new InlineHandle(cfg));
      else {
        const h = new WorkerHandle(cfg, onFatal);
        c.handles.push(h);
        ready.push(h.ready);
      }
    }
    try {
      await Promise.all(ready);
    } catch (e) {
      await Promise.allSettled(c.handles.map((h) => h.stop()));
      throw e;
    }
    return c;
  }

  /** Desired total number of bots, reached by starting new bots evenly over `rampSec`. */
  setTarget(n: number, rampSec: number): void {
    this.target = n;
    const w = this.handles.length;
    this.handles.forEach((h, i) => h.setTarget(Math.ceil(Math.max(0, n - i) / w), rampSec));
  }

  get elapsedSec(): number {
    return (performance.now() - this.t0) / 1000;
  }

  /** Pull every pool's report (serialised: concurrent callers share one pull). */
  collect(): Promise<CollectResult> {
    this.collecting ??= this.doCollect().finally(() => (this.collecting = undefined));
    return this.collecting;
  }

  private async doCollect(final = false): Promise<CollectResult> {
    const reports = await Promise.all(this.handles.map((h) => (final ? h.stop() : h.report())));
    return this.absorb(reports);
  }

  private absorb(reports: PoolReport[]): CollectResult {
    const now = performance.now();
    const dt = Math.max(1e-3, (now - this.lastAt) / 1000);
    this.lastAt = now;
    const step = emptyCounters();
    this.interval.reset();
    let online = 0;
    let startedTotal = 0;
    let enteredTotal = 0;
    let failedBeforeEnter = 0;
    let retries = 0;
    let starting = 0;
    let loopDelay = 0;
    for (const r of reports) {
      loopDelay = Math.max(loopDelay, r.loopDelayP99Ms);
      addCounters(step, { sent: r.sent, chatSent: r.chatSent, chatIn: r.chatIn, framesIn: r.framesIn, bytesIn: r.bytesIn, samplesDropped: r.samplesDropped, errors: r.errors });
      this.latency.recordAll(r.latencies);
      this.interval.recordAll(r.latencies);
      for (const w of this.windows) w.latency.recordAll(r.latencies);
      online += r.entered;
      startedTotal += r.startedTotal;
      enteredTotal += r.enteredTotal;
      failedBeforeEnter += r.failedBeforeEnter;
      retries += r.retries;
      starting += r.starting;
    }
    addCounters(this.counters, step);
    for (const w of this.windows) {
      addCounters(w.counters, step);
      w.onlineMin = Math.min(w.onlineMin, online);
      w.onlineMax = Math.max(w.onlineMax, online);
      w.loopDelayMax = Math.max(w.loopDelayMax, loopDelay);
    }
    this.ccuMax = Math.max(this.ccuMax, online);
    this.last = {
      tSec: this.elapsedSec,
      online,
      target: this.target,
      sentPerSec: step.sent / dt,
      framesInPerSec: step.framesIn / dt,
      p99: this.interval.percentile(99),
      errors: errorTotal(this.counters.errors),
      startedTotal,
      enteredTotal,
      failedBeforeEnter,
      retries,
      starting,
      loopDelayP99Ms: loopDelay,
    };
    return this.last;
  }

  /** Start a measurement window fed by every later collect(). */
  openWindow(): LoadWindow {
    const w: OpenWindow = { t0: performance.now(), counters: emptyCounters(), latency: new LatencyRecorder(), onlineMin: Infinity, onlineMax: 0, loopDelayMax: 0 };
    // reports already pending in the pools belong to the time before the window
    const before = this.collect();
    void before.then(() => {
      w.t0 = performance.now();
      this.windows.add(w);
    });
    return {
      close: async () => {
        await before;
        await this.collect();
        this.windows.delete(w);
        const d = Math.max(1e-3, (performance.now() - w.t0) / 1000);
        return {
          durationSec: d,
          sentPerSec: w.counters.sent / d,
          framesInPerSec: w.counters.framesIn / d,
          bytesInPerSec: w.counters.bytesIn / d,
          chatInPerSec: w.counters.chatIn / d,
          latencyMs: w.latency.summary(),
          errors: w.counters.errors,
          onlineMin: w.onlineMin === Infinity ? 0 : w.onlineMin,
          onlineMax: w.onlineMax,
          botLoopDelayP99Ms: Math.round(w.loopDelayMax * 10) / 10,
        };
      },
    };
  }

  /** Stop all bots and workers; returns the run summary (idempotent). */
  async stop(): Promise<Summary> {
    if (this.stopped) return this.stopped;
    await this.collecting;
    const last = await this.doCollect(true);
    const d = this.elapsedSec;
    const c = this.counters;
    this.stopped = {
      bots: this.opts.bots,
      workers: this.opts.workers,
      gateways: this.opts.gateways,
      seed: this.opts.seed,
      durationSec: Math.round(d * 10) / 10,
      ccu: this.ccuMax,
      ccuEnd: last.online,
      started: last.startedTotal,
      entered: last.enteredTotal,
      failedToEnter: last.failedBeforeEnter,
      sent: c.sent,
      chatSent: c.chatSent,
      chatIn: c.chatIn,
      framesIn: c.framesIn,
      bytesIn: c.bytesIn,
      sentPerSec: Math.round(c.sent / d),
      framesInPerSec: Math.round(c.framesIn / d),
      latencyMs: this.latency.summary(),
      latencySamplesDropped: c.samplesDropped,
      errors: c.errors,
      errorCount: errorTotal(c.errors),
    };
    return this.stopped;
  }
}

export interface RunHooks {
  /** Called about once a second. */
  progress?: (p: CollectResult) => void;
  /** Resolves early to stop the run before its duration (e.g. Ctrl-C). */
  interrupted?: Promise<unknown>;
}

/** The CLI's run: start, ramp to `bots`, report every second, stop at `durationSec`. */
export async function runLoad(opts: LoadbotOptions, hooks: RunHooks = {}): Promise<Summary> {
  const ctl = await LoadController.start(opts);
  ctl.setTarget(opts.bots, opts.rampSec);
  const endAt = performance.now() + opts.durationSec * 1000;
  let interrupted = false;
  void hooks.interrupted?.then(() => (interrupted = true));
  try {
    while (!interrupted) {
      const left = endAt - performance.now();
      if (left <= 0) break;
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.min(1000, left));
        void hooks.interrupted?.then(() => {
          clearTimeout(t);
          r();
        });
      });
      if (interrupted || performance.now() >= endAt) break;
      hooks.progress?.(await ctl.collect());
    }
  } catch (e) {
    await ctl.stop(); // never leave bots running
    throw e;
  }
  return ctl.stop();
}

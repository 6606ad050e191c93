/**
 * Shared pieces of the field-load benchmark: bounds, arguments, result types, and `Run` —
 * everything one run started, stopped in reverse order by `close()`.
 */
import type { LoadController, WindowStats } from "../../src/tools/loadbot/controller.js";
import type { AccountPool, BenchInfra, RunScope } from "../lib/cluster.js";
import { ProcessSet } from "../lib/procs.js";

export const TICK_BOUND_MS = 50;
/** prom-client's event-loop delay p99 since the previous scrape (it resets on every collect). */
export const LAG = "rift_process_nodejs_eventloop_lag_p99_seconds";
export const LATENCY_BOUND_MS = 100;
/** Longest extra wait for a step to reach steady state after its ramp. */
export const SETTLE_MAX_SEC = 10;
/** The opt-in link phase may extend the --budget-sec of the default phases by this much. */
export const LINK_EXTRA_BUDGET_SEC = 90;
export const ZONE = "z1";
export const WORLD = 1000;

export interface Args {
  json: boolean;
  infraDir: string | undefined;
  max: number;
  steps: number[];
  stepSec: number;
  settleSec: number;
  rampPerSec: number;
  gateways: number;
  conns: number;
  floodRate: number;
  floodSec: number;
  floodRounds: number;
  only: Set<string>;
  budgetSec: number;
  retries: number;
  linkSteps: number[];
}

/** Rate over a window, plus the receiving process's CPU use and its rate per CPU-second. */
export interface Throughput {
  msgsPerSec: number;
  /** Cores the receiving process used. */
  cpuCores: number;
  /** Messages per CPU-second of the receiving process: what it does when it has a whole core. */
  msgsPerCpuSec: number;
}

export interface StepResult {
  target: number;
  /** Fewest bots online during the window (the CCU this step held). */
  ccu: number;
  fieldCcu: number;
  tickP99Ms: number;
  tickMeanMs: number;
  /** Fraction of ticks ≤ 50 ms (exact: 50 ms is a bucket bound). */
  ticksWithinBound: number;
  ticksPerSec: number;
  ticksSkipped: number;
  consumeMeanMs: number;
  /** Write-behind: player rows saved per second, and the duration of one batch (mean / p99, ms). */
  flushRowsPerSec: number;
  flushMeanMs: number;
  flushP99Ms: number;
  latencyMs: WindowStats["latencyMs"];
  botMovesPerSec: number;
  botFramesInPerSec: number;
  fieldMovesPerSec: number;
  gatewayFramesOutPerSec: number;
  inputsDropped: number;
  /** CPU cores used during the window, by process. */
  cpu: Record<string, number>;
  /** Event-loop delay p99 during the window (ms): bot threads (worst second), field logic thread, gateways (worst). */
  loopDelayP99Ms: { bots: number; field: number; gateway: number };
  errors: Record<string, number>;
  pass: boolean;
  why: string;
  /** Measurement windows taken (a failing window is retried up to --retries times). */
  attempts: number;
}

export interface FieldLoadResult {
  bench: "field-load";
  machine: { cores: number; cpu: string; node: string; note: string; loadAvgAtStart: number[]; loadAvgAtEnd: number[] };
  raw?: { conns: number; seconds: number; offeredPerSec: number; steady: boolean; windows: Throughput[] } & Throughput;
  gateway?: {
    conns: number;
    seconds: number;
    offeredPerSec: number;
    steady: boolean;
    windows: Throughput[];
    /** Gateway msgs per CPU-second ÷ raw msgs per CPU-second (the DESIGN §7 ratio, ≥ 0.5). */
    ratioToRaw: number | null;
    inputsDropped: number;
  } & Throughput;
  field?: { gateways: number; ioWorkers: number; steps: StepResult[]; maxCcu: number; criteria: { tickP99Ms: number; latencyP99Ms: number } };
  /** Opt-in phase `link`: the field server driven directly over the link (latency = link input → tick record). */
  link?: { ioWorkers: number; steps: StepResult[]; maxCcu: number; criteria: { tickP99Ms: number; latencyP99Ms: number } };
  durationSec: number;
  aborted: boolean;
}

export const log = (line: string) => process.stderr.write(`[bench] ${line}\n`);

export function sleep(msec: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, msec);
    function done() {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}

/** Everything started by one run, stopped in `close()` in reverse order. */
export class Run {
  readonly procs = new ProcessSet();
  readonly abort = new AbortController();
  infra: BenchInfra | undefined;
  scope: RunScope | undefined;
  accounts: AccountPool | undefined;
  controller: LoadController | undefined;
  private readonly closers: (() => Promise<unknown>)[] = [];

  defer(fn: () => Promise<unknown>): void {
    this.closers.push(fn);
  }

  async close(): Promise<void> {
    await this.controller?.stop().catch(() => {});
    for (const fn of this.closers.reverse()) await fn().catch((e: unknown) => log(`cleanup: ${String(e)}`));
    // gateways first (clients detach and are flushed), then game servers
    await this.procs.stopAll((p) => (p.name.includes("-gw") ? 0 : 1));
    await this.accounts?.close().catch(() => {});
    await this.scope?.dispose().catch(() => {});
    await this.infra?.stop().catch((e: unknown) => log(`infra down: ${String(e)}`));
  }
}


/**
 * Aggregation of bot reports (pure apart from the histogram library): latency histograms
 * (hdr-histogram-js, microsecond resolution, 3 significant digits), counters, and the text
 * forms of progress and summary.
 */
import { build, type Histogram } from "hdr-histogram-js";

export interface LatencySummary {
  samples: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

const round2 = (v: number) => Math.round(v * 100) / 100;

/** Latency samples in ms, kept as µs in an HDR histogram (1 µs .. 1 h). */
export class LatencyRecorder {
  private readonly h: Histogram = build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: 3 });

  record(ms: number): void {
    if (!(ms >= 0)) return;
    this.h.recordValue(Math.max(1, Math.round(ms * 1000)));
  }

  recordAll(samples: ArrayLike<number>): void {
    for (let i = 0; i < samples.length; i++) this.record(samples[i]!);
  }

  get count(): number {
    return this.h.totalCount;
  }

  /** Percentile in ms (0 when empty). */
  percentile(p: number): number {
    return this.h.totalCount === 0 ? 0 : this.h.getValueAtPercentile(p) / 1000;
  }

  summary(): LatencySummary {
    const n = this.h.totalCount;
    if (n === 0) return { samples: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0, mean: 0 };
    return {
      samples: n,
      p50: round2(this.percentile(50)),
      p90: round2(this.percentile(90)),
      p99: round2(this.percentile(99)),
      p999: round2(this.percentile(99.9)),
      max: round2(this.h.maxValue / 1000),
      mean: round2(this.h.mean / 1000),
    };
  }

  reset(): void {
    this.h.reset();
  }
}

/** Additive counters over an interval or a whole run. */
export interface Counters {
  sent: number;
  chatSent: number;
  chatIn: number;
  framesIn: number;
  bytesIn: number;
  samplesDropped: number;
  errors: Record<string, number>;
}

export function emptyCounters(): Counters {
  return { sent: 0, chatSent: 0, chatIn: 0, framesIn: 0, bytesIn: 0, samplesDropped: 0, errors: {} };
}

export function addCounters(into: Counters, c: Counters): void {
  into.sent += c.sent;
  into.chatSent += c.chatSent;
  into.chatIn += c.chatIn;
  into.framesIn += c.framesIn;
  into.bytesIn += c.bytesIn;
  into.samplesDropped += c.samplesDropped;
  for (const [k, v] of Object.entries(c.errors)) into.errors[k] = (into.errors[k] ?? 0) + v;
}

export function errorTotal(errors: Record<string, number>): number {
  let n = 0;
  for (const v of Object.values(errors)) n += v;
  return n;
}

/** What one progress tick shows. */
export interface Progress {
  tSec: number;
  online: number;
  target: number;
  sentPerSec: number;
  framesInPerSec: number;
  p99: number;
  errors: number;
}

export function progressLine(p: Progress): string {
  return `[loadbot] t=${Math.round(p.tSec)}s bots=${p.online}/${p.target} msgs/s=${Math.round(p.sentPerSec)} in/s=${Math.round(p.framesInPerSec)} p99=${Math.round(p.p99)}ms errors=${p.errors}`;
}

/** The end-of-run result (`--json` prints exactly this object). */
export interface Summary {
  bots: number;
  workers: number;
  gateways: string[];
  seed: number;
  durationSec: number;
  /** Most bots simultaneously in the world. */
  ccu: number;
  /** Bots in the world when the run ended. */
  ccuEnd: number;
  started: number;
  entered: number;
  failedToEnter: number;
  sent: number;
  /** World chat messages posted / received (`--chat-rate`). */
  chatSent: number;
  chatIn: number;
  framesIn: number;
  bytesIn: number;
  sentPerSec: number;
  framesInPerSec: number;
  latencyMs: LatencySummary;
  latencySamplesDropped: number;
  /** Failures by error key (catalog key of the close code, CONNECT_FAILED, TIMEOUT…). */
  errors: Record<string, number>;
  errorCount: number;
}

export function summaryText(s: Summary): string {
  const l = s.latencyMs;
  const errs = Object.entries(s.errors)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k}=${v}`)
    .join(" ");
  return [
    `[loadbot] done after ${s.durationSec.toFixed(1)}s: ${s.bots} bots on ${s.workers} worker thread(s), gateways ${s.gateways.join(" ")}`,
    `  CCU reached       ${s.ccu} (at the end ${s.ccuEnd}); entered ${s.entered}/${s.started} started, ${s.failedToEnter} failed before entering`,
    `  messages sent     ${s.sent} (${Math.round(s.sentPerSec)}/s)`,
    ...(s.chatSent > 0 || s.chatIn > 0 ? [`  chat              ${s.chatSent} posted, ${s.chatIn} received (${Math.round(s.chatIn / Math.max(s.durationSec, 1e-3))}/s)`] : []),
    `  frames received   ${s.framesIn} (${Math.round(s.framesInPerSec)}/s, ${(s.bytesIn / 1e6).toFixed(1)} MB)`,
    `  latency (ms)      p50 ${l.p50}  p90 ${l.p90}  p99 ${l.p99}  p99.9 ${l.p999}  max ${l.max}  (${l.samples} samples)`,
    `  errors            ${s.errorCount === 0 ? "none" : errs}`,
  ].join("\n");
}

/**
 * A progress bar for long operator commands (shard rebalance). On a terminal it redraws one
 * line (`\r`); otherwise (CI logs, pipes) it prints a line at every 10 % step. Always on
 * stderr, so stdout keeps only the result.
 */
export interface ProgressSink {
  write(text: string): void;
  isTTY: boolean;
}

export interface ProgressBar {
  update(done: number, extra?: string): void;
  finish(extra?: string): void;
}

/** One rendered line (pure). */
export function renderProgress(label: string, done: number, total: number, elapsedSec: number, extra = "", width = 30): string {
  const ratio = total > 0 ? Math.min(1, done / total) : 1;
  const filled = Math.round(ratio * width);
  const rate = elapsedSec > 0 ? done / elapsedSec : 0;
  const eta = rate > 0 && done < total ? `, eta ${Math.ceil((total - done) / rate)}s` : "";
  return `${label} [${"#".repeat(filled)}${"-".repeat(width - filled)}] ${done}/${total} (${Math.floor(ratio * 100)}%) ${rate.toFixed(0)}/s${eta}${extra ? ` · ${extra}` : ""}`;
}

export function progressBar(sink: ProgressSink, label: string, total: number, now: () => number = Date.now): ProgressBar {
  const t0 = now();
  let lastDecile = -1;
  const line = (done: number, extra?: string) => renderProgress(label, done, total, (now() - t0) / 1000, extra);
  return {
    update(done, extra) {
      if (sink.isTTY) {
        sink.write(`\r${line(done, extra)}\x1b[K`);
        return;
      }
      const decile = total > 0 ? Math.floor((done / total) * 10) : 10;
      if (decile > lastDecile) {
        lastDecile = decile;
        sink.write(line(done, extra) + "\n");
      }
    },
    finish(extra) {
      sink.write(sink.isTTY ? `\r${line(total, extra)}\x1b[K\n` : line(total, extra) + "\n");
    },
  };
}

/**
 * Lifecycle: ordered graceful shutdown with a deadline.
 *
 * Components register hooks as they start; on shutdown the hooks run in REVERSE order of
 * registration (last started, first stopped — e.g. stop accepting clients before closing the
 * DB pools they flush into). Each hook is awaited; an error is logged and the next hook still
 * runs. If the whole sequence exceeds the deadline, `onDeadline` is called (the process
 * wiring exits non-zero) so a stuck hook can never keep a process alive forever.
 */
import type { Logger } from "./log.js";

export type ShutdownHook = (reason: string) => Promise<void> | void;

export interface LifecycleOptions {
  deadlineMs: number;
  log: Logger;
  /** Called when the deadline passes before all hooks finished. Default: process.exit(1). */
  onDeadline?: () => void;
}

export class Lifecycle {
  private readonly hooks: { name: string; fn: ShutdownHook }[] = [];
  private shutdownPromise: Promise<void> | undefined;
  private readonly opts: LifecycleOptions;
  private signalHandlers: { sig: NodeJS.Signals; fn: () => void }[] = [];
  private exitFn: ((code: number) => void) | undefined;

  constructor(opts: LifecycleOptions) {
    this.opts = opts;
  }

  /** Register a hook; hooks run in reverse order of registration. */
  onShutdown(name: string, fn: ShutdownHook): void {
    this.hooks.push({ name, fn });
  }

  get shuttingDown(): boolean {
    return this.shutdownPromise !== undefined;
  }

  /** Run every hook once (idempotent: later calls return the same promise). */
  shutdown(reason: string): Promise<void> {
    if (!this.shutdownPromise) this.shutdownPromise = this.run(reason);
    return this.shutdownPromise;
  }

  private async run(reason: string): Promise<void> {
    const { log } = this.opts;
    log.info({ reason }, "shutdown started");
    const timer = setTimeout(() => {
      log.error({ deadlineMs: this.opts.deadlineMs }, "shutdown deadline exceeded");
      (this.opts.onDeadline ?? (() => process.exit(1)))();
    }, this.opts.deadlineMs);
    timer.unref();
    for (const { name, fn } of [...this.hooks].reverse()) {
      const t0 = performance.now();
      try {
        await fn(reason);
        log.debug({ hook: name, ms: Math.round(performance.now() - t0) }, "shutdown hook done");
      } catch (err) {
        log.error({ hook: name, err }, "shutdown hook failed");
      }
    }
    clearTimeout(timer);
    this.removeSignalHandlers();
    log.info("shutdown complete");
  }

  /** Install SIGTERM/SIGINT handlers that call shutdown() and then `exit(0)`. */
  installSignalHandlers(exit: (code: number) => void = (c) => process.exit(c)): void {
    this.exitFn = exit;
    for (const sig of ["SIGTERM", "SIGINT"] as const) {
      const fn = () => {
        void this.shutdown(sig).then(() => exit(0));
      };
      process.on(sig, fn);
      this.signalHandlers.push({ sig, fn });
    }
  }

  /**
   * What SIGTERM does, asked for by the process itself (e.g. an operator's drain request):
   * shut down, then exit 0 through the handler installed by `installSignalHandlers` (without
   * one installed, e.g. in-process tests, only the shutdown runs).
   */
  terminate(reason: string): Promise<void> {
    return this.shutdown(reason).then(() => this.exitFn?.(0));
  }

  private removeSignalHandlers(): void {
    for (const { sig, fn } of this.signalHandlers) process.off(sig, fn);
    this.signalHandlers = [];
  }
}

/**
 * Child processes in tests (Rift servers, tools): start, wait until ready by watching their
 * output, and always stop them by PID.
 *
 *   import { afterAll } from "vitest";
 *   import { startRift, stopAll, waitFor } from "../helpers/processes.js";
 *
 *   afterAll(stopAll);   // stops every process this file started (SIGTERM, SIGKILL after a grace period)
 *   const gw = await startRift(["--role", "gateway"], { env: infraEnv(getInfra()), readyWhen: /listening/ });
 *   await gw.waitForLine(/player joined/);
 *   await waitFor(async () => (await fetchSomething()).ok, { timeoutMs: 10_000, what: "gateway healthy" });
 *
 * Every process is spawned in its own process group; stop() sends SIGTERM to the PID, then
 * SIGKILL to the group after `stopGraceMs`. An exit handler SIGKILLs anything still running
 * when the worker exits (e.g. after a crash before afterAll).
 */
import { execFile, spawn } from "node:child_process";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { isAlive, signal, stopPid } from "../../src/tools/infra/proc.js";
import { WaitTimeoutError } from "../../src/tools/infra/wait.js";

export { waitFor, WaitTimeoutError, FatalWaitError } from "../../src/tools/infra/wait.js";

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const MAX_LINES = 20_000;

export type LineMatcher = RegExp | ((line: string) => boolean);

export interface StartProcessOptions {
  /** Name used in messages (default: the command's base name). */
  name?: string;
  /** Merged over the current environment. */
  env?: NodeJS.ProcessEnv;
  /** Default: the repo root. */
  cwd?: string;
  /** Resolve only once a stdout/stderr line matches (default: as soon as it is spawned). */
  readyWhen?: LineMatcher;
  /** Deadline for readiness (default 30 s). */
  timeoutMs?: number;
  /** First stop signal (default SIGTERM) and the grace period before SIGKILL (default 10 s). */
  stopSignal?: NodeJS.Signals;
  stopGraceMs?: number;
  /** Echo output lines to stderr with a "[name] " prefix (default: env RIFT_TEST_ECHO=1). */
  echo?: boolean;
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ManagedProcess {
  name: string;
  pid: number;
  /** stdout and stderr lines in arrival order (the last MAX_LINES). */
  readonly lines: string[];
  /** Resolves when the process exits. */
  readonly exited: Promise<ExitInfo>;
  /** null while running. */
  exitInfo(): ExitInfo | null;
  /** Resolves with the first line (already seen or future) that matches; rejects on exit or deadline. */
  waitForLine(match: LineMatcher, timeoutMs?: number): Promise<string>;
  /** SIGTERM (or stopSignal), SIGKILL to the process group after the grace period. Idempotent. */
  stop(): Promise<ExitInfo>;
  /** Sends a signal to the process (e.g. SIGKILL to simulate a crash, SIGSTOP to freeze it). */
  kill(sig: NodeJS.Signals): void;
}

const registry = new Set<ManagedProcess>();

process.once("exit", () => {
  for (const p of registry) {
    signal(p.pid, "SIGKILL");
    killGroup(p.pid);
  }
});

function killGroup(pid: number): void {
  try {
    process.kill(-pid, "SIGKILL");
  } catch {
    /* group already gone */
  }
}

function matches(m: LineMatcher, line: string): boolean {
  return typeof m === "function" ? m(line) : m.test(line);
}

/** `[process.execPath, ["--import", "tsx", script, ...args]]`: a TypeScript entry point without npx. */
export function tsxCommand(script: string, args: string[] = []): [string, string[]] {
  return [process.execPath, ["--import", "tsx", resolve(REPO_ROOT, script), ...args]];
}

export interface CliResult {
  /** Exit status (null: killed, e.g. by the timeout). */
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `opsctl <args>` (src/tools/opsctl/cli.ts) with extra environment; SIGKILLed after `timeoutMs`. */
export function runOpsctl(env: Record<string, string>, args: string[], timeoutMs = 45_000): Promise<CliResult> {
  const [cmd, argv] = tsxCommand("src/tools/opsctl/cli.ts", args);
  return new Promise((res) => {
    execFile(cmd, argv, { env: { ...process.env, ...env }, timeout: timeoutMs, killSignal: "SIGKILL", maxBuffer: 64 << 20 }, (err, stdout, stderr) =>
      res({ code: err ? (typeof err.code === "number" ? err.code : null) : 0, stdout, stderr }),
    );
  });
}

/** Starts `src/main.ts` (the Rift binary) with `args`, e.g. ["--role", "gateway"]. */
export function startRift(args: string[], opts: StartProcessOptions = {}): Promise<ManagedProcess> {
  const [cmd, argv] = tsxCommand("src/main.ts", args);
  const role = args[args.indexOf("--role") + 1];
  return startProcess(cmd, argv, { name: args.includes("--role") && role ? role : "rift", ...opts });
}

export async function startProcess(cmd: string, args: string[], opts: StartProcessOptions = {}): Promise<ManagedProcess> {
  const name = opts.name ?? cmd.split("/").pop() ?? cmd;
  const echo = opts.echo ?? process.env.RIFT_TEST_ECHO === "1";
  const child = spawn(cmd, args, {
    cwd: opts.cwd ?? REPO_ROOT,
    env: { ...process.env, ...opts.env },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  await new Promise<void>((res, rej) => {
    child.once("spawn", res);
    child.once("error", (e) => rej(new Error(`cannot start ${name} (${cmd}): ${e.message}`)));
  });
  const pid = child.pid!;
  const lines: string[] = [];
  const listeners = new Set<(line: string) => void>();
  let exit: ExitInfo | null = null;
  const exited = new Promise<ExitInfo>((res) =>
    child.once("exit", (code, sig) => {
      exit = { code, signal: sig };
      res(exit);
    }),
  );

  const onLine = (line: string) => {
    lines.push(line);
    if (lines.length > MAX_LINES) lines.splice(0, lines.length - MAX_LINES);
    if (echo) process.stderr.write(`[${name}] ${line}\n`);
    for (const l of listeners) l(line);
  };
  for (const stream of [child.stdout!, child.stderr!]) {
    let partial = "";
    stream.setEncoding("utf8");
    stream.on("data", (chunk: string) => {
      const parts = (partial + chunk).split("\n");
      partial = parts.pop() ?? "";
      for (const p of parts) onLine(p.replace(/\r$/, ""));
    });
    stream.on("end", () => {
      if (partial) onLine(partial);
      partial = "";
    });
  }

  const tail = (n = 20) => (lines.length ? `\n--- last lines of ${name} ---\n${lines.slice(-n).join("\n")}` : ` (${name} printed nothing)`);
  const describe = (e: ExitInfo) => (e.signal ? `killed by ${e.signal}` : `exited with code ${e.code}`);

  const waitForLine = (match: LineMatcher, timeoutMs = 30_000): Promise<string> => {
    const seen = lines.find((l) => matches(match, l));
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((res, rej) => {
      const done = () => {
        listeners.delete(onMatch);
        clearTimeout(timer);
      };
      const onMatch = (line: string) => {
        if (!matches(match, line)) return;
        done();
        res(line);
      };
      const timer = setTimeout(() => {
        done();
        rej(new Error(`${new WaitTimeoutError(`${name} to print a line matching ${String(match)}`, timeoutMs, undefined).message}${tail()}`));
      }, timeoutMs);
      listeners.add(onMatch);
      void exited.then((e) => {
        if (!listeners.has(onMatch)) return;
        done();
        rej(new Error(`${name} ${describe(e)} before printing a line matching ${String(match)}${tail()}`));
      });
    });
  };

  let stopping: Promise<ExitInfo> | null = null;
  const proc: ManagedProcess = {
    name,
    pid,
    lines,
    exited,
    exitInfo: () => exit,
    waitForLine,
    kill: (sig) => signal(pid, sig),
    stop: () => {
      stopping ??= (async () => {
        if (exit === null && isAlive(pid)) {
          // A stopped (SIGSTOP) process cannot handle SIGTERM until continued.
          signal(pid, "SIGCONT");
          const how = await stopPid(pid, { signal: opts.stopSignal ?? "SIGTERM", graceMs: opts.stopGraceMs ?? 10_000 });
          if (how === "killed") process.stderr.write(`[processes] ${name} (pid ${pid}) ignored ${opts.stopSignal ?? "SIGTERM"}; SIGKILLed\n`);
        }
        killGroup(pid); // grandchildren, if any
        const e = await exited;
        registry.delete(proc);
        return e;
      })();
      return stopping;
    },
  };
  registry.add(proc);

  if (opts.readyWhen) {
    try {
      await waitForLine(opts.readyWhen, opts.timeoutMs ?? 30_000);
    } catch (e) {
      await proc.stop();
      throw e;
    }
  }
  return proc;
}

/** Stops every process started through this module (in parallel). Use as `afterAll(stopAll)`. */
export async function stopAll(): Promise<void> {
  await Promise.all([...registry].map((p) => p.stop()));
}

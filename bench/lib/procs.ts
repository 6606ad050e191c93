/**
 * Child processes of a benchmark (Rift roles): spawn `src/main.ts --role X` in its own
 * process group, keep the tail of its output, resolve when a ready line appears, stop by PID
 * (SIGTERM, then SIGKILL to the group after a grace period). `ProcessSet.stopAll()` stops
 * everything it started; benchmarks call it in `finally` and on SIGINT/SIGTERM.
 */
import { spawn } from "node:child_process";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { isAlive, signal, stopPid } from "../../src/tools/infra/proc.js";

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const TAIL_LINES = 200;

export interface RoleProcess {
  name: string;
  pid: number;
  /** The last TAIL_LINES output lines. */
  readonly lines: string[];
  /** The JSON object of the ready line (pino log line). */
  ready: Record<string, unknown>;
  exited: Promise<number | null>;
  stop(graceMs?: number): Promise<void>;
}

export class ProcessSet {
  private readonly procs = new Set<RoleProcess>();

  /** Start a Rift role (`src/main.ts --role <role>`); see `start`. */
  startRole(name: string, role: string, env: Record<string, string>, readyMsg: RegExp, timeoutMs = 60_000, nodeArgs: string[] = []): Promise<RoleProcess> {
    return this.start(name, "src/main.ts", ["--role", role], env, readyMsg, timeoutMs, nodeArgs);
  }

  /**
   * Start a TypeScript entry (path relative to the repo) under tsx; resolves once a JSON
   * output line's `msg` matches `readyMsg` (or rejects with the output tail). `nodeArgs` go
   * to node itself (e.g. `--cpu-prof` to profile a role under load).
   */
  async start(name: string, script: string, args: string[], env: Record<string, string>, readyMsg: RegExp, timeoutMs = 60_000, nodeArgs: string[] = []): Promise<RoleProcess> {
    const child = spawn(process.execPath, [...nodeArgs, "--import", "tsx", resolve(REPO_ROOT, script), ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    await new Promise<void>((res, rej) => {
      child.once("spawn", res);
      child.once("error", rej);
    });
    const pid = child.pid!;
    const lines: string[] = [];
    let onReady: ((obj: Record<string, unknown>) => void) | undefined;
    const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
    for (const stream of [child.stdout!, child.stderr!]) {
      let partial = "";
      stream.setEncoding("utf8");
      stream.on("data", (chunk: string) => {
        const parts = (partial + chunk).split("\n");
        partial = parts.pop() ?? "";
        for (const line of parts) {
          lines.push(line);
          if (lines.length > TAIL_LINES) lines.shift();
          if (onReady && line.startsWith("{")) {
            try {
              const obj = JSON.parse(line) as Record<string, unknown>;
              if (typeof obj.msg === "string" && readyMsg.test(obj.msg)) onReady(obj);
            } catch {
              /* not a log line */
            }
          }
        }
      });
    }
    let stopping: Promise<void> | undefined;
    const proc: RoleProcess = {
      name,
      pid,
      lines,
      ready: {},
      exited,
      stop: (graceMs = 15_000) => {
        stopping ??= (async () => {
          if (isAlive(pid)) await stopPid(pid, { graceMs });
          try {
            process.kill(-pid, "SIGKILL"); // grandchildren, if any
          } catch {
            /* group gone */
          }
          this.procs.delete(proc);
        })();
        return stopping;
      },
    };
    this.procs.add(proc);
    const tail = () => `\n--- last lines of ${name} ---\n${lines.slice(-25).join("\n")}`;
    try {
      proc.ready = await new Promise<Record<string, unknown>>((res, rej) => {
        const timer = setTimeout(() => rej(new Error(`${name} not ready within ${timeoutMs} ms${tail()}`)), timeoutMs);
        onReady = (obj) => {
          clearTimeout(timer);
          onReady = undefined;
          res(obj);
        };
        void exited.then((code) => {
          clearTimeout(timer);
          rej(new Error(`${name} exited with code ${code} before it was ready${tail()}`));
        });
      });
    } catch (e) {
      await proc.stop(2000);
      throw e;
    }
    return proc;
  }

  /** Stop every process (gateways before game servers when `order` names them). */
  async stopAll(order: (p: RoleProcess) => number = () => 0): Promise<void> {
    const groups = new Map<number, RoleProcess[]>();
    for (const p of this.procs) {
      const k = order(p);
      groups.set(k, [...(groups.get(k) ?? []), p]);
    }
    for (const k of [...groups.keys()].sort((a, b) => a - b)) await Promise.all(groups.get(k)!.map((p) => p.stop()));
  }

  /** Last resort on process exit: SIGKILL whatever is still running (synchronous). */
  killAllSync(): void {
    for (const p of this.procs) {
      signal(p.pid, "SIGKILL");
      try {
        process.kill(-p.pid, "SIGKILL");
      } catch {
        /* gone */
      }
    }
  }
}

/**
 * Redis 7 (Debian package) on 127.0.0.1, no persistence.
 * Layout: `<dir>/{redis.log, redis.pid}`; Redis runs with `<dir>` as working directory.
 * Ready = answers PING with PONG.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { createConnection } from "node:net";
import { InfraComponentError } from "./errors.js";
import { allocatePort } from "./ports.js";
import { describeExit, isAlive, spawnDaemon, stopPid } from "./proc.js";
import type { RedisState } from "./state.js";
import { FatalWaitError, WaitTimeoutError, errorText, since, waitFor } from "./wait.js";

export type { RedisState };

export interface StartRedisOptions {
  /** Directory for Redis' files (created if missing). */
  dir: string;
  log?: (line: string) => void;
  /** Deadline (default 20 s). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** Command-line arguments for redis-server (pure). */
export function redisArgs(port: number, dir: string): string[] {
  return ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir, "--daemonize", "no", "--logfile", ""];
}

/** Starts Redis and waits for PONG; on failure the process is stopped and an InfraComponentError thrown. */
export async function startRedis(opts: StartRedisOptions): Promise<RedisState> {
  const t0 = Date.now();
  mkdirSync(opts.dir, { recursive: true, mode: 0o755 });
  const port = await allocatePort();
  const logFile = join(opts.dir, "redis.log");
  const d = await spawnDaemon({
    name: "redis",
    cmd: "/usr/bin/redis-server",
    args: redisArgs(port, opts.dir),
    cwd: opts.dir,
    logFile,
    pidFile: join(opts.dir, "redis.pid"),
    env: { PATH: "/usr/bin:/bin", LANG: "C.UTF-8" },
  });
  const state: RedisState = { url: `redis://127.0.0.1:${port}`, port, pid: d.pid, dir: opts.dir, logFile };
  try {
    await waitFor(
      async () => {
        const e = d.exit();
        if (e || !isAlive(d.pid)) throw new FatalWaitError(`redis-server ${e ? describeExit(e) : "died"}`);
        return (await redisPing(port)) === "PONG";
      },
      { timeoutMs: opts.timeoutMs ?? 20_000, intervalMs: 50, what: `Redis PONG on 127.0.0.1:${port}`, signal: opts.signal },
    );
  } catch (e) {
    await stopRedis(state);
    if (e instanceof FatalWaitError || e instanceof WaitTimeoutError) throw new InfraComponentError("redis", errorText(e), logFile, { cause: e });
    throw e;
  }
  opts.log?.(`redis ready (${since(t0)}) ${state.url}`);
  return state;
}

/** SIGTERM, SIGKILL after 10 s; only if the PID still runs in Redis' directory. */
export async function stopRedis(state: RedisState): Promise<void> {
  if (state.pid) await stopPid(state.pid, { signal: "SIGTERM", graceMs: 10_000, ownerDir: state.dir });
}

/** Sends an inline PING and returns the reply line without the RESP marker ("PONG", "ERR ..."). */
export function redisPing(port: number, timeoutMs = 1000): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = createConnection({ host: "127.0.0.1", port });
    let buf = "";
    sock.setTimeout(timeoutMs, () => sock.destroy(new Error(`no PING reply from 127.0.0.1:${port} within ${timeoutMs} ms`)));
    sock.on("connect", () => sock.write("PING\r\n"));
    sock.on("data", (b) => {
      buf += b.toString("utf8");
      const i = buf.indexOf("\r\n");
      if (i >= 0) {
        sock.end();
        resolve(buf.slice(1, i));
      }
    });
    sock.on("error", reject);
    sock.on("close", () => reject(new Error(`connection to 127.0.0.1:${port} closed without a reply`)));
  });
}

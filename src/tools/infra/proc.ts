/**
 * Processes of the launcher: spawn a long-lived daemon that survives the launching CLI,
 * find out whether a PID is still ours and alive, stop it by PID with escalation, walk a
 * process tree, read memory usage, and tail a log file.
 *
 * Rules this module enforces:
 * - Daemons are spawned detached (own session, stdio to a log file, unref'd), so the CLI can
 *   exit while they keep running, and Ctrl-C in the terminal does not reach them.
 * - Every daemon gets a PID file beside its data; `down` finds everything through PID files,
 *   even when state.json is missing or stale.
 * - Before signalling a PID read from a file, check it still belongs to us: every daemon runs
 *   with its working directory inside its own directory, so `/proc/<pid>/cwd` must lie under
 *   the expected directory (guards against PID reuse after a reboot). Nothing is ever killed
 *   by name.
 * - A zombie counts as dead (PID 1 on these machines does not reap orphans, so killed daemons
 *   whose parent was the CLI stay as zombies; they hold no ports or memory).
 */
import { spawn } from "node:child_process";
import { closeSync, openSync, readFileSync, readSync, readdirSync, readlinkSync, realpathSync, fstatSync, writeFileSync } from "node:fs";
import { sep } from "node:path";
import { waitFor } from "./wait.js";

export interface DaemonSpec {
  /** Short name for messages, e.g. "zk1" or "shard0/pg1". */
  name: string;
  cmd: string;
  args: string[];
  /** Working directory; must lie inside the daemon's own directory (see ownership check). */
  cwd: string;
  /** stdout and stderr are appended here. */
  logFile: string;
  /** PID file written after spawning (plain decimal PID). */
  pidFile: string;
  env?: NodeJS.ProcessEnv;
  uid?: number;
  gid?: number;
}

export interface Daemon {
  name: string;
  pid: number;
  /** Set when the child exits while this process still runs (null while running). */
  exit(): { code: number | null; signal: NodeJS.Signals | null } | null;
}

/** Spawns a detached daemon. Resolves once the OS has started it (rejects on ENOENT etc.). */
export async function spawnDaemon(spec: DaemonSpec): Promise<Daemon> {
  const fd = openSync(spec.logFile, "a");
  let exitInfo: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  try {
    const child = spawn(spec.cmd, spec.args, {
      cwd: spec.cwd,
      env: spec.env ?? process.env,
      uid: spec.uid,
      gid: spec.gid,
      detached: true,
      stdio: ["ignore", fd, fd],
    });
    await new Promise<void>((resolve, reject) => {
      child.once("spawn", resolve);
      child.once("error", (e) => reject(new Error(`cannot start ${spec.name} (${spec.cmd}): ${e.message}`)));
    });
    child.on("exit", (code, signal) => {
      exitInfo = { code, signal };
    });
    child.unref();
    const pid = child.pid!;
    writeFileSync(spec.pidFile, `${pid}\n`);
    return { name: spec.name, pid, exit: () => exitInfo };
  } finally {
    closeSync(fd);
  }
}

/** "exited with code 1" / "killed by SIGKILL". */
export function describeExit(e: { code: number | null; signal: NodeJS.Signals | null }): string {
  return e.signal ? `killed by ${e.signal}` : `exited with code ${e.code}`;
}

/** Process state letter from /proc/<pid>/stat ("R", "S", "Z", ...), or null if no such process. */
export function procState(pid: number): string | null {
  const st = readProcStat(pid);
  return st ? st.state : null;
}

/** True if the PID exists and is not a zombie. */
export function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  const s = procState(pid);
  return s !== null && s !== "Z" && s !== "X";
}

/** Working directory of a process, or null when unknown (gone, or not permitted). */
export function processCwd(pid: number): string | null {
  try {
    return readlinkSync(`/proc/${pid}/cwd`);
  } catch {
    return null;
  }
}

/** Alive and its working directory lies at or under `dir` (identity check before signalling). */
export function isOwnedAlive(pid: number, dir: string): boolean {
  if (!isAlive(pid)) return false;
  const cwd = processCwd(pid);
  if (cwd === null) return false;
  const root = realOrSelf(dir);
  return cwd === root || cwd.startsWith(root.endsWith(sep) ? root : root + sep);
}

function realOrSelf(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return p;
  }
}

/** Sends a signal; a process that is already gone is not an error. */
export function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ESRCH") throw e;
  }
}

export interface StopOptions {
  /** First signal (default SIGTERM). */
  signal?: NodeJS.Signals;
  /** How long to wait after the first signal before SIGKILL (default 10 s). */
  graceMs?: number;
  /** If given, the PID is only signalled while `/proc/<pid>/cwd` lies under this directory. */
  ownerDir?: string;
}

/**
 * Stops a process by PID: first signal, wait up to `graceMs`, then SIGKILL and wait again.
 * Returns how it ended: "gone" (was not running / not ours), "stopped", or "killed".
 */
export async function stopPid(pid: number, opts: StopOptions = {}): Promise<"gone" | "stopped" | "killed"> {
  const ours = () => (opts.ownerDir ? isOwnedAlive(pid, opts.ownerDir) : isAlive(pid));
  if (!ours()) return "gone";
  const first = opts.signal ?? "SIGTERM";
  signal(pid, first);
  if (first !== "SIGKILL") {
    try {
      await waitFor(() => !isAlive(pid), { timeoutMs: opts.graceMs ?? 10_000, intervalMs: 50, what: `PID ${pid} to exit after ${first}` });
      return "stopped";
    } catch {
      if (!isAlive(pid)) return "stopped";
      signal(pid, "SIGKILL");
    }
  }
  await waitFor(() => !isAlive(pid), { timeoutMs: 10_000, intervalMs: 50, what: `PID ${pid} to exit after SIGKILL` });
  return first === "SIGKILL" ? "stopped" : "killed";
}

interface ProcStat {
  pid: number;
  state: string;
  ppid: number;
}

function readProcStat(pid: number): ProcStat | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return null;
  }
  return parseProcStat(text);
}

/** Parses /proc/<pid>/stat; the command name may contain spaces and parentheses. */
export function parseProcStat(text: string): ProcStat | null {
  const close = text.lastIndexOf(")");
  if (close < 0) return null;
  const pid = Number.parseInt(text, 10);
  const rest = text.slice(close + 2).split(" ");
  const state = rest[0];
  const ppid = Number(rest[1]);
  if (!Number.isInteger(pid) || !state || !Number.isInteger(ppid)) return null;
  return { pid, state, ppid };
}

/** All live descendants of `pid` (children, grandchildren, ...), from one scan of /proc. */
export function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const st = readProcStat(Number(name));
    if (!st || st.state === "Z") continue;
    const list = children.get(st.ppid);
    if (list) list.push(st.pid);
    else children.set(st.ppid, [st.pid]);
  }
  const out: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    for (const c of children.get(queue.shift()!) ?? []) {
      out.push(c);
      queue.push(c);
    }
  }
  return out;
}

/** Resident set size in KiB (0 if the process is gone). */
export function rssKb(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** First line of a PID file as a PID (also reads Postgres' postmaster.pid), or null. */
export function readPidFile(file: string): number | null {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return null;
  }
  const pid = Number.parseInt(text.split("\n", 1)[0] ?? "", 10);
  return Number.isInteger(pid) && pid > 0 ? pid : null;
}

/** The last `lines` lines of a (possibly large) text file; "" if it cannot be read. */
export function tailFile(file: string, lines = 30): string {
  let fd: number;
  try {
    fd = openSync(file, "r");
  } catch {
    return "";
  }
  try {
    const size = fstatSync(fd).size;
    const len = Math.min(size, 64 * 1024);
    const buf = Buffer.alloc(len);
    readSync(fd, buf, 0, len, size - len);
    const all = buf.toString("utf8").split("\n");
    if (all.at(-1) === "") all.pop();
    return all.slice(-lines).join("\n");
  } finally {
    closeSync(fd);
  }
}

export interface UserIds {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

/** Looks a user up in passwd-format text (pure, for tests). */
export function parsePasswd(text: string, user: string): UserIds | null {
  for (const line of text.split("\n")) {
    const f = line.split(":");
    if (f[0] === user && f.length >= 7) return { name: user, uid: Number(f[2]), gid: Number(f[3]), home: f[5] ?? "/" };
  }
  return null;
}

/**
 * The account Postgres must run as. As root: the `postgres` user (Postgres refuses to run as
 * root). As any other user: that user (no uid switch, no chown).
 */
export function postgresAccount(): UserIds | null {
  if (process.getuid?.() !== 0) return null;
  const ids = parsePasswd(readFileSync("/etc/passwd", "utf8"), "postgres");
  if (!ids) throw new Error("running as root but there is no 'postgres' user (is postgresql-15 installed?)");
  return ids;
}

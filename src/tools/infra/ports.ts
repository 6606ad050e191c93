/**
 * Free-port allocation. Nothing in Rift hard-codes a port for infrastructure or tests.
 *
 * A port is handed out when
 *  1. it lies outside the kernel's ephemeral range (so outgoing connections cannot grab it
 *     between allocation and use),
 *  2. binding 127.0.0.1:<port> succeeds right now, and
 *  3. no live process reserved it in the last RESERVATION_TTL_MS: a reservation is a file
 *     `<tmpdir>/rift-ports/<port>` created with O_EXCL holding the owner's PID. This closes the
 *     window between "checked free" and "daemon bound it" for allocations made concurrently
 *     by other processes (parallel test workers starting private infra).
 */
import { mkdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isAlive } from "./proc.js";

export const RESERVATION_TTL_MS = 10 * 60_000;

/** True if 127.0.0.1:<port> can be bound right now. */
export function isPortFree(port: number, host = "127.0.0.1"): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once("error", () => resolve(false));
    srv.listen({ port, host, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

/** The kernel's ephemeral port range (defaults to Linux's 32768–60999 if unreadable). */
export function ephemeralRange(): [number, number] {
  try {
    const [lo, hi] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/).map(Number);
    if (lo && hi && lo <= hi) return [lo, hi];
  } catch {
    /* not Linux */
  }
  return [32768, 60999];
}

/** Range [lo, hi) to allocate from: below the ephemeral range if there is room, else above. */
export function candidateRange(ephemeral: [number, number]): [number, number] {
  const [elo, ehi] = ephemeral;
  if (elo - 20000 >= 2000) return [20000, elo];
  if (65535 - ehi >= 2000) return [ehi + 1, 65536];
  return [20000, 30000];
}

export interface AllocateOptions {
  /** [lo, hi) — default: `candidateRange(ephemeralRange())`. */
  range?: [number, number];
  /** Where reservations live (default `<tmpdir>/rift-ports`). */
  reservationDir?: string;
  /** Random source in [0, 1) (tests inject a deterministic one). */
  random?: () => number;
  /** Free check (default `isPortFree`). */
  isFree?: (port: number) => Promise<boolean>;
}

/** Allocates `count` distinct free ports and reserves them for this process. */
export async function allocatePorts(count: number, opts: AllocateOptions = {}): Promise<number[]> {
  const [lo, hi] = opts.range ?? candidateRange(ephemeralRange());
  const dir = opts.reservationDir ?? join(tmpdir(), "rift-ports");
  const random = opts.random ?? Math.random;
  const isFree = opts.isFree ?? isPortFree;
  mkdirSync(dir, { recursive: true });
  const out: number[] = [];
  const maxTries = Math.max(200, count * 50);
  for (let tries = 0; out.length < count; tries++) {
    if (tries >= maxTries) throw new Error(`no free port found in ${lo}-${hi - 1} after ${tries} tries`);
    const port = lo + Math.floor(random() * (hi - lo));
    if (out.includes(port)) continue;
    if (!reserve(dir, port)) continue;
    if (await isFree(port)) out.push(port);
  }
  return out;
}

/** Convenience: one port. */
export async function allocatePort(opts: AllocateOptions = {}): Promise<number> {
  return (await allocatePorts(1, opts))[0]!;
}

/** Takes the reservation file for `port`; false if a live process holds a fresh one. */
function reserve(dir: string, port: number): boolean {
  const file = join(dir, String(port));
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, `${process.pid}\n`, { flag: "wx" });
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
    if (!isStale(file)) return false;
    try {
      unlinkSync(file);
    } catch {
      /* somebody else removed it first; retry the exclusive create */
    }
  }
  return false;
}

function isStale(file: string): boolean {
  try {
    const age = Date.now() - statSync(file).mtimeMs;
    const owner = Number.parseInt(readFileSync(file, "utf8"), 10);
    return age > RESERVATION_TTL_MS || !isAlive(owner);
  } catch {
    return true;
  }
}

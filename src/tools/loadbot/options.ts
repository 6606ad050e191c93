/**
 * Load-bot run options: defaults, bounds and validation (pure).
 *
 * Safety rules (a load generator must never be pointed at someone else's server by
 * accident): only loopback gateway URLs are accepted (127.0.0.0/8, localhost, ::1), the bot
 * count is capped at MAX_BOTS and every run stops by itself after `durationSec` (at most
 * MAX_DURATION_SEC). Violations throw RiftError(USAGE) with one clear line.
 */
import { isIP } from "node:net";
import { RiftError } from "../../core/errors.js";

export const MAX_BOTS = 20_000;
export const MAX_DURATION_SEC = 3600;
export const MAX_WORKERS = 16;
export const DEFAULT_GATEWAY = "ws://127.0.0.1:7000";

export interface Credentials {
  name: string;
  password: string;
}

export interface LoadbotOptions {
  bots: number;
  durationSec: number;
  gateways: string[];
  /** worker_threads carrying the bots; 0 = in the calling thread (tests, tiny runs). */
  workers: number;
  /** Bots start evenly spread over this many seconds. */
  rampSec: number;
  seed: number;
  /** Input period of each bot (DESIGN §7: 100 ms). */
  moveIntervalMs: number;
  /** Longest step per input (DESIGN §7: 5 units). */
  maxStep: number;
  /** Pre-provisioned accounts (bot i uses accounts[i]); otherwise each bot registers a new user. */
  accounts: Credentials[] | undefined;
  /** Name prefix of registered users (3–10 chars [A-Za-z0-9_]). */
  namePrefix: string;
  /** Connections opening / logging in at the same time, per thread. */
  connectConcurrency: number;
  /** Per-request deadline of hello / register / login / enter. */
  requestTimeoutMs: number;
  /** World chat messages per second per bot (0 = no chat; the gateway allows `chat.rateLimit`, default 2/s). */
  chatRate: number;
}

/** `true` for ws(s) URLs whose host is loopback: 127.0.0.0/8, localhost, ::1. */
export function isLoopbackUrl(raw: string): boolean {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return false;
  }
  if (u.protocol !== "ws:" && u.protocol !== "wss:") return false;
  if (u.username || u.password) return false;
  const host = u.hostname.replace(/^\[|\]$/g, "").toLowerCase();
  if (host === "localhost") return true;
  if (isIP(host) === 4) return host.split(".")[0] === "127";
  if (isIP(host) === 6) return host === "::1" || /^::ffff:127\.\d+\.\d+\.\d+$/.test(host) || /^::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}$/.test(host);
  return false;
}

/** Default worker count: 1 for small runs, else 2 (or fewer on a 1-core machine). */
export function defaultWorkers(bots: number, cores: number): number {
  if (bots <= 200) return 1;
  return Math.max(1, Math.min(2, cores));
}

/** Default ramp: about 200 new bots per second, at most half the run. */
export function defaultRampSec(bots: number, durationSec: number): number {
  return Math.min(durationSec / 2, bots / 200);
}

function usage(msg: string): never {
  throw new RiftError("USAGE", msg);
}

function checkInt(name: string, v: number, min: number, max: number): void {
  if (!Number.isInteger(v) || v < min || v > max) usage(`${name} must be an integer from ${min} to ${max} (got ${String(v)})`);
}

/** Fill defaults and validate. Throws RiftError(USAGE). */
export function resolveOptions(o: Partial<LoadbotOptions> & { bots: number; durationSec: number }, cores = 2): LoadbotOptions {
  checkInt("--bots", o.bots, 1, MAX_BOTS);
  if (!Number.isFinite(o.durationSec) || o.durationSec <= 0 || o.durationSec > MAX_DURATION_SEC) usage(`--duration must be a number of seconds in (0, ${MAX_DURATION_SEC}] (got ${String(o.durationSec)})`);
  const gateways = o.gateways && o.gateways.length > 0 ? o.gateways : [DEFAULT_GATEWAY];
  for (const g of gateways) {
    if (!isLoopbackUrl(g)) usage(`refusing gateway URL ${JSON.stringify(g)}: the load bot only targets loopback ws:// addresses (127.0.0.0/8, localhost, [::1])`);
  }
  const workers = o.workers ?? defaultWorkers(o.bots, cores);
  checkInt("--workers", workers, 0, MAX_WORKERS);
  const rampSec = o.rampSec ?? defaultRampSec(o.bots, o.durationSec);
  if (!Number.isFinite(rampSec) || rampSec < 0 || rampSec > o.durationSec) usage(`--ramp must be a number of seconds in [0, --duration] (got ${String(rampSec)})`);
  const seed = o.seed ?? (Date.now() ^ (process.pid << 8)) >>> 0;
  if (!Number.isFinite(seed)) usage("--seed must be a number");
  const namePrefix = o.namePrefix ?? "lb";
  if (!/^[A-Za-z0-9_]{1,10}$/.test(namePrefix)) usage("name prefix must be 1–10 characters [A-Za-z0-9_]");
  if (o.accounts && o.accounts.length < o.bots) usage(`--accounts holds ${o.accounts.length} accounts, fewer than --bots ${o.bots}`);
  const out: LoadbotOptions = {
    bots: o.bots,
    durationSec: o.durationSec,
    gateways,
    workers,
    rampSec,
    seed: seed >>> 0,
    moveIntervalMs: o.moveIntervalMs ?? 100,
    maxStep: o.maxStep ?? 5,
    accounts: o.accounts,
    namePrefix,
    connectConcurrency: o.connectConcurrency ?? 64,
    requestTimeoutMs: o.requestTimeoutMs ?? 15_000,
    chatRate: o.chatRate ?? 0,
  };
  if (!(Number.isFinite(out.chatRate) && out.chatRate >= 0 && out.chatRate <= 100)) usage(`--chat-rate must be a number of messages per second per bot in [0, 100] (got ${String(out.chatRate)})`);
  checkInt("moveIntervalMs", out.moveIntervalMs, 10, 60_000);
  if (!(out.maxStep > 0 && out.maxStep <= 100)) usage("maxStep must be in (0, 100]");
  checkInt("connectConcurrency", out.connectConcurrency, 1, 10_000);
  return out;
}

/**
 * Parse an accounts file: one account per line, `name password` (whitespace-separated) or a
 * JSON object `{"name":…,"password":…}`; blank lines and `#` comments are skipped.
 */
export function parseAccounts(text: string): Credentials[] {
  const out: Credentials[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (!line || line.startsWith("#")) continue;
    let c: Partial<Credentials> | undefined;
    if (line.startsWith("{")) {
      try {
        c = JSON.parse(line) as Partial<Credentials>;
      } catch {
        usage(`accounts line ${i + 1}: invalid JSON`);
      }
    } else {
      const [name, password, ...rest] = line.split(/\s+/);
      if (rest.length > 0) usage(`accounts line ${i + 1}: expected "name password"`);
      c = { name, password };
    }
    if (typeof c?.name !== "string" || typeof c.password !== "string" || !c.name || !c.password) usage(`accounts line ${i + 1}: expected a name and a password`);
    out.push({ name: c.name, password: c.password });
  }
  return out;
}

/**
 * PrimaryLocator over Patroni's ZooKeeper DCS (DESIGN §2, PATRONI.md "Finding the primary").
 *
 * For each scope (Patroni cluster) it follows two znodes with watches:
 *   `<namespace>/<scope>/leader`          plain member name of the leader, e.g. `pg1`
 *   `<namespace>/<scope>/members/<name>`  JSON with `conn_url` and `role`
 * The primary is the leader member's `conn_url`, but only while that member reports a primary
 * role (`master` in Patroni 3.0, `primary`, `leader`): during a switchover the new leader key
 * appears a moment before the member finishes promotion, and routing writes there early would
 * only produce read-only errors.
 *
 * `onChange` listeners hear every new primary URL of a scope, including the first one found;
 * a leaderless gap that ends on the same primary is not announced again.
 *
 * We never route with libpq multi-host `target_session_attrs` (PATRONI.md: after a Patroni-only
 * crash it picked an orphaned old primary); the leader key is the truth.
 *
 * Promotion probe: while the leader key names a member whose znode does not say "primary"
 * yet (Patroni rewrites the member znode only on its next loop, 1–1.5 s after promotion), the
 * locator asks that member's REST API `GET /primary` every `promotionProbeMs`; Patroni answers
 * 200 there only when it runs the leader with Postgres as primary. The first 200 routes to
 * the member at once (measured: the write stall of a primary kill drops by ~1.2 s). A later
 * DCS change cancels the probe; the znodes stay the truth.
 *
 * Refreshes of one scope are serialised (a watch firing during a refresh schedules exactly one
 * more). DCS read errors are retried with back-off (`retryMs` doubling, at most 5 s) until the
 * locator is closed; the last known primary stays in use meanwhile. After a
 * ZooKeeper session expiry (see dcs.ts) every tracked scope is re-read, re-arming watches.
 */
import { RiftError } from "../core/errors.js";
import type { Logger } from "../core/log.js";
import type { DcsReader } from "./dcs.js";
import type { PrimaryLocator } from "./types.js";

export interface PatroniLocatorOptions {
  dcs: DcsReader;
  /** Patroni `namespace`, e.g. `/service` (a trailing slash is ignored). */
  namespace: string;
  log: Logger;
  /** How long `primaryUrl` waits while a scope has no primary (default 15 s). */
  waitMs?: number;
  /** First delay before re-reading after a DCS error (default 500 ms; doubles up to 5 s). */
  retryMs?: number;
  /** Period of the promotion probe (default 100 ms; 0 = off). */
  promotionProbeMs?: number;
  /** Test seam: whether Patroni's REST API at `apiUrl` says it runs the primary (default: GET <origin>/primary → 200). */
  probePrimary?: (apiUrl: string) => Promise<boolean>;
}

/** `GET <origin of api_url>/primary` answers 200 only on the running leader. */
export async function restSaysPrimary(apiUrl: string): Promise<boolean> {
  try {
    const res = await fetch(new URL("/primary", apiUrl), { signal: AbortSignal.timeout(500) });
    await res.arrayBuffer().catch(() => undefined);
    return res.status === 200;
  } catch {
    return false;
  }
}

/** conn_url and api_url of a member record (whatever its role). Pure. */
export function memberUrls(data: Buffer | string): { conn: string; api: string } | undefined {
  try {
    const doc = JSON.parse(typeof data === "string" ? data : data.toString("utf8")) as { conn_url?: unknown; api_url?: unknown };
    if (typeof doc?.conn_url !== "string" || !/^postgres(ql)?:\/\//.test(doc.conn_url)) return undefined;
    if (typeof doc.api_url !== "string" || !/^https?:\/\//.test(doc.api_url)) return undefined;
    return { conn: doc.conn_url, api: doc.api_url };
  } catch {
    return undefined;
  }
}

const PRIMARY_ROLES = new Set(["master", "primary", "leader"]);

/**
 * The primary URL a Patroni member znode advertises, or undefined when the data is not a
 * member record, or the member is not (yet) in a primary role. Pure.
 */
export function primaryUrlFromMember(data: Buffer | string): string | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(typeof data === "string" ? data : data.toString("utf8"));
  } catch {
    return undefined;
  }
  if (typeof doc !== "object" || doc === null) return undefined;
  const { conn_url: url, role } = doc as { conn_url?: unknown; role?: unknown };
  if (typeof url !== "string" || !/^postgres(ql)?:\/\//.test(url)) return undefined;
  if (typeof role !== "string" || !PRIMARY_ROLES.has(role)) return undefined;
  return url;
}

/** A leader znode's member name, or undefined if it is not a plausible member name. Pure. */
export function leaderName(data: Buffer | string): string | undefined {
  const name = (typeof data === "string" ? data : data.toString("utf8")).trim();
  return name.length > 0 && name.length <= 255 && !name.includes("/") ? name : undefined;
}

interface ScopeState {
  /** Current primary URL; undefined while there is no usable leader. */
  url: string | undefined;
  /** Last URL announced to onChange listeners. */
  announced: string | undefined;
  refreshing: boolean;
  again: boolean;
  retryTimer: NodeJS.Timeout | undefined;
  /** Consecutive failed refreshes (drives the retry back-off). */
  failures: number;
  waiters: Set<() => void>;
  onWatch: () => void;
  /** Bumped by every resolve: a running promotion probe stops when it changes. */
  gen: number;
  probe: NodeJS.Timeout | undefined;
}

export class PatroniLocator implements PrimaryLocator {
  private readonly scopes = new Map<string, ScopeState>();
  private readonly listeners = new Set<(scope: string, url: string) => void>();
  private readonly ns: string;
  private readonly log: Logger;
  private readonly unsubscribeSession: () => void;
  private closed = false;

  constructor(private readonly opts: PatroniLocatorOptions) {
    this.ns = opts.namespace.replace(/\/+$/, "");
    this.log = opts.log.child({ component: "patroni-locator" });
    this.unsubscribeSession = opts.dcs.onNewSession(() => {
      for (const scope of this.scopes.keys()) this.refresh(scope);
    });
  }

  /** Start following `scope` (idempotent). `primaryUrl` does this on first use. */
  track(scope: string): void {
    if (this.closed || this.scopes.has(scope)) return;
    const st: ScopeState = {
      url: undefined,
      announced: undefined,
      refreshing: false,
      again: false,
      retryTimer: undefined,
      failures: 0,
      waiters: new Set(),
      onWatch: () => this.refresh(scope),
      gen: 0,
      probe: undefined,
    };
    this.scopes.set(scope, st);
    this.refresh(scope);
  }

  /** The current primary URL without waiting (undefined if unknown right now). */
  current(scope: string): string | undefined {
    return this.scopes.get(scope)?.url;
  }

  async primaryUrl(scope: string): Promise<string> {
    if (this.closed) throw new RiftError("DEPENDENCY_UNAVAILABLE", "primary locator closed");
    this.track(scope);
    const st = this.scopes.get(scope)!;
    if (st.url) return st.url;
    const waitMs = this.opts.waitMs ?? 15_000;
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        st.waiters.delete(wake);
        reject(new RiftError("DEPENDENCY_UNAVAILABLE", `no primary for Patroni cluster '${scope}' within ${waitMs} ms`));
      }, waitMs);
      const wake = () => {
        clearTimeout(timer);
        st.waiters.delete(wake);
        if (st.url) resolve(st.url);
        else reject(new RiftError("DEPENDENCY_UNAVAILABLE", "primary locator closed"));
      };
      st.waiters.add(wake);
    });
  }

  onChange(fn: (scope: string, url: string) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private refresh(scope: string): void {
    const st = this.scopes.get(scope);
    if (!st || this.closed) return;
    if (st.refreshing) {
      st.again = true;
      return;
    }
    if (st.retryTimer) {
      clearTimeout(st.retryTimer);
      st.retryTimer = undefined;
    }
    st.refreshing = true;
    void this.refreshLoop(scope, st);
  }

  private async refreshLoop(scope: string, st: ScopeState): Promise<void> {
    try {
      do {
        st.again = false;
        try {
          this.apply(scope, st, await this.resolve(scope, st));
          st.failures = 0;
        } catch (err) {
          if (this.closed) return;
          const delay = Math.min((this.opts.retryMs ?? 500) * 2 ** st.failures, 5000);
          // Warn on the first failure of a streak, then quietly keep retrying with back-off.
          this.log[st.failures === 0 ? "warn" : "debug"]({ scope, err: String(err), retryInMs: delay }, "reading Patroni leader failed; retrying");
          st.failures++;
          st.retryTimer = setTimeout(() => {
            st.retryTimer = undefined;
            this.refresh(scope);
          }, delay);
          return;
        }
      } while (st.again && !this.closed);
    } finally {
      st.refreshing = false;
    }
  }

  private async resolve(scope: string, st: ScopeState): Promise<string | undefined> {
    st.gen++;
    if (st.probe) clearTimeout(st.probe);
    st.probe = undefined;
    const base = `${this.ns}/${scope}`;
    const leader = await this.opts.dcs.read(`${base}/leader`, st.onWatch);
    if (leader === undefined) return undefined;
    const name = leaderName(leader);
    if (!name) {
      this.log.warn({ scope }, "unreadable Patroni leader znode");
      return undefined;
    }
    const member = await this.opts.dcs.read(`${base}/members/${name}`, st.onWatch);
    if (member === undefined) return undefined;
    const url = primaryUrlFromMember(member);
    if (url === undefined) this.startProbe(scope, st, name, member);
    return url;
  }

  /** The leader key names `name` but its znode is not primary (yet): ask its REST API. */
  private startProbe(scope: string, st: ScopeState, name: string, member: Buffer | string): void {
    const every = this.opts.promotionProbeMs ?? 100;
    const urls = memberUrls(member);
    if (every <= 0 || !urls) return;
    const gen = st.gen;
    const probe = this.opts.probePrimary ?? restSaysPrimary;
    const deadline = Date.now() + 15_000;
    const tick = () => {
      st.probe = undefined;
      if (this.closed || st.gen !== gen || Date.now() > deadline) return;
      void probe(urls.api).then((yes) => {
        if (this.closed || st.gen !== gen) return;
        if (yes) {
          this.log.info({ scope, member: name }, "leader's REST API reports primary before its znode does: routing there");
          this.apply(scope, st, urls.conn);
        } else st.probe = setTimeout(tick, every);
      });
    };
    tick();
  }

  private apply(scope: string, st: ScopeState, url: string | undefined): void {
    if (this.closed) return;
    if (url !== st.url) this.log.info({ scope, primary: url ? redact(url) : null }, url ? "primary located" : "no primary right now");
    st.url = url;
    if (!url) return;
    for (const w of [...st.waiters]) w();
    if (url !== st.announced) {
      st.announced = url;
      for (const fn of [...this.listeners]) {
        try {
          fn(scope, url);
        } catch (err) {
          this.log.error({ scope, err }, "primary change listener failed");
        }
      }
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.unsubscribeSession();
    for (const st of this.scopes.values()) {
      if (st.retryTimer) clearTimeout(st.retryTimer);
      if (st.probe) clearTimeout(st.probe);
      for (const w of [...st.waiters]) w();
    }
    this.listeners.clear();
    await this.opts.dcs.close();
  }
}

/** A connection URL without credentials, for logs. */
export function redact(url: string): string {
  return url.replace(/\/\/[^@/]*@/, "//");
}

/**
 * Player trades by mutual consent (issue #7 item 4, docs/PROTOCOL.md §Trades), served the same
 * way by field and dungeon servers. The two players may be on different game servers.
 *
 * - `trade {with, give, get}`: validated (not with yourself; the spec must pass
 *   `tradeSpecProblem`, else `error RIFT_TRADE_REJECTED`), then stored in the TradeBook. No
 *   mirroring half there: the proposer gets `tradeStatus waiting`, the other user `offered`
 *   (give/get from its point of view), and this desk remembers the proposal to expire it.
 *   A mirroring half there: the book hands it to THIS desk only (atomic match), which runs the
 *   trade (TradeCoordinator: 2PC across shards; `a` = the lower user id) and tells both users
 *   `committed` (with the trade id), `aborted` (nothing changed; reason = catalog code and
 *   message) or `inDoubt` (TRADE_IN_DOUBT: recovery settles it), and writes one game-log row
 *   of kind `trade` per participant.
 * - `tradeCancel {with}`: withdraws the caller's half; both users get `cancelled`. Nothing to
 *   withdraw: `error RIFT_TRADE_REJECTED`.
 * - Expiry: a proposal this desk stored that is not matched within `lifetimeMs` is withdrawn
 *   (only if it is still that proposal) and both users get `cancelled` (reason "expired").
 * - Delivery: a user served here gets a direct reply; any other user a notice through the
 *   TradeNotifier (every game server receives it and replies to the user if it serves it; a
 *   notice is best-effort). Inbound notices and expiry are handled in the tick hook, on the
 *   logic thread.
 * Redis stays behind the TradeBook / TradeNotifier interfaces (trade-book.ts).
 */
import { isRiftError, RiftError } from "../errors.js";
import type { Logger } from "../log.js";
import type { GameLogSink } from "../ops/game-log.js";
import { tradeSpecProblem, type TradeOffer, type TradeSpec } from "../../game/trade-rules.js";
import type { SceneContext, SceneHandlers, SceneHooks } from "./handlers.js";
import type { Session } from "./sessions.js";
import { newProposalId, TRADE_OFFER_LIFETIME_MS, type TradeBook, type TradeHalf, type TradeNotifier, type TradeStatusBody } from "./trade-book.js";

/** Runs an atomic trade (TradeCoordinator). */
export interface TradeExecutor {
  trade(spec: TradeSpec): Promise<{ tradeId: string }>;
}

export interface TradeDeskOptions {
  book: TradeBook;
  notifier: TradeNotifier;
  trades: TradeExecutor;
  nodeId: string;
  log: Logger;
  gameLog?: GameLogSink;
  /** Life of an unanswered proposal on the loop clock (default 60 s). */
  lifetimeMs?: number;
  /** Inbound notices kept until the next tick (oldest dropped beyond; default 10,000). */
  inboxMax?: number;
  newId?: () => string;
}

interface OpenProposal {
  half: TradeHalf;
  /** Loop clock when it was stored. */
  since: number;
}

const errText = (err: unknown) => (err instanceof Error ? err.message : String(err));

export class TradeDesk {
  readonly handlers: SceneHandlers;
  readonly hooks: SceneHooks;
  /** Proposals stored by this desk, by `user:with`. */
  private readonly open = new Map<string, OpenProposal>();
  private inbox: { to: number; body: TradeStatusBody }[] = [];
  private readonly unsubscribe: () => void;
  private readonly lifetimeMs: number;
  private readonly log: Logger;

  constructor(private readonly opts: TradeDeskOptions) {
    this.lifetimeMs = opts.lifetimeMs ?? TRADE_OFFER_LIFETIME_MS;
    this.log = opts.log.child({ component: "trades" });
    this.handlers = {
      trade: (ctx, s, body) => this.propose(ctx, s, body.with, body.give, body.get),
      tradeCancel: (ctx, s, body) => this.cancel(ctx, s, body.with),
    };
    this.hooks = { tick: (ctx) => this.onTick(ctx) };
    const max = opts.inboxMax ?? 10_000;
    this.unsubscribe = opts.notifier.subscribe((to, body) => {
      this.inbox.push({ to, body });
      if (this.inbox.length > max) this.inbox.shift();
    });
  }

  /** Proposals this desk waits on (tests). */
  get pending(): number {
    return this.open.size;
  }

  private propose(ctx: SceneContext, s: Session, other: number, give: TradeOffer, get: TradeOffer): void {
    if (other === s.user) return ctx.error(s, "TRADE_REJECTED", "you cannot trade with yourself");
    const problem = tradeSpecProblem({ a: s.user, b: other, aGives: give, bGives: get });
    if (problem) return ctx.error(s, "TRADE_REJECTED", problem);
    const half: TradeHalf = { user: s.user, with: other, give: { items: [...give.items], currency: give.currency }, get: { items: [...get.items], currency: get.currency }, id: (this.opts.newId ?? newProposalId)() };
    this.opts.book.propose(half).then(
      (match) => {
        if (match) return this.execute(ctx, half, match);
        this.open.set(`${half.user}:${half.with}`, { half, since: ctx.now });
        this.deliver(ctx, half.user, { with: other, state: "waiting", give: half.give, get: half.get });
        this.deliver(ctx, other, { with: half.user, state: "offered", give: half.get, get: half.give });
      },
      (err: unknown) => {
        this.log.warn({ user: s.user, with: other, err: errText(err) }, "storing a trade proposal failed");
        const e = isRiftError(err) ? err : new RiftError("DEPENDENCY_UNAVAILABLE", errText(err));
        this.deliver(ctx, s.user, { with: other, state: "aborted", give: half.give, get: half.get, reason: `${e.code}: ${e.message}` });
      },
    );
  }

  private cancel(ctx: SceneContext, s: Session, other: number): void {
    this.opts.book.withdraw(s.user, other).then(
      (half) => {
        if (!half) {
          const now = ctx.session(s.user);
          if (now) ctx.error(now, "TRADE_REJECTED", `no open trade proposal to user ${other}`);
          return;
        }
        this.open.delete(`${s.user}:${other}`);
        this.cancelled(ctx, half, `withdrawn by user ${s.user}`);
      },
      (err: unknown) => {
        this.log.warn({ user: s.user, with: other, err: errText(err) }, "withdrawing a trade proposal failed");
        const now = ctx.session(s.user);
        if (now) ctx.error(now, "DEPENDENCY_UNAVAILABLE", `trade proposal not withdrawn: ${errText(err)}`);
      },
    );
  }

  private cancelled(ctx: SceneContext, half: TradeHalf, reason: string): void {
    this.deliver(ctx, half.user, { with: half.with, state: "cancelled", give: half.give, get: half.get, reason });
    this.deliver(ctx, half.with, { with: half.user, state: "cancelled", give: half.get, get: half.give, reason });
  }

  /** `mine` matched `theirs` (the book removed both): run the trade, tell both, log it. */
  private execute(ctx: SceneContext, mine: TradeHalf, theirs: TradeHalf): void {
    this.open.delete(`${mine.user}:${mine.with}`);
    this.open.delete(`${theirs.user}:${theirs.with}`);
    const [lo, hi] = mine.user < theirs.user ? [mine, theirs] : [theirs, mine];
    const spec: TradeSpec = { a: lo.user, b: hi.user, aGives: lo.give, bGives: hi.give };
    const tell = (state: "committed" | "aborted" | "inDoubt", extra: { reason?: string; trade?: string }) => {
      for (const h of [lo, hi]) {
        this.deliver(ctx, h.user, { with: h.with, state, give: h.give, get: h.get, ...extra });
        this.opts.gameLog?.log("trade", h.user, { with: h.with, outcome: state, gave: h.give, got: h.get, ...extra, server: this.opts.nodeId });
      }
    };
    this.opts.trades.trade(spec).then(
      (r) => {
        this.log.info({ trade: r.tradeId, a: spec.a, b: spec.b }, "trade committed");
        tell("committed", { trade: r.tradeId });
      },
      (err: unknown) => {
        const e = isRiftError(err) ? err : new RiftError("INTERNAL", errText(err));
        this.log.info({ a: spec.a, b: spec.b, code: e.code, err: e.message }, "trade not committed");
        tell(e.key === "TRADE_IN_DOUBT" ? "inDoubt" : "aborted", { reason: `${e.code}: ${e.message}` });
      },
    );
  }

  /** A direct reply to a user served here, a notice for anyone else. */
  private deliver(ctx: SceneContext, to: number, body: TradeStatusBody): void {
    const s = ctx.session(to);
    if (s) return ctx.reply(s, "tradeStatus", body);
    this.opts.notifier.send(to, body).catch((err: unknown) => this.log.warn({ to, state: body.state, err: errText(err) }, "trade notice not sent"));
  }

  private onTick(ctx: SceneContext): void {
    if (this.inbox.length > 0) {
      const batch = this.inbox;
      this.inbox = [];
      for (const n of batch) {
        const s = ctx.session(n.to);
        if (s) ctx.reply(s, "tradeStatus", n.body);
      }
    }
    if (this.open.size === 0) return;
    for (const [key, p] of this.open) {
      if (ctx.now - p.since < this.lifetimeMs) continue;
      this.open.delete(key);
      this.opts.book.withdraw(p.half.user, p.half.with, p.half.id).then(
        (half) => {
          if (half) this.cancelled(ctx, half, "expired");
        },
        (err: unknown) => this.log.warn({ user: p.half.user, with: p.half.with, err: errText(err) }, "expiring a trade proposal failed (the book forgets it)"),
      );
    }
  }

  /** Stop taking notices (the book and notifier belong to the caller). */
  close(): void {
    this.unsubscribe();
    this.inbox = [];
  }
}

/**
 * The asynchronous half of attaching a user (DB work off the logic loop).
 *
 * `begin(req)` starts, for a user not already being attached:
 *   1. wait until the user's previous final write on this server (if any) is settled, so our
 *      own takeover can never fence our own last save;
 *   2. `takeOwnership(user, nodeId)` (bumps the owner epoch); for a new user
 *      `ensure(initialState)` at the requested zone's spawn point, then take ownership again;
 *   3. report through `onResult`:
 *      - `ready`    — state + epoch; the requested channel (`req.zone`, a channel key) is of
 *                     the user's zone and served here;
 *      - `transfer` — the DB says the user is in another zone, or the channel is not served here;
 *      - `failed`   — DB unavailable or inconsistent (the gateway gets `rejected`).
 * At most `maxInFlight` attaches run at once: `begin` returns "busy" beyond that (the caller
 * rejects with SERVER_BUSY) and "duplicate" for a user already in flight.
 */
import type { ErrorKey } from "../errors.js";
import type { Logger } from "../log.js";
import type { PlayerRepository, PlayerState } from "../../shard/types.js";
import type { LinkId } from "../transport/io-worker-protocol.js";
import { baseZone } from "../cluster/channels.js";

export interface AttachRequest {
  user: number;
  name: string;
  zone: string;
  link: LinkId;
}

export type AttachResult =
  | { kind: "ready"; req: AttachRequest; state: PlayerState; epoch: number; /** The row was of another zone and adopted here (save it soon). */ adopted?: boolean }
  | { kind: "transfer"; req: AttachRequest; zone: string }
  | { kind: "failed"; req: AttachRequest; key: ErrorKey; detail: string };

export interface AttachFlowOptions {
  repo: Pick<PlayerRepository, "ensure" | "takeOwnership">;
  nodeId: string;
  maxInFlight: number;
  /** Whether a channel key is served here now. */
  hosts(channel: string): boolean;
  initialState(user: number, name: string, zone: string): PlayerState;
  /** A row of another zone: the state to adopt it with here, or undefined (→ transfer). */
  adopt?(state: PlayerState, channel: string): PlayerState | undefined;
  /** Resolves when the user's pending final write on this server is settled. */
  released(user: number): Promise<unknown>;
  onResult(r: AttachResult): void;
  log: Logger;
}

export class AttachFlow {
  private readonly inFlight = new Set<number>();

  constructor(private readonly opts: AttachFlowOptions) {}

  get pending(): number {
    return this.inFlight.size;
  }

  isPending(user: number): boolean {
    return this.inFlight.has(user);
  }

  begin(req: AttachRequest): "started" | "busy" | "duplicate" {
    if (this.inFlight.has(req.user)) return "duplicate";
    if (this.inFlight.size >= this.opts.maxInFlight) return "busy";
    this.inFlight.add(req.user);
    void this.run(req)
      .catch((err: unknown): AttachResult => {
        this.opts.log.warn({ err, user: req.user }, "attach failed");
        return { kind: "failed", req, key: "DEPENDENCY_UNAVAILABLE", detail: err instanceof Error ? err.message : String(err) };
      })
      .then((r) => {
        this.inFlight.delete(req.user);
        this.opts.onResult(r);
      });
    return "started";
  }

  private async run(req: AttachRequest): Promise<AttachResult> {
    const { repo, nodeId } = this.opts;
    await this.opts.released(req.user);
    let owned = await repo.takeOwnership(req.user, nodeId);
    if (!owned) {
      await repo.ensure(this.opts.initialState(req.user, req.name, baseZone(req.zone)));
      owned = await repo.takeOwnership(req.user, nodeId);
    }
    if (!owned) return { kind: "failed", req, key: "DEPENDENCY_UNAVAILABLE", detail: "player row missing after ensure" };
    if (!this.opts.hosts(req.zone)) return { kind: "transfer", req, zone: owned.state.zone };
    if (owned.state.zone !== baseZone(req.zone)) {
      const adopted = this.opts.adopt?.(owned.state, req.zone);
      if (!adopted) return { kind: "transfer", req, zone: owned.state.zone };
      return { kind: "ready", req, state: adopted, epoch: owned.epoch, adopted: true };
    }
    return { kind: "ready", req, state: owned.state, epoch: owned.epoch };
  }
}

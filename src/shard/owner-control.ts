/**
 * OwnerControl over the game servers' ops API (src/core/scene/shard-moves.ts): POST
 * /shard/hold and /shard/release on the owner's ops port, found through cluster membership.
 * An owner that is not a live member owns nobody (every user `notOwned`).
 */
import { RiftError } from "../core/errors.js";
import type { OwnerControl } from "./mover.js";

export interface OwnerAddress {
  host: string;
  opsPort: number;
}

export interface HttpOwnerControlOptions {
  /** Where a node's ops API is, from cluster membership; undefined = not a live member. */
  resolve(owner: string): Promise<OwnerAddress | undefined>;
  /** Per-request deadline (default 10 s: a hold waits for a write to the DB). */
  timeoutMs?: number;
}

export class HttpOwnerControl implements OwnerControl {
  constructor(private readonly opts: HttpOwnerControlOptions) {}

  async hold(owner: string, moveId: string, users: number[]): Promise<{ held: { userId: number; epoch: number }[]; notOwned: number[]; busy?: number[] }> {
    const addr = await this.opts.resolve(owner);
    if (!addr) return { held: [], notOwned: users };
    return (await this.post(addr, "/shard/hold", { moveId, users })) as { held: { userId: number; epoch: number }[]; notOwned: number[]; busy?: number[] };
  }

  async release(owner: string, moveId: string, users: { userId: number; epoch?: number }[]): Promise<void> {
    const addr = await this.opts.resolve(owner);
    if (!addr) return;
    await this.post(addr, "/shard/release", { moveId, users });
  }

  private async post(addr: OwnerAddress, path: string, body: unknown): Promise<unknown> {
    const url = `http://${addr.host.includes(":") ? `[${addr.host}]` : addr.host}:${addr.opsPort}${path}`;
    let res: Response;
    try {
      res = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(this.opts.timeoutMs ?? 10_000),
      });
    } catch (e) {
      throw new RiftError("DEPENDENCY_UNAVAILABLE", `${url}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
    const text = await res.text();
    if (!res.ok) throw new RiftError("SHARD_MOVE_FAILED", `${url}: ${res.status} ${text.slice(0, 300)}`);
    return JSON.parse(text) as unknown;
  }
}

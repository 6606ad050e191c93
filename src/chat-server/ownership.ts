/**
 * Which chat server owns a channel: rendezvous (highest-random-weight) hashing over the live
 * chat servers. Pure and deterministic, so every gateway computes the same owner from the
 * same member list without asking anyone, and when a server joins or leaves only the
 * channels it wins or held move (≈ 1/N of them).
 */
import { hash32 } from "../core/hash.js";

export { hash32 };

/** Weight of server `id` for channel `ch`. */
export function weight(id: string, ch: string): number {
  return hash32(`${id}\u0000${ch}`);
}

/** The owner of `ch` among `servers` (ids); ties broken by the smaller id. Undefined when none. */
export function channelOwner(ch: string, servers: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestW = -1;
  for (const id of servers) {
    const w = weight(id, ch);
    if (w > bestW || (w === bestW && best !== undefined && id < best)) {
      best = id;
      bestW = w;
    }
  }
  return best;
}

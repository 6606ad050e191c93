/**
 * Validation of PlayerState before it is written (shared by the Postgres repository and the
 * in-memory double, so both reject the same inputs). Pure.
 */
import { RiftError } from "../core/errors.js";
import type { PlayerState } from "./types.js";

const MAX_TEXT = 256;

/** Throws RiftError(INTERNAL) naming the bad field: these are programming errors upstream. */
export function assertPlayerState(s: PlayerState): void {
  const bad = (field: string) => {
    throw new RiftError("INTERNAL", `invalid player state for user ${String(s.userId)}: ${field}`);
  };
  if (!Number.isSafeInteger(s.userId) || s.userId <= 0) bad("userId");
  if (typeof s.name !== "string" || s.name.length === 0 || s.name.length > MAX_TEXT) bad("name");
  if (typeof s.zone !== "string" || s.zone.length === 0 || s.zone.length > MAX_TEXT) bad("zone");
  if (!Number.isFinite(s.x) || Math.abs(s.x) > 3.4e38) bad("x");
  if (!Number.isFinite(s.y) || Math.abs(s.y) > 3.4e38) bad("y");
  if (!Number.isInteger(s.hp) || s.hp < -2147483648 || s.hp > 2147483647) bad("hp");
}

export function assertEpoch(epoch: number): void {
  if (!Number.isSafeInteger(epoch) || epoch < 0) throw new RiftError("INTERNAL", `invalid owner epoch ${String(epoch)}`);
}

/**
 * The write batch of `saveMany`, validated and reduced to the last item per user (a batch may
 * name a user twice; the later state wins). Throws before anything is written.
 */
export function latestValidItems(items: { state: PlayerState; epoch: number }[]): Map<number, { state: PlayerState; epoch: number }> {
  const latest = new Map<number, { state: PlayerState; epoch: number }>();
  for (const it of items) {
    assertPlayerState(it.state);
    assertEpoch(it.epoch);
    latest.set(it.state.userId, it);
  }
  return latest;
}

/**
 * Server-side movement validation (pure).
 *
 * A `move {seq, x, y}` is a request to walk toward (x, y):
 * - `seq` must be strictly greater than the last applied one, otherwise the move is a
 *   replay and is dropped (nothing changes).
 * - the target is clamped into the world;
 * - the step is at most `maxSpeed` units (no teleport: a far target moves you `maxSpeed`
 *   toward it) and at most the remaining distance budget (token bucket, see FieldRules), so
 *   flooding moves cannot exceed `movesPerSec × maxSpeed` units per second (+ the burst);
 * - the resulting position is rounded to f32, exactly what the wire records carry.
 * An accepted move always records its `seq`, even when the budget allowed no distance.
 */
import { clampCoord, type FieldRules } from "./rules.js";

export interface MoveInput {
  readonly seq: number;
  readonly x: number;
  readonly y: number;
}

/** The mutable movement state of one entity. */
export interface Motion {
  x: number;
  y: number;
  /** Last applied input sequence; -1 before the first move of the session. */
  seq: number;
  /** Remaining distance budget (units); may dip a hair below 0 through f32 rounding. */
  tokens: number;
  /** Time (ms, caller's clock) the budget was last refilled. */
  refillAt: number;
}

export type MoveOutcome =
  | { readonly kind: "applied"; readonly distance: number; readonly clamped: boolean }
  | { readonly kind: "replay" }
  | { readonly kind: "invalid" };

export function budgetCapacity(rules: FieldRules): number {
  return rules.burstMoves * rules.maxSpeed;
}

export function budgetRatePerMs(rules: FieldRules): number {
  return (rules.movesPerSec * rules.maxSpeed) / 1000;
}

/** A fresh motion state at (x, y) with a full budget. */
export function newMotion(x: number, y: number, nowMs: number, rules: FieldRules): Motion {
  return { x: clampCoord(x, rules), y: clampCoord(y, rules), seq: -1, tokens: budgetCapacity(rules), refillAt: nowMs };
}

function refill(m: Motion, nowMs: number, rules: FieldRules): void {
  const elapsed = nowMs - m.refillAt;
  if (elapsed > 0) {
    m.tokens = Math.min(budgetCapacity(rules), m.tokens + elapsed * budgetRatePerMs(rules));
    m.refillAt = nowMs;
  }
}

/** Validate and apply one move to `m` (mutated in place). */
export function applyMove(m: Motion, input: MoveInput, nowMs: number, rules: FieldRules): MoveOutcome {
  if (!Number.isFinite(input.x) || !Number.isFinite(input.y) || !Number.isInteger(input.seq)) return { kind: "invalid" };
  if (input.seq <= m.seq) return { kind: "replay" };
  m.seq = input.seq;
  refill(m, nowMs, rules);
  const tx = clampCoord(input.x, rules);
  const ty = clampCoord(input.y, rules);
  const dx = tx - m.x;
  const dy = ty - m.y;
  const dist = Math.sqrt(dx * dx + dy * dy); // Math.hypot is several times slower in V8
  if (dist === 0) return { kind: "applied", distance: 0, clamped: false };
  const allowed = Math.min(rules.maxSpeed, Math.max(0, m.tokens));
  let nx: number;
  let ny: number;
  let clamped = false;
  if (dist <= allowed) {
    nx = tx;
    ny = ty;
  } else {
    const f = allowed / dist;
    nx = clampCoord(m.x + dx * f, rules);
    ny = clampCoord(m.y + dy * f, rules);
    clamped = true;
  }
  const mx = nx - m.x;
  const my = ny - m.y;
  const moved = Math.sqrt(mx * mx + my * my);
  m.x = nx;
  m.y = ny;
  m.tokens -= moved;
  return { kind: "applied", distance: moved, clamped };
}

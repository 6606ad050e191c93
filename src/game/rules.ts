/**
 * Static rules of a field zone (pure data; built from the `field` config section).
 *
 * Coordinates are world units in [0, worldSize] on both axes. The AOI grid splits the square
 * into `ceil(worldSize / cellSize)` columns and rows; a player watches its own cell and the
 * 8 neighbours. Movement: one `move` goes at most `maxSpeed` units toward its target, and a
 * per-user distance budget (token bucket: `movesPerSec × maxSpeed` units per second, holding
 * at most `burstMoves × maxSpeed`) bounds the distance covered per second whatever the
 * message rate.
 */
export interface FieldRules {
  readonly worldSize: number;
  readonly cellSize: number;
  readonly maxSpeed: number;
  /** Budget refill: movesPerSec × maxSpeed distance units per second. */
  readonly movesPerSec: number;
  /** Budget capacity: burstMoves × maxSpeed distance units. */
  readonly burstMoves: number;
}

/** Throws a plain Error on nonsensical rules (config validation catches these first). */
export function checkRules(r: FieldRules): FieldRules {
  const ok =
    r.worldSize > 0 &&
    r.cellSize > 0 &&
    r.cellSize <= r.worldSize &&
    r.maxSpeed > 0 &&
    r.movesPerSec > 0 &&
    r.burstMoves >= 1 &&
    Number.isFinite(r.worldSize + r.cellSize + r.maxSpeed + r.movesPerSec + r.burstMoves);
  if (!ok) throw new Error(`invalid field rules ${JSON.stringify(r)}`);
  return r;
}

/** Where a new player (or a traveller) appears in a zone: the centre of the world for every zone. */
export function spawnPoint(_zone: string, rules: FieldRules): { x: number; y: number } {
  const c = Math.fround(rules.worldSize / 2);
  return { x: c, y: c };
}

/** Clamp a coordinate into the world and round it to f32 (what the wire carries). */
export function clampCoord(v: number, rules: FieldRules): number {
  if (!Number.isFinite(v)) return 0;
  return Math.fround(Math.min(rules.worldSize, Math.max(0, v)));
}

/** Hit points of a new character. */
export const DEFAULT_HP = 100;

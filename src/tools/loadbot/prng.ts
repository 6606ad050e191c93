/**
 * Seeded pseudo-random numbers for bots (reproducible walks with `--seed`). Pure.
 * mulberry32: tiny, fast, good enough for simulation (not for anything secret).
 */

export type Rng = () => number;

export { mulberry32 } from "../../game/prng.js";

/** FNV-1a over the string form of the parts: derive per-bot seeds from the run seed. */
export function deriveSeed(...parts: (string | number)[]): number {
  let h = 0x811c9dc5;
  const s = parts.join("/");
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

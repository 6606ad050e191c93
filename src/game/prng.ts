/** Seeded pseudo-random numbers shared by game rules (drops) and load bots (walks). Pure. */

/**
 * mulberry32: a tiny 32-bit PRNG (Tommy Ettinger's public-domain generator). Returns a
 * function yielding floats in [0, 1); the same seed always gives the same sequence. The seed
 * is taken modulo 2^32 (non-finite seeds count as 0). Not cryptographic — for game drops and simulation only.
 */
export function mulberry32(seed: number): () => number {
  let a = Number.isFinite(seed) ? seed >>> 0 : 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

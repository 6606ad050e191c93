/** 32-bit FNV-1a of a string's UTF-16 code units, then the murmur3 finaliser (FNV alone mixes
 * the last bytes poorly; this spreads sequential ids well). Pure, stable across processes and
 * versions: chat channel ownership and feature-flag buckets depend on it. */
export function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

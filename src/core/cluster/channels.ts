/**
 * Channels of a zone: when a zone is full, the coordinator leader opens another instance of
 * it (its own world and AOI, possibly on another field server). A channel is placed like a
 * zone, under the key `<zone>` (channel 1) or `<zone>#<n>` (channel n ≥ 2). Zone names never
 * contain `#` (config and protocol restrict them to `[A-Za-z0-9_-]`), so keys are unambiguous.
 * Channels are session state only: a player's row keeps the base zone.
 */
export const CHANNEL_SEP = "#";

export function channelKey(zone: string, n: number): string {
  return n <= 1 ? zone : `${zone}${CHANNEL_SEP}${n}`;
}

/** `z1#3` → {zone: "z1", n: 3}; `z1` → {zone: "z1", n: 1}. */
export function parseChannel(key: string): { zone: string; n: number } {
  const i = key.lastIndexOf(CHANNEL_SEP);
  if (i < 0) return { zone: key, n: 1 };
  const n = Number(key.slice(i + 1));
  return Number.isInteger(n) && n >= 2 ? { zone: key.slice(0, i), n } : { zone: key, n: 1 };
}

export function baseZone(key: string): string {
  return parseChannel(key).zone;
}

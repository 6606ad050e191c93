/**
 * Chat channel ids (docs/CHAT.md §Channels). Pure.
 *
 *   world            everyone online (auto-joined at login)
 *   zone:<zone>      users whose game route is attached in <zone> (fed by the gateway's router)
 *   party:<id>       joined by the client (`chatJoin`)
 *   guild:<id>       joined by the client (`chatJoin`)
 *   w:<name>         a user's whisper inbox (lower-case name; auto-joined at login, never by clients)
 *
 * Channels are spread over the live chat servers by rendezvous hashing (ownership.ts).
 */
export const WORLD = "world";

export function zoneChannel(zone: string): string {
  return `zone:${zone}`;
}

export function inboxChannel(name: string): string {
  return `w:${name.toLowerCase()}`;
}

export function isInbox(ch: string): boolean {
  return ch.startsWith("w:");
}

export function isZoneChannel(ch: string): boolean {
  return ch.startsWith("zone:");
}

/** Channels whose history is kept and served on join (not whisper inboxes). */
export function keepsHistory(ch: string): boolean {
  return !isInbox(ch);
}

/** The channel id clients see in `chat.ch` (whispers show as `whisper`). */
export function publicChannel(ch: string): string {
  return isInbox(ch) ? "whisper" : ch;
}

/**
 * Contracts between the gateway's parts: the client connection (one per socket), the user
 * router (links to game servers) and the socket itself.
 */
import type { ErrorKey } from "../core/errors.js";
import type { SendSink } from "./send-queue.js";

/** The socket of one client (a `ws` WebSocket fits). */
export interface ClientSocket extends SendSink {
  /** Send a close frame with `code` (catalog close code) and a short reason (≤ 123 bytes). */
  close(code: number, reason: string): void;
  /** Drop the TCP connection at once. */
  terminate(): void;
}

/** What the router calls on the connection that currently holds a user. */
export interface RoutedClient {
  /** The game server accepted the user; `enter` is its pre-encoded `enter` envelope. */
  entered(enter: Uint8Array): void;
  /** The user is being moved to another server (transfer or server loss). */
  relocating(zone: string, server: string): void;
  /** One assembled frame of server output (concatenated envelopes). */
  deliver(frame: Uint8Array): void;
  /** End the connection with this catalog key's close code. */
  kick(key: ErrorKey, details?: string): void;
}

/** The router as seen by a connection. */
export interface UserRouterApi {
  /**
   * Route `user` to the server owning its zone and attach it there. If the user already has
   * a route (same user logged in again on this gateway), the route is rebound to `client`
   * and the user is detached and re-attached so the new connection gets a fresh `enter`.
   */
  attach(user: number, name: string, zone: string, client: RoutedClient): void;
  /** Forward a validated client input; false when dropped (not attached, link full). */
  forward(user: number, type: string, body: unknown): boolean;
  /** The connection is gone: detach the user (no-op unless `client` holds the route). */
  detach(user: number, reason: string, client: RoutedClient): void;
}

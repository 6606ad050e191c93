/**
 * Flood worker (throughput measurements): `conns` WebSocket connections to `url` sending
 * `move` envelopes, one frame per write like real clients — paced at `ratePerSec` in total
 * (round-robin over the connections, every 5 ms), or as fast as the sockets take them when
 * `ratePerSec` is 0. Each connection keeps at most HIGH_WATER bytes buffered. Mode `raw`: plain ws, no handshake (for a bare receiving
 * server). Mode `gateway`: each connection is an SDK client that logs in with
 * `accounts[i]` and waits for `enter` before flooding.
 */
import type { Credentials } from "../../src/tools/loadbot/options.js";

export const HIGH_WATER = 64 * 1024;

export interface FloodConfig {
  mode: "raw" | "gateway";
  url: string;
  conns: number;
  /** Total messages per second; 0 = unpaced. */
  ratePerSec: number;
  accounts?: Credentials[];
}

export type ToFlood = { k: "go" } | { k: "pause" } | { k: "count"; id: number } | { k: "stop"; id: number };
export type FromFlood = { k: "ready" } | { k: "failed"; error: string } | { k: "count"; id: number; sent: number; closed: number };

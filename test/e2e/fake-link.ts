/**
 * A fake gateway speaking the gateway → field-server link protocol (link-protocol.ts) with a
 * raw `ws` client, for end-to-end tests that need load or hostile input on a real field
 * server's link port:
 * - as a LOAD GENERATOR: attach many synthetic users (ids far above real account ids) and
 *   make them move every period — hundreds of entities cost one link frame per period, so a
 *   2-core machine can put real clients in a crowded, busy area;
 * - as a raw link for the fuzz test (send any bytes, observe the close code).
 * It reads (and only counts) everything the server sends, so the server never sees it as a
 * slow gateway.
 */
import WebSocket from "ws";
import { pack, unpack } from "../../src/core/protocol/codec.js";
import { waitFor } from "../helpers/processes.js";

/** Synthetic user ids start here: far above any real account id (bigserial from 1). */
export const SYNTHETIC_USER_BASE = 1_000_000_000;

export class FakeGatewayLink {
  readonly ws: WebSocket;
  readonly attached = new Set<number>();
  readonly rejected = new Map<number, string>();
  readonly opCounts = new Map<string, number>();
  readonly closed: Promise<{ code: number; reason: string }>;
  private timer: NodeJS.Timeout | undefined;

  private constructor(ws: WebSocket) {
    this.ws = ws;
    ws.binaryType = "nodebuffer";
    this.closed = new Promise((resolve) => ws.on("close", (code, reason) => resolve({ code, reason: reason.toString() })));
    ws.on("error", () => undefined); // the close event follows
    ws.on("message", (data: Buffer) => {
      let ops: unknown;
      try {
        ops = unpack(data);
      } catch {
        return;
      }
      if (!Array.isArray(ops)) return;
      for (const op of ops as [string, { user?: number; code?: string }][]) {
        this.opCounts.set(op[0], (this.opCounts.get(op[0]) ?? 0) + 1);
        const user = op[1]?.user;
        if (op[0] === "attached" && user !== undefined) this.attached.add(user);
        if (op[0] === "rejected" && user !== undefined) this.rejected.set(user, String(op[1].code));
      }
    });
  }

  /** Connect; resolves once open (nothing sent yet). */
  static open(port: number): Promise<FakeGatewayLink> {
    const ws = new WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: false, maxPayload: 256 * 1024 * 1024 });
    return new Promise((resolve, reject) => {
      ws.once("open", () => resolve(new FakeGatewayLink(ws)));
      ws.once("error", reject);
    });
  }

  /** Send one batch frame of ops. */
  send(...ops: unknown[]): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(pack(ops));
  }

  hello(gateway: string): void {
    this.send(["hello", { gateway }]);
  }

  /** Attach users in chunks (the server accepts a bounded number in flight) and wait for all. */
  async attachAll(users: readonly number[], zone: string, opts: { chunk?: number; timeoutMs: number }): Promise<void> {
    const chunk = opts.chunk ?? 200;
    for (let i = 0; i < users.length; i += chunk) {
      const part = users.slice(i, i + chunk);
      this.send(...part.map((user) => ["attach", { user, name: `load${user - SYNTHETIC_USER_BASE}`, zone }]));
      await waitFor(
        () => {
          const bad = part.find((u) => this.rejected.has(u));
          if (bad !== undefined) throw new Error(`attach of ${bad} rejected: ${this.rejected.get(bad)}`);
          return part.every((u) => this.attached.has(u));
        },
        { timeoutMs: opts.timeoutMs, what: `${part.length} synthetic users attached` },
      );
    }
  }

  /**
   * Every `periodMs`, one frame with a `move` of every user, alternating between two points
   * one unit apart around `at` (a real, small move each time: a record in every tick).
   */
  startMoving(users: readonly number[], at: { x: number; y: number }, periodMs = 50): void {
    let seq = 0;
    this.stopMoving();
    this.timer = setInterval(() => {
      seq++;
      const x = at.x + (seq % 2);
      this.send(...users.map((u) => ["in", u, "move", { seq, x, y: at.y }]));
    }, periodMs);
  }

  stopMoving(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Close the link (the server releases and saves its users); bounded wait for the close. */
  async close(): Promise<void> {
    this.stopMoving();
    if (this.ws.readyState === WebSocket.OPEN) this.ws.close(1000, "test done");
    else this.ws.terminate();
    await Promise.race([this.closed, new Promise((r) => setTimeout(r, 2000).unref())]);
    this.ws.terminate();
  }
}

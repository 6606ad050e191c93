/**
 * LinkDriver: drives a field server DIRECTLY over the gateway ↔ server link protocol
 * (docs/PROTOCOL.md §10), like a gateway whose clients are simulated — no client sockets, no
 * fan-out. Used to measure the field server's own capacity on a machine too small to also
 * run the gateways and bots that the same CCU needs.
 *
 * Users walk like load bots (RandomWalker, one `move` per `moveIntervalMs`, ≤ maxStep units);
 * their inputs are batched per link every FLUSH_MS (as the gateway does). Latency = input
 * `seq k` put on the link → a `tick` on the user's link carries the user's record with
 * seq ≥ k (cell buffers are decoded once per tick, records scanned by id).
 */
import WebSocket from "ws";
import { pack, unpack } from "../../src/core/protocol/codec.js";
import { ENTITY_RECORD_BYTES } from "../../src/core/protocol/messages.js";
import type { GatewayOp, ServerOp } from "../../src/core/transport/link-protocol.js";
import { SeqLatencyTracker } from "../../src/tools/loadbot/latency.js";
import { deriveSeed, mulberry32 } from "../../src/tools/loadbot/prng.js";
import { LatencyRecorder } from "../../src/tools/loadbot/stats.js";
import { RandomWalker } from "../../src/tools/loadbot/walk.js";

const FLUSH_MS = 5;

interface User {
  id: number;
  link: number;
  walker: RandomWalker | undefined;
  seq: number;
  tracker: SeqLatencyTracker;
  slot: number;
}

export interface LinkDriverOptions {
  ports: number[];
  gatewayId: string;
  zone: string;
  worldSize: number;
  moveIntervalMs: number;
  maxStep: number;
  seed: number;
  /** Attaches in flight at once (the field rejects beyond `field.maxAttachesInFlight`). */
  attachConcurrency: number;
}

export class LinkDriver {
  readonly latency = new LatencyRecorder();
  sent = 0;
  ticks = 0;
  readonly errors: Record<string, number> = {};
  private readonly links: WebSocket[] = [];
  private readonly batches: GatewayOp[][] = [];
  private readonly users = new Map<number, User>();
  private readonly slots: User[][];
  private readonly waiting = new Map<number, (ok: boolean) => void>();
  private slot = 0;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly opts: LinkDriverOptions) {
    this.slots = Array.from({ length: Math.max(1, Math.round(opts.moveIntervalMs / FLUSH_MS)) }, () => []);
  }

  get online(): number {
    let n = 0;
    for (const u of this.users.values()) if (u.walker) n++;
    return n;
  }

  async connect(): Promise<void> {
    for (const port of this.opts.ports) {
      const ws = new WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 });
      const i = this.links.length;
      this.links.push(ws);
      this.batches.push([]);
      ws.on("error", () => {});
      ws.on("close", (code) => {
        if (!this.closed) this.count(`LINK_CLOSED_${code}`);
      });
      ws.on("message", (data: Buffer) => this.onFrame(i, data));
      await new Promise<void>((res, rej) => {
        ws.once("open", () => res());
        ws.once("error", rej);
      });
      ws.send(pack([["hello", { gateway: `${this.opts.gatewayId}-${i}` }]]));
    }
    this.timer = setInterval(() => this.flush(), FLUSH_MS);
  }

  /** Attach users (ids must have player rows, or they spawn at the centre); resolves when all answered. */
  async attach(ids: number[]): Promise<void> {
    let next = 0;
    const one = async () => {
      while (next < ids.length && !this.closed) {
        const id = ids[next++]!;
        const link = id % this.links.length;
        const u: User = { id, link, walker: undefined, seq: 0, tracker: new SeqLatencyTracker(64), slot: 0 };
        this.users.set(id, u);
        const answered = new Promise<boolean>((r) => this.waiting.set(id, r));
        this.batches[link]!.push(["attach", { user: id, name: `lk${id}`, zone: this.opts.zone }]);
        if (!(await answered)) this.users.delete(id);
      }
    };
    await Promise.all(Array.from({ length: this.opts.attachConcurrency }, one));
  }

  private count(key: string): void {
    this.errors[key] = (this.errors[key] ?? 0) + 1;
  }

  private onFrame(link: number, data: Buffer): void {
    let ops: ServerOp[];
    try {
      ops = unpack(data) as ServerOp[];
    } catch {
      return this.count("BAD_FRAME");
    }
    const now = performance.now();
    for (const op of ops) {
      switch (op[0]) {
        case "attached": {
          const u = this.users.get(op[1].user);
          if (u && !u.walker) {
            const env = unpack(op[1].enter) as [number, string, { self: { x: number; y: number; seq: number } }];
            u.seq = env[2].self.seq;
            u.walker = new RandomWalker(env[2].self.x, env[2].self.y, mulberry32(deriveSeed(this.opts.seed, u.id)), { worldSize: this.opts.worldSize, maxStep: this.opts.maxStep });
            u.slot = Math.floor(mulberry32(u.id)() * this.slots.length);
            this.slots[u.slot]!.push(u);
          }
          this.waiting.get(op[1].user)?.(true);
          this.waiting.delete(op[1].user);
          break;
        }
        case "rejected":
          this.count(`REJECTED_${op[1].code}`);
          this.waiting.get(op[1].user)?.(false);
          this.waiting.delete(op[1].user);
          break;
        case "kick":
          this.count(`KICK_${op[1].key}`);
          this.drop(op[1].user);
          break;
        case "transfer":
          this.count("TRANSFER");
          this.drop(op[1].user);
          break;
        case "tick":
          this.ticks++;
          for (const [, buf] of op[1].cells) this.scanCell(link, buf, now);
          break;
        default:
          break;
      }
    }
  }

  private scanCell(link: number, buf: Uint8Array, now: number): void {
    let env: [number, string, { m?: Uint8Array }];
    try {
      env = unpack(buf) as typeof env;
    } catch {
      return this.count("BAD_CELL");
    }
    const m = env[2]?.m;
    if (!(m instanceof Uint8Array)) return;
    const dv = new DataView(m.buffer, m.byteOffset, m.byteLength);
    for (let off = 0; off + ENTITY_RECORD_BYTES <= m.byteLength; off += ENTITY_RECORD_BYTES) {
      const u = this.users.get(dv.getUint32(off, true));
      if (u && u.link === link) u.tracker.seen(dv.getUint32(off + 12, true), now, (ms) => this.latency.record(ms));
    }
  }

  private drop(id: number): void {
    const u = this.users.get(id);
    if (!u) return;
    this.users.delete(id);
    const s = this.slots[u.slot]!;
    const i = s.indexOf(u);
    if (i >= 0) s.splice(i, 1);
  }

  /** Every FLUSH_MS: this slot's users move; every link's batch is sent as one frame. */
  private flush(): void {
    const now = performance.now();
    const slot = this.slots[this.slot]!;
    this.slot = (this.slot + 1) % this.slots.length;
    for (const u of slot) {
      if (!u.walker) continue;
      const p = u.walker.next();
      u.seq++;
      u.tracker.sent(u.seq, now);
      this.batches[u.link]!.push(["in", u.id, "move", { seq: u.seq, x: p.x, y: p.y }]);
      this.sent++;
    }
    for (let i = 0; i < this.links.length; i++) {
      const b = this.batches[i]!;
      const ws = this.links[i]!;
      if (b.length === 0 || ws.readyState !== WebSocket.OPEN) continue;
      ws.send(pack(b));
      this.batches[i] = [];
    }
  }

  /** Detach everyone (so the field saves them) and close the links. */
  async close(): Promise<void> {
    if (this.closed) return;
    clearInterval(this.timer);
    for (const u of this.users.values()) this.batches[u.link]!.push(["detach", { user: u.id, reason: "bench done" }]);
    for (let i = 0; i < this.links.length; i++) if (this.batches[i]!.length && this.links[i]!.readyState === WebSocket.OPEN) this.links[i]!.send(pack(this.batches[i]!));
    this.closed = true;
    for (const r of this.waiting.values()) r(false);
    await Promise.all(
      this.links.map(
        (ws) =>
          new Promise<void>((res) => {
            if (ws.readyState === WebSocket.CLOSED) return res();
            ws.once("close", () => res());
            ws.close(1000);
            setTimeout(() => {
              ws.terminate();
              res();
            }, 2000).unref();
          }),
      ),
    );
  }
}

/**
 * One load bot: a RiftClient (SDK) that connects, says hello, registers or logs in, waits
 * for `enter`, then sends `move {seq, x, y}` every `moveIntervalMs` to a point at most
 * `maxStep` units away (RandomWalker) and measures input → observation latency.
 *
 * Cheap by construction (DESIGN §7): the client runs with `trackEntities: false`, so frames
 * holding only `cell` / `aoi` changes are never decoded — the SDK byte-scans them for the
 * bot's own 16-byte record (`onSelfSeq`), whose `seq` is the last input the server applied.
 *
 * Outcome reporting goes to a `BotSink` (owned by the pool). A failure is reported once, as
 * an error key: the catalog key of the close code (e.g. `SERVER_BUSY`), `CONNECT_FAILED`,
 * `TIMEOUT`, or a catalog key of an error reply (`USER_EXISTS`…). A bot never reconnects.
 */
import { RiftClient, closeError, type CloseInfo } from "../../client/rift-client.js";
import type { TransportFactory } from "../../client/transport.js";
import { RiftError } from "../../core/errors.js";
import type { ServerBody } from "../../core/protocol/messages.js";
import { SeqLatencyTracker } from "./latency.js";
import type { Rng } from "./prng.js";
import { RandomWalker } from "./walk.js";

export interface BotSink {
  /** One input → observation latency sample (ms). */
  latency(ms: number): void;
  /** One `move` sent. */
  sent(): void;
  /** One chat message posted / received (optional: the `--chat-rate` mix). */
  chatSent?(): void;
  chatIn?(): void;
  /** The bot received its first `enter` (it now counts toward CCU). */
  entered(): void;
  /** The bot failed (before or after `enter`); `wasEntered` tells which. */
  failed(key: string, wasEntered: boolean): void;
}

export interface BotOptions {
  url: string;
  name: string;
  password: string;
  /** Register the account first (otherwise it must exist). */
  register: boolean;
  moveIntervalMs: number;
  maxStep: number;
  /** World chat messages per second (0 = no chat). */
  chatRate?: number;
  requestTimeoutMs: number;
  rng: Rng;
  transport: TransportFactory;
  sink: BotSink;
  /** Monotonic clock in ms (default performance.now). */
  now?: () => number;
  /** Timers (tests inject fakes; default global setInterval). */
  setInterval?: (fn: () => void, ms: number) => unknown;
  clearInterval?: (t: unknown) => void;
  setTimeout?: (fn: () => void, ms: number) => unknown;
}

export type BotState = "idle" | "starting" | "entered" | "paused" | "failed" | "stopped";

/** Map anything thrown while starting to an error key. */
export function errorKey(e: unknown, close: CloseInfo | undefined): string {
  if (close) return close.error?.key ?? `WS_${close.code}`;
  if (e instanceof RiftError) return e.key;
  const msg = e instanceof Error ? e.message : String(e);
  if (/no reply within/.test(msg)) return "TIMEOUT";
  if (/connect|ECONNREFUSED|ECONNRESET|closed before open|socket hang up|Unexpected server response|timed out/i.test(msg)) return "CONNECT_FAILED";
  return "INTERNAL";
}

export class Bot {
  state: BotState = "idle";
  private client: RiftClient | undefined;
  private walker: RandomWalker | undefined;
  private readonly tracker = new SeqLatencyTracker(64);
  private timer: unknown;
  private chatTimer: unknown;
  private chatCount = 0;
  private everEntered = false;
  private lastSeq = -1;
  private opened = false;
  private readonly now: () => number;

  constructor(private readonly opts: BotOptions) {
    this.now = opts.now ?? (() => performance.now());
  }

  /** Connect, authenticate, wait for `enter`, start walking. Resolves when entered or failed (never rejects). */
  async start(): Promise<void> {
    if (this.state !== "idle") return;
    this.state = "starting";
    const o = this.opts;
    const client = new RiftClient({ trackEntities: false, clientName: "rift-loadbot", requestTimeoutMs: o.requestTimeoutMs, transport: o.transport });
    this.client = client;
    client.on("enter", (e) => this.onEnter(e));
    client.on("relocated", () => this.onRelocated());
    client.on("close", (info) => this.onClose(info));
    client.on("chat", () => o.sink.chatIn?.());
    client.onSelfSeq((seq, x, y) => {
      this.tracker.seen(seq, this.now(), o.sink.latency);
      // the server's answer to our latest input: walk on from where it really put us
      if (seq === this.lastSeq) this.walker?.resync(x, y);
    });
    try {
      await client.open(o.url);
      this.opened = true;
      if (this.state !== "starting") return void client.close();
      await client.hello();
      if (o.register) await client.register(o.name, o.password);
      await client.login(o.name, o.password);
      await client.waitForEnter();
    } catch (e) {
      if (this.state === "starting" || this.state === "paused") this.fail(this.opened ? errorKey(e, client.closed) : "CONNECT_FAILED");
    }
  }

  /** Stop walking and close the connection normally (not an error). */
  async stop(): Promise<void> {
    if (this.state === "stopped") return;
    const wasActive = this.state !== "failed";
    this.state = "stopped";
    this.stopTimer();
    if (wasActive && this.client && !this.client.closed) {
      const c = this.client;
      await Promise.race([c.close(1000, "loadbot done"), new Promise((r) => setTimeout(r, 2000))]);
    }
  }

  /** In the world (or being relocated between servers): counts toward CCU. */
  get online(): boolean {
    return this.state === "entered" || this.state === "paused";
  }

  get pendingInputs(): number {
    return this.tracker.pending;
  }

  private onEnter(e: ServerBody<"enter">): void {
    if (this.state === "stopped" || this.state === "failed") return;
    this.tracker.clear();
    if (!this.walker) {
      this.walker = new RandomWalker(e.self.x, e.self.y, this.opts.rng, { worldSize: e.world.size, maxStep: this.opts.maxStep });
    } else {
      this.walker.resync(e.self.x, e.self.y);
    }
    this.state = "entered";
    if (!this.everEntered) {
      this.everEntered = true;
      this.opts.sink.entered();
      this.startTimer();
      this.startChat();
    }
  }

  private onRelocated(): void {
    if (this.state === "entered") this.state = "paused";
    this.tracker.clear();
  }

  private onClose(info: CloseInfo): void {
    if (this.state === "stopped" || this.state === "failed") return;
    if (!this.opened) return this.fail("CONNECT_FAILED");
    this.fail(info.error?.key ?? closeError(info.code)?.key ?? `WS_${info.code}`);
  }

  private fail(key: string): void {
    if (this.state === "stopped" || this.state === "failed") return;
    this.state = "failed";
    this.stopTimer();
    this.opts.sink.failed(key, this.everEntered);
    if (this.client && !this.client.closed) void this.client.close(1000, "loadbot failed");
  }

  private startTimer(): void {
    const si = this.opts.setInterval ?? ((fn, ms) => setInterval(fn, ms));
    const st = this.opts.setTimeout ?? ((fn, ms) => setTimeout(fn, ms));
    // random phase so that a crowd's inputs spread over the period
    st(() => {
      if (this.state === "stopped" || this.state === "failed") return;
      this.step();
      this.timer = si(() => this.step(), this.opts.moveIntervalMs);
    }, this.opts.rng() * this.opts.moveIntervalMs);
  }

  private stopTimer(): void {
    const ci = this.opts.clearInterval ?? ((t) => clearInterval(t as NodeJS.Timeout));
    if (this.chatTimer !== undefined) ci(this.chatTimer);
    this.chatTimer = undefined;
    if (this.timer === undefined) return;
    ci(this.timer);
    this.timer = undefined;
  }

  /** The chat mix: a world message every 1/chatRate s (random phase). */
  private startChat(): void {
    const rate = this.opts.chatRate ?? 0;
    if (!(rate > 0)) return;
    const period = 1000 / rate;
    const si = this.opts.setInterval ?? ((fn, ms) => setInterval(fn, ms));
    const st = this.opts.setTimeout ?? ((fn, ms) => setTimeout(fn, ms));
    const say = () => {
      if (this.state !== "entered" || !this.client) return;
      this.client.chat("world", `${this.opts.name} #${++this.chatCount}`);
      this.opts.sink.chatSent?.();
    };
    st(() => {
      if (this.state === "stopped" || this.state === "failed") return;
      say();
      this.chatTimer = si(say, period);
    }, this.opts.rng() * period);
  }

  private step(): void {
    if (this.state !== "entered" || !this.client || !this.walker) return;
    const { x, y } = this.walker.next();
    const seq = this.client.move(x, y);
    this.lastSeq = seq;
    this.tracker.sent(seq, this.now());
    this.opts.sink.sent();
  }
}

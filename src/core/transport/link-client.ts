/**
 * Gateway side of the link (link-protocol.ts, docs/PROTOCOL.md §Link): one WebSocket to one
 * game-server IO worker, carrying the ops of every user this gateway routes there.
 *
 * Contract:
 * - `new LinkClient(opts)` starts connecting at once. Ops passed to `send` before the socket
 *   is open are kept (bounded) and go out right after the `hello` op, in order.
 * - Outbound ops are BATCHED: one frame (a msgpack array of ops) at most every `flushMs`,
 *   or at once when a batch reaches `maxBatchOps`; a frame never holds more than
 *   `maxBatchOps` ops (link servers cap ops per frame). `flush()` forces it.
 * - Bounded: when the bytes waiting in the socket plus the ops of the pending batch exceed
 *   `maxQueuedBytes` / `maxQueuedOps`, `send` returns false and drops the op; callers decide
 *   (the gateway drops client inputs but treats lost control ops as a broken link).
 * - Inbound frames are decoded and every op is checked for shape (`parseServerOps`); a
 *   malformed op is dropped and counted, never thrown into the caller.
 * - `onClose` is called exactly once, whether the link failed to connect, broke, or was
 *   closed by `close()`. Nothing reconnects here: the caller owns retry policy.
 */
import WebSocket from "ws";
import { pack, unpack } from "../protocol/codec.js";
import type { GatewayOp, ServerOp } from "./link-protocol.js";

export interface LinkClientOptions {
  /** `ws://host:port` of the server IO worker. */
  url: string;
  gatewayId: string;
  /** Batch window for outbound ops (ms). */
  flushMs: number;
  /** Flush at once when the batch holds this many ops (default 512). */
  maxBatchOps?: number;
  /** Max bytes buffered in the socket before `send` refuses ops (default 8 MiB). */
  maxQueuedBytes?: number;
  /** Max ops in the pending batch / pre-open queue (default 65 536). */
  maxQueuedOps?: number;
  /** Max inbound frame size (default 32 MiB). */
  maxFrameBytes?: number;
  /** Connect deadline (default 5000 ms). */
  connectTimeoutMs?: number;
  /** Server output, one call per inbound frame, ops in order. */
  onOps: (ops: ServerOp[]) => void;
  /** Called once when the link is gone for any reason. */
  onClose: (reason: string) => void;
  /** Called once when the socket opened (after `hello` was queued). */
  onOpen?: () => void;
  /** Frame accounting for metrics. */
  onFrame?: (dir: "in" | "out", bytes: number) => void;
  /** Count of inbound ops that failed the shape check. */
  onInvalid?: (count: number, sample: string) => void;
}

export class LinkClient {
  private readonly opts: LinkClientOptions;
  private readonly ws: WebSocket;
  private batch: GatewayOp[] = [];
  private timer: NodeJS.Timeout | undefined;
  private connectTimer: NodeJS.Timeout | undefined;
  private isOpen = false;
  private ended = false;

  constructor(opts: LinkClientOptions) {
    this.opts = opts;
    this.batch.push(["hello", { gateway: opts.gatewayId }]);
    this.ws = new WebSocket(opts.url, {
      maxPayload: opts.maxFrameBytes ?? 32 * 1024 * 1024,
      perMessageDeflate: false,
      handshakeTimeout: opts.connectTimeoutMs ?? 5000,
    });
    this.ws.binaryType = "nodebuffer";
    this.connectTimer = setTimeout(() => this.end("connect timeout"), opts.connectTimeoutMs ?? 5000);
    this.ws.on("open", () => {
      clearTimeout(this.connectTimer);
      this.isOpen = true;
      this.flush();
      this.opts.onOpen?.();
    });
    this.ws.on("message", (data: Buffer, isBinary: boolean) => this.receive(data, isBinary));
    this.ws.on("close", (code, reason) => this.end(`closed ${code}${reason.length ? " " + reason.toString() : ""}`));
    this.ws.on("error", (err) => this.end(`error ${err.message}`));
  }

  get open(): boolean {
    return this.isOpen && !this.ended;
  }

  get closed(): boolean {
    return this.ended;
  }

  /** Bytes buffered in the socket (not yet written to the kernel). */
  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }

  /** Queue one op for the next batch. False (op dropped) when the link is closed or full. */
  send(op: GatewayOp): boolean {
    if (this.ended) return false;
    if (this.batch.length >= (this.opts.maxQueuedOps ?? 65536)) return false;
    if (this.ws.bufferedAmount > (this.opts.maxQueuedBytes ?? 8 * 1024 * 1024)) return false;
    this.batch.push(op);
    if (!this.isOpen) return true;
    if (this.batch.length >= (this.opts.maxBatchOps ?? 512)) this.flush();
    else if (!this.timer) this.timer = setTimeout(() => this.flush(), this.opts.flushMs);
    return true;
  }

  /** Send the pending batch now (no-op before the socket is open). */
  flush(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (!this.isOpen || this.ended || this.batch.length === 0) return;
    const batch = this.batch;
    this.batch = [];
    // Ops queued before the socket opened may exceed one batch: split (servers cap ops per frame).
    const max = this.opts.maxBatchOps ?? 512;
    for (let i = 0; i < batch.length; i += max) {
      const frame = pack(i === 0 && batch.length <= max ? batch : batch.slice(i, i + max));
      this.ws.send(frame);
      this.opts.onFrame?.("out", frame.length);
    }
  }

  /**
   * Flush, wait (bounded) until the socket drained, then close. Resolves when closed.
   */
  async close(drainTimeoutMs = 2000): Promise<void> {
    if (this.ended) return;
    this.flush();
    const deadline = Date.now() + drainTimeoutMs;
    while (this.isOpen && !this.ended && this.ws.bufferedAmount > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    if (this.ended) return;
    const closed = new Promise<void>((resolve) => {
      this.ws.once("close", () => resolve());
      setTimeout(resolve, 1000).unref();
    });
    this.ws.close(1000, "gateway closing");
    await closed;
    this.ws.terminate();
    this.end("closed by gateway");
  }

  /** Drop the connection at once (tests, fatal errors). */
  terminate(reason = "terminated"): void {
    this.ws.terminate();
    this.end(reason);
  }

  private receive(data: Buffer, isBinary: boolean): void {
    if (this.ended) return;
    this.opts.onFrame?.("in", data.length);
    if (!isBinary) {
      this.opts.onInvalid?.(1, "text frame");
      return;
    }
    let value: unknown;
    try {
      value = unpack(data);
    } catch (e) {
      this.opts.onInvalid?.(1, `undecodable frame: ${(e as Error).message.slice(0, 80)}`);
      return;
    }
    const { ops, invalid, sample } = parseServerOps(value);
    if (invalid > 0) this.opts.onInvalid?.(invalid, sample);
    if (ops.length > 0) this.opts.onOps(ops);
  }

  private end(reason: string): void {
    if (this.ended) return;
    this.ended = true;
    this.isOpen = false;
    clearTimeout(this.connectTimer);
    if (this.timer) clearTimeout(this.timer);
    this.batch = [];
    if (this.ws.readyState !== WebSocket.CLOSED) this.ws.terminate();
    this.opts.onClose(reason);
  }
}

// ---- inbound shape checks (hand-written: `tick` is hot, zod would dominate the cost) ----

const isU32 = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= 0xffffffff;
const isUser = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
const isBytes = (v: unknown): v is Uint8Array => v instanceof Uint8Array;
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const isStr = (v: unknown, max = 256): v is string => typeof v === "string" && v.length > 0 && v.length <= max;

function checkTick(b: unknown): boolean {
  if (!isObj(b) || !isU32(b.tick) || !Array.isArray(b.cells) || !Array.isArray(b.subs) || !Array.isArray(b.direct)) return false;
  for (const c of b.cells) if (!Array.isArray(c) || c.length !== 2 || !isU32(c[0]) || !isBytes(c[1])) return false;
  for (const s of b.subs) {
    if (!Array.isArray(s) || s.length !== 2 || !isUser(s[0]) || !Array.isArray(s[1])) return false;
    for (const c of s[1] as unknown[]) if (!isU32(c)) return false;
  }
  for (const d of b.direct) {
    if (!Array.isArray(d) || d.length !== 2 || !isUser(d[0]) || !Array.isArray(d[1])) return false;
    for (const x of d[1] as unknown[]) if (!isBytes(x)) return false;
  }
  return true;
}

function checkOp(op: unknown): op is ServerOp {
  if (!Array.isArray(op) || op.length !== 2 || typeof op[0] !== "string") return false;
  const b: unknown = op[1];
  switch (op[0]) {
    case "attached":
      return isObj(b) && isUser(b.user) && isBytes(b.enter);
    case "rejected":
      return isObj(b) && isUser(b.user) && isStr(b.code, 64);
    case "tick":
      return checkTick(b);
    case "kick":
      return isObj(b) && isUser(b.user) && isStr(b.key, 64) && (b.reason === undefined || typeof b.reason === "string");
    case "transfer":
      return isObj(b) && isUser(b.user) && isStr(b.zone, 64);
    default:
      return false;
  }
}

/** Validate a decoded link frame (an array of server ops). Invalid ops are dropped and counted. */
export function parseServerOps(value: unknown): { ops: ServerOp[]; invalid: number; sample: string } {
  if (!Array.isArray(value)) return { ops: [], invalid: 1, sample: "frame is not an array of ops" };
  const ops: ServerOp[] = [];
  let invalid = 0;
  let sample = "";
  for (const op of value) {
    if (checkOp(op)) ops.push(op);
    else {
      invalid++;
      if (!sample) sample = `bad op ${Array.isArray(op) ? String(op[0]).slice(0, 20) : typeof op}`;
    }
  }
  return { ops, invalid, sample };
}

/** Encode a batch of server ops (used by link servers and test doubles). */
export function encodeServerOps(ops: ServerOp[]): Buffer {
  return pack(ops);
}

/** Decode a gateway→server frame without validation (link servers validate themselves). */
export function decodeLinkFrame(bytes: Uint8Array): unknown {
  return unpack(bytes);
}

/** FNV-1a 32-bit hash (stable across processes and platforms). */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** The IO-worker port a gateway uses on a server: `ports[fnv1a(gatewayId) % ports.length]`. */
export function pickLinkPort(ports: readonly number[], gatewayId: string): number | undefined {
  if (ports.length === 0) return undefined;
  return ports[fnv1a(gatewayId) % ports.length];
}

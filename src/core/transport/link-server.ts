/**
 * Server side of the gateway ↔ game-server link (see link-protocol.ts): a WebSocket server
 * accepting gateway links, decoding and validating their batch frames.
 *
 * Never trust the link: every frame is size-capped, must be binary msgpack holding an array
 * of at most `maxOpsPerFrame` well-formed GatewayOps, the first op on a link must be `hello`,
 * and every `in` client message is validated again against ClientSchemas.
 * - A malformed FRAME (undecodable, wrong shape, unknown op, too large, text, op before
 *   hello) closes only that link with the catalogued close code (PROTO_*). Frames more than
 *   twice the cap are refused by ws itself while reading (close 1009) so they are never
 *   buffered whole.
 * - A malformed CLIENT MESSAGE inside an otherwise valid frame only drops that op and is
 *   reported through `onFault` (the logic thread kicks that user with PROTO_SCHEMA /
 *   PROTO_UNKNOWN_TYPE) — the other users of the gateway are unaffected.
 * - Liveness: ws ping every `heartbeatMs`; a link that did not answer the previous ping is
 *   terminated.
 * - Backpressure: after each send, a link whose `bufferedAmount` exceeds `sendQueueMaxBytes`
 *   is closed with SEND_QUEUE_FULL (the gateway reconnects and re-attaches its users).
 */
import { createServer } from "node:http";
import { WebSocketServer, type WebSocket, type RawData } from "ws";
import type { AddressInfo } from "node:net";
import { z } from "zod";
import { ErrorCatalog, type ErrorDef, type ErrorKey } from "../errors.js";
import type { Logger } from "../log.js";
import { listenOrThrow } from "../metrics.js";
import { ProtocolError, unpack, type ProtoErrorKey } from "../protocol/codec.js";
import { ClientSchemas } from "../protocol/messages.js";
import type { GatewayOp } from "./link-protocol.js";
import { IO_UNIT_STRIDE, type LinkId, type LinkStat } from "./io-worker-protocol.js";

const u32 = z.number().int().min(0).max(0xffffffff);
const HelloBody = z.strictObject({ gateway: z.string().min(1).max(128) });
const userId = z.number().int().min(1).max(0xffffffff);
const AttachBody = z.strictObject({ user: userId, name: z.string().min(1).max(64), zone: z.string().min(1).max(32) });
const DetachBody = z.strictObject({ user: u32, reason: z.string().max(200) });

/** A link frame op failing validation for one user only. */
export interface UserFault {
  user: number;
  key: Extract<ErrorKey, "PROTO_SCHEMA" | "PROTO_UNKNOWN_TYPE">;
  detail: string;
}

export interface DecodedLinkFrame {
  ops: GatewayOp[];
  faults: UserFault[];
}

function isU32(v: unknown): v is number {
  return typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= 0xffffffff;
}

/**
 * Decode and validate one gateway → server frame. Throws ProtocolError for a malformed
 * frame (close the link); returns per-user faults separately (drop + kick that user).
 */
export function decodeLinkFrame(bytes: Uint8Array, maxBytes: number, maxOps: number): DecodedLinkFrame {
  if (bytes.byteLength > maxBytes) throw new ProtocolError("PROTO_TOO_LARGE", `${bytes.byteLength} > ${maxBytes} bytes`);
  if (bytes.byteLength === 0) throw new ProtocolError("PROTO_MALFORMED", "empty frame");
  let v: unknown;
  try {
    v = unpack(bytes);
  } catch (e) {
    throw new ProtocolError("PROTO_MALFORMED", e instanceof Error ? e.message.slice(0, 120) : "undecodable");
  }
  if (!Array.isArray(v)) throw new ProtocolError("PROTO_MALFORMED", "link frame must be an array of ops");
  if (v.length > maxOps) throw new ProtocolError("PROTO_MALFORMED", `${v.length} ops > ${maxOps}`);
  const ops: GatewayOp[] = [];
  const faults: UserFault[] = [];
  for (const op of v as unknown[]) {
    if (!Array.isArray(op) || typeof op[0] !== "string") throw new ProtocolError("PROTO_MALFORMED", "op must be [name, ...]");
    switch (op[0]) {
      case "in": {
        if (op.length !== 4 || !isU32(op[1]) || typeof op[2] !== "string") throw new ProtocolError("PROTO_MALFORMED", "in op must be [\"in\", user, type, body]");
        const [, user, type, body] = op as [string, number, string, unknown];
        if (!Object.prototype.hasOwnProperty.call(ClientSchemas, type)) {
          faults.push({ user, key: "PROTO_UNKNOWN_TYPE", detail: type.slice(0, 40) });
          break;
        }
        const r = ClientSchemas[type as keyof typeof ClientSchemas].safeParse(body);
        if (!r.success) {
          const issue = r.error.issues[0]!;
          faults.push({ user, key: "PROTO_SCHEMA", detail: `${type}.${issue.path.join(".")}: ${issue.message}` });
          break;
        }
        ops.push(["in", user, type, r.data]);
        break;
      }
      case "hello":
      case "attach":
      case "detach": {
        const schema = op[0] === "hello" ? HelloBody : op[0] === "attach" ? AttachBody : DetachBody;
        const r = op.length === 2 ? schema.safeParse(op[1]) : undefined;
        if (!r?.success) throw new ProtocolError("PROTO_SCHEMA", `${op[0]} op`);
        ops.push([op[0], r.data] as GatewayOp);
        break;
      }
      default:
        throw new ProtocolError("PROTO_UNKNOWN_TYPE", `link op ${String(op[0]).slice(0, 40)}`);
    }
  }
  return { ops, faults };
}

export interface LinkServerOptions {
  /** IO unit index: link ids are `n * IO_UNIT_STRIDE + unit`. */
  unit: number;
  host: string;
  port: number;
  maxFrameBytes: number;
  maxOpsPerFrame: number;
  sendQueueMaxBytes: number;
  heartbeatMs: number;
  log: Logger;
  onOpen(link: LinkId, gateway: string): void;
  onOps(link: LinkId, ops: GatewayOp[]): void;
  onClose(link: LinkId, gateway: string, code: number, reason: string): void;
  /** A client message of one user failed validation (the op was dropped). */
  onFault(link: LinkId, fault: UserFault): void;
}

interface LinkState {
  id: LinkId;
  ws: WebSocket;
  gateway: string | undefined;
  alive: boolean;
}

function closeCode(key: ErrorKey): number {
  return (ErrorCatalog[key] as ErrorDef).close ?? 1011;
}

function toBytes(data: RawData): Uint8Array {
  if (Array.isArray(data)) return Buffer.concat(data);
  return data instanceof ArrayBuffer ? new Uint8Array(data) : data;
}

export class LinkServer {
  private readonly http = createServer((_req, res) => {
    res.statusCode = 426;
    res.end("websocket only\n");
  });
  private readonly wss: WebSocketServer;
  private readonly links = new Map<LinkId, LinkState>();
  private nextSeq = 0;
  private heartbeat: NodeJS.Timeout | undefined;
  private badFrames: Record<string, number> = {};
  private badMessages: Record<string, number> = {};
  private framesOut = 0;
  private bytesOut = 0;

  constructor(private readonly opts: LinkServerOptions) {
    this.wss = new WebSocketServer({
      server: this.http,
      // ws refuses absurd frames while reading (close 1009); frames in (cap, 2*cap] get 4005 from us
      maxPayload: opts.maxFrameBytes * 2,
      perMessageDeflate: false,
      clientTracking: false,
      // text frames reach onMessage (closed PROTO_NOT_BINARY) instead of ws's own 1007 on bad UTF-8
      skipUTF8Validation: true,
    });
    this.wss.on("connection", (ws) => this.accept(ws));
    this.wss.on("error", (err) => opts.log.error({ err }, "link server error"));
  }

  /** Listen; returns the bound port. Throws RiftError(PORT_IN_USE). */
  async listen(): Promise<number> {
    await listenOrThrow(this.http, this.opts.host, this.opts.port, `field.linkPort+${this.opts.unit}`);
    this.heartbeat = setInterval(() => this.beat(), this.opts.heartbeatMs);
    this.heartbeat.unref();
    return (this.http.address() as AddressInfo).port;
  }

  get linkCount(): number {
    return this.links.size;
  }

  private accept(ws: WebSocket): void {
    const link: LinkState = { id: this.nextSeq++ * IO_UNIT_STRIDE + this.opts.unit, ws, gateway: undefined, alive: true };
    this.links.set(link.id, link);
    ws.on("pong", () => {
      link.alive = true;
    });
    ws.on("error", (err) => {
      // ws emits 'error' before closing on protocol violations (e.g. 1009); the close follows
      this.count(this.badFrames, "ws_error");
      this.opts.log.debug({ link: link.id, err: err.message }, "link socket error");
    });
    ws.on("message", (data, isBinary) => this.onMessage(link, data, isBinary));
    ws.on("close", (code, reason) => {
      this.links.delete(link.id);
      if (link.gateway !== undefined) this.opts.onClose(link.id, link.gateway, code, reason.toString());
    });
  }

  private count(table: Record<string, number>, key: string): void {
    table[key] = (table[key] ?? 0) + 1;
  }

  private fail(link: LinkState, key: ProtoErrorKey | "PROTO_UNEXPECTED", detail: string): void {
    this.count(this.badFrames, key);
    this.opts.log.warn({ link: link.id, gateway: link.gateway, code: ErrorCatalog[key].code, detail }, "closing link: bad frame");
    link.ws.close(closeCode(key), ErrorCatalog[key].code);
  }

  private onMessage(link: LinkState, data: RawData, isBinary: boolean): void {
    if (link.ws.readyState !== link.ws.OPEN) return;
    if (!isBinary) return this.fail(link, "PROTO_NOT_BINARY", "text frame");
    let frame: DecodedLinkFrame;
    try {
      frame = decodeLinkFrame(toBytes(data), this.opts.maxFrameBytes, this.opts.maxOpsPerFrame);
    } catch (e) {
      if (e instanceof ProtocolError) return this.fail(link, e.key as ProtoErrorKey, e.message);
      return this.fail(link, "PROTO_MALFORMED", String(e));
    }
    let ops = frame.ops;
    if (link.gateway === undefined) {
      const first = ops[0];
      if (!first || first[0] !== "hello") return this.fail(link, "PROTO_UNEXPECTED", "first op must be hello");
      link.gateway = first[1].gateway;
      this.opts.onOpen(link.id, link.gateway);
      ops = ops.slice(1);
    }
    if (ops.some((op) => op[0] === "hello")) return this.fail(link, "PROTO_UNEXPECTED", "hello twice");
    for (const f of frame.faults) {
      this.count(this.badMessages, f.key);
      this.opts.log.warn({ link: link.id, gateway: link.gateway, user: f.user, code: ErrorCatalog[f.key].code, detail: f.detail }, "dropping invalid client message");
      this.opts.onFault(link.id, f);
    }
    if (ops.length > 0) this.opts.onOps(link.id, ops);
  }

  /** Send a frame on a link (dropped silently if the link is gone). */
  send(id: LinkId, frame: Uint8Array): void {
    const link = this.links.get(id);
    if (!link || link.ws.readyState !== link.ws.OPEN) return;
    link.ws.send(frame, { binary: true });
    this.framesOut++;
    this.bytesOut += frame.byteLength;
    if (link.ws.bufferedAmount > this.opts.sendQueueMaxBytes) {
      this.opts.log.warn({ link: id, gateway: link.gateway, buffered: link.ws.bufferedAmount }, "closing link: gateway not reading");
      link.ws.close(closeCode("SEND_QUEUE_FULL"), ErrorCatalog.SEND_QUEUE_FULL.code);
    }
  }

  close(id: LinkId, code: number, reason: string): void {
    this.links.get(id)?.ws.close(code, reason.slice(0, 120));
  }

  /** Current send-queue sizes and counters since the previous call. */
  takeStats(): { links: LinkStat[]; badFrames: Record<string, number>; badMessages: Record<string, number>; framesOut: number; bytesOut: number } {
    const links: LinkStat[] = [];
    for (const l of this.links.values()) if (l.gateway !== undefined) links.push({ link: l.id, gateway: l.gateway, buffered: l.ws.bufferedAmount });
    const out = { links, badFrames: this.badFrames, badMessages: this.badMessages, framesOut: this.framesOut, bytesOut: this.bytesOut };
    this.badFrames = {};
    this.badMessages = {};
    this.framesOut = this.bytesOut = 0;
    return out;
  }

  private beat(): void {
    for (const l of this.links.values()) {
      if (!l.alive) {
        this.opts.log.warn({ link: l.id, gateway: l.gateway }, "terminating link: no pong");
        l.ws.terminate();
        continue;
      }
      l.alive = false;
      l.ws.ping();
    }
  }

  /** Close every link with (code, reason) and stop listening. Resolves when all are closed. */
  async closeAll(code: number, reason: string): Promise<void> {
    if (this.heartbeat) clearInterval(this.heartbeat);
    const closed = [...this.links.values()].map(
      (l) =>
        new Promise<void>((resolve) => {
          l.ws.once("close", () => resolve());
          l.ws.close(code, reason.slice(0, 120));
          setTimeout(() => {
            l.ws.terminate();
            resolve();
          }, 2000).unref();
        }),
    );
    await Promise.all(closed);
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    await new Promise<void>((resolve) => {
      this.http.close(() => resolve());
      this.http.closeAllConnections();
    });
  }
}

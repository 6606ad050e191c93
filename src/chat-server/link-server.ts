/**
 * The chat server's side of the gateway links: a WebSocket server accepting one link per
 * gateway. Frames are size-capped binary msgpack arrays of ops (protocol.ts); the first op
 * must be `hello`. A malformed frame closes that link (PROTO_* close code); malformed ops
 * inside a frame are dropped and counted. Liveness: ws ping every `heartbeatMs`, a link that
 * missed the previous pong is terminated. Backpressure: a link whose send buffer passes
 * `sendQueueMaxBytes` is closed with SEND_QUEUE_FULL (the gateway reconnects and re-joins).
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { WebSocketServer, type RawData, type WebSocket } from "ws";
import { ErrorCatalog, type ErrorDef, type ErrorKey } from "../core/errors.js";
import type { Logger } from "../core/log.js";
import { listenOrThrow } from "../core/metrics.js";
import type { LinkId } from "./outbox.js";
import { parseGatewayFrame, type ChatGatewayOp } from "./protocol.js";

export interface ChatLinkServerOptions {
  host: string;
  port: number;
  maxFrameBytes: number;
  maxTextChars: number;
  sendQueueMaxBytes: number;
  heartbeatMs: number;
  log: Logger;
  onOpen(link: LinkId, gateway: string): void;
  onOps(link: LinkId, ops: ChatGatewayOp[]): void;
  onClose(link: LinkId, gateway: string): void;
  onInvalid?(count: number): void;
}

interface LinkState {
  id: LinkId;
  ws: WebSocket;
  gateway: string | undefined;
  alive: boolean;
}

const toBytes = (d: RawData): Uint8Array => (Array.isArray(d) ? Buffer.concat(d) : d instanceof ArrayBuffer ? new Uint8Array(d) : d);

export class ChatLinkServer {
  private readonly http = createServer((_req, res) => {
    res.statusCode = 426;
    res.end("websocket only\n");
  });
  private readonly wss: WebSocketServer;
  private readonly links = new Map<LinkId, LinkState>();
  private nextId = 1;
  private heartbeat: NodeJS.Timeout | undefined;
  framesOut = 0;
  bytesOut = 0;

  constructor(private readonly opts: ChatLinkServerOptions) {
    this.wss = new WebSocketServer({ server: this.http, maxPayload: opts.maxFrameBytes, perMessageDeflate: false, clientTracking: false });
    this.wss.on("connection", (ws) => this.accept(ws));
    this.wss.on("error", (err) => opts.log.error({ err }, "chat link server error"));
  }

  async listen(): Promise<number> {
    await listenOrThrow(this.http, this.opts.host, this.opts.port, "chat.linkPort");
    this.heartbeat = setInterval(() => this.beat(), this.opts.heartbeatMs);
    this.heartbeat.unref();
    return (this.http.address() as AddressInfo).port;
  }

  get linkCount(): number {
    return this.links.size;
  }

  private accept(ws: WebSocket): void {
    const link: LinkState = { id: this.nextId++, ws, gateway: undefined, alive: true };
    this.links.set(link.id, link);
    ws.on("pong", () => (link.alive = true));
    ws.on("error", (err) => this.opts.log.debug({ link: link.id, err: err.message }, "chat link socket error"));
    ws.on("message", (data, isBinary) => this.onMessage(link, data, isBinary));
    ws.on("close", () => {
      this.links.delete(link.id);
      if (link.gateway !== undefined) this.opts.onClose(link.id, link.gateway);
    });
  }

  private fail(link: LinkState, key: ErrorKey, detail: string): void {
    this.opts.log.warn({ link: link.id, gateway: link.gateway, detail }, "closing chat link: bad frame");
    link.ws.close((ErrorCatalog[key] as ErrorDef).close ?? 1011, ErrorCatalog[key].code);
  }

  private onMessage(link: LinkState, data: RawData, isBinary: boolean): void {
    if (link.ws.readyState !== link.ws.OPEN) return;
    if (!isBinary) return this.fail(link, "PROTO_NOT_BINARY", "text frame");
    let ops: ChatGatewayOp[];
    try {
      const r = parseGatewayFrame(toBytes(data), this.opts.maxTextChars);
      ops = r.ops;
      if (r.invalid > 0) this.opts.onInvalid?.(r.invalid);
    } catch (e) {
      return this.fail(link, "PROTO_MALFORMED", e instanceof Error ? e.message.slice(0, 120) : "undecodable");
    }
    if (link.gateway === undefined) {
      const first = ops[0];
      if (!first || first[0] !== "hello") return this.fail(link, "PROTO_UNEXPECTED", "first op must be hello");
      link.gateway = first[1].gateway;
      this.opts.onOpen(link.id, link.gateway);
      ops = ops.slice(1);
    }
    if (ops.length > 0) this.opts.onOps(link.id, ops);
  }

  /** Send one frame on a link (dropped when the link is gone). */
  send(id: LinkId, frame: Uint8Array): void {
    const link = this.links.get(id);
    if (!link || link.ws.readyState !== link.ws.OPEN) return;
    link.ws.send(frame, { binary: true });
    this.framesOut++;
    this.bytesOut += frame.byteLength;
    if (link.ws.bufferedAmount > this.opts.sendQueueMaxBytes) {
      this.opts.log.warn({ link: id, gateway: link.gateway, buffered: link.ws.bufferedAmount }, "closing chat link: gateway not reading");
      link.ws.close(ErrorCatalog.SEND_QUEUE_FULL.close, ErrorCatalog.SEND_QUEUE_FULL.code);
    }
  }

  private beat(): void {
    for (const l of this.links.values()) {
      if (!l.alive) {
        l.ws.terminate();
        continue;
      }
      l.alive = false;
      l.ws.ping();
    }
  }

  async close(): Promise<void> {
    if (this.heartbeat) clearInterval(this.heartbeat);
    await Promise.all(
      [...this.links.values()].map(
        (l) =>
          new Promise<void>((resolve) => {
            l.ws.once("close", () => resolve());
            l.ws.close(ErrorCatalog.SHUTTING_DOWN.close, ErrorCatalog.SHUTTING_DOWN.code);
            setTimeout(() => {
              l.ws.terminate();
              resolve();
            }, 1000).unref();
          }),
      ),
    );
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    await new Promise<void>((resolve) => {
      this.http.close(() => resolve());
      this.http.closeAllConnections();
    });
  }
}

/**
 * Gateway side of a gateway ↔ chat-server link (src/chat-server/protocol.ts): one WebSocket
 * per chat server. Outbound ops are batched (one frame at most every `flushMs`, at once when
 * `maxBatchOps` are pending; ops sent before the socket opened go out right after `hello`).
 * Bounded: `send` returns false (op dropped) when the socket buffer or the batch is full.
 * Inbound frames are shape-checked; malformed ops are counted and dropped. `onClose` is
 * called exactly once (connect failure, break, or `close()`); nothing reconnects here.
 */
import WebSocket from "ws";
import { encodeOps, parseServerFrame, type ChatGatewayOp, type ChatServerOp } from "../chat-server/protocol.js";

export interface ChatLinkOptions {
  url: string;
  gatewayId: string;
  flushMs: number;
  maxBatchOps?: number;
  maxQueuedBytes?: number;
  maxQueuedOps?: number;
  connectTimeoutMs?: number;
  onOps(ops: ChatServerOp[]): void;
  onOpen(): void;
  onClose(reason: string): void;
  onInvalid?(count: number): void;
}

/** What the chat router needs of a link (tests pass doubles). */
export interface ChatLinkHandle {
  send(op: ChatGatewayOp): boolean;
  close(): Promise<void>;
}

export class ChatLinkClient implements ChatLinkHandle {
  private readonly ws: WebSocket;
  private batch: ChatGatewayOp[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly connectTimer: NodeJS.Timeout;
  private isOpen = false;
  private ended = false;

  constructor(private readonly opts: ChatLinkOptions) {
    this.batch.push(["hello", { gateway: opts.gatewayId }]);
    this.ws = new WebSocket(opts.url, { maxPayload: 64 * 1024 * 1024, perMessageDeflate: false, handshakeTimeout: opts.connectTimeoutMs ?? 3000 });
    this.ws.binaryType = "nodebuffer";
    this.connectTimer = setTimeout(() => this.end("connect timeout"), opts.connectTimeoutMs ?? 3000);
    this.ws.on("open", () => {
      clearTimeout(this.connectTimer);
      this.isOpen = true;
      this.flush();
      opts.onOpen();
    });
    this.ws.on("message", (data: Buffer, isBinary: boolean) => {
      if (this.ended) return;
      if (!isBinary) return opts.onInvalid?.(1);
      const { ops, invalid } = parseServerFrame(data);
      if (invalid > 0) opts.onInvalid?.(invalid);
      if (ops.length > 0) opts.onOps(ops);
    });
    this.ws.on("close", (code) => this.end(`closed ${code}`));
    this.ws.on("error", (err) => this.end(`error ${err.message}`));
  }

  get open(): boolean {
    return this.isOpen && !this.ended;
  }

  send(op: ChatGatewayOp): boolean {
    if (this.ended) return false;
    if (this.batch.length >= (this.opts.maxQueuedOps ?? 65536)) return false;
    if (this.ws.bufferedAmount > (this.opts.maxQueuedBytes ?? 8 * 1024 * 1024)) return false;
    this.batch.push(op);
    if (!this.isOpen) return true;
    if (this.batch.length >= (this.opts.maxBatchOps ?? 1024)) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), this.opts.flushMs);
    return true;
  }

  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.isOpen || this.ended || this.batch.length === 0) return;
    const batch = this.batch;
    this.batch = [];
    const max = this.opts.maxBatchOps ?? 1024;
    for (let i = 0; i < batch.length; i += max) this.ws.send(encodeOps(batch.slice(i, i + max)));
  }

  async close(): Promise<void> {
    if (this.ended) return;
    this.flush();
    const closed = new Promise<void>((resolve) => {
      this.ws.once("close", () => resolve());
      setTimeout(resolve, 1000).unref();
    });
    this.ws.close(1000, "gateway closing");
    await closed;
    this.end("closed by gateway");
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

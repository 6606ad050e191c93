/**
 * Transport abstraction of the SDK: the client core only needs "send bytes", "close", and
 * callbacks for incoming messages and the close. `fromWebSocket` adapts anything with the
 * WHATWG WebSocket API — a browser `WebSocket` or the `ws` package's WebSocket — so the core
 * never imports Node modules (node-transport.ts does, for the default Node factory).
 */

export interface TransportHandlers {
  onMessage(data: Uint8Array, binary: boolean): void;
  onClose(code: number, reason: string): void;
}

export interface ClientTransport {
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
  /** Bytes queued for sending (0 when unknown). */
  readonly bufferedAmount: number;
}

/** Opens a transport to `url`; resolves once it is open. */
export type TransportFactory = (url: string, handlers: TransportHandlers) => Promise<ClientTransport>;

/** The subset of the WHATWG WebSocket API the adapter uses. */
export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  readonly bufferedAmount: number;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: "open" | "message" | "close" | "error", listener: (ev: any) => void): void;
}

function toBytes(data: unknown): { bytes: Uint8Array; binary: boolean } {
  if (data instanceof Uint8Array) return { bytes: data, binary: true };
  if (data instanceof ArrayBuffer) return { bytes: new Uint8Array(data), binary: true };
  if (typeof data === "string") return { bytes: new TextEncoder().encode(data), binary: false };
  if (Array.isArray(data)) {
    const parts = data as Uint8Array[];
    const total = parts.reduce((n, p) => n + p.byteLength, 0);
    const out = new Uint8Array(total);
    let off = 0;
    for (const p of parts) {
      out.set(p, off);
      off += p.byteLength;
    }
    return { bytes: out, binary: true };
  }
  return { bytes: new Uint8Array(0), binary: false };
}

/**
 * Adapt a WebSocket (browser or `ws`) that is CONNECTING or OPEN. Resolves when open, rejects
 * if it closes first.
 */
export function fromWebSocket(ws: WebSocketLike, handlers: TransportHandlers): Promise<ClientTransport> {
  if (ws.binaryType !== "nodebuffer") ws.binaryType = "arraybuffer";
  const transport: ClientTransport = {
    send: (data) => ws.send(data),
    close: (code, reason) => ws.close(code, reason),
    get bufferedAmount() {
      return ws.bufferedAmount;
    },
  };
  return new Promise((resolve, reject) => {
    let opened = ws.readyState === 1;
    ws.addEventListener("message", (ev: { data: unknown }) => {
      const { bytes, binary } = toBytes(ev.data);
      handlers.onMessage(bytes, binary);
    });
    ws.addEventListener("close", (ev: { code: number; reason: string }) => {
      if (!opened) reject(new Error(`connection closed before open (${ev.code})`));
      handlers.onClose(ev.code, ev.reason ?? "");
    });
    ws.addEventListener("error", (ev: { message?: string }) => {
      if (!opened) reject(new Error(`connection failed: ${ev.message ?? "error"}`));
    });
    if (opened) resolve(transport);
    else
      ws.addEventListener("open", () => {
        opened = true;
        resolve(transport);
      });
  });
}

/**
 * Default transport in Node: the `ws` package (binary frames as Buffers, no copy).
 * Browser builds pass their own factory (`(url, h) => fromWebSocket(new WebSocket(url), h)`).
 */
import WebSocket from "ws";
import { fromWebSocket, type TransportFactory } from "./transport.js";

export interface NodeTransportOptions {
  /** Max frame size accepted from the server (default 16 MiB). */
  maxPayload?: number;
  handshakeTimeoutMs?: number;
}

export function nodeTransport(opts: NodeTransportOptions = {}): TransportFactory {
  return (url, handlers) => {
    const ws = new WebSocket(url, {
      maxPayload: opts.maxPayload ?? 16 * 1024 * 1024,
      perMessageDeflate: false,
      handshakeTimeout: opts.handshakeTimeoutMs ?? 10_000,
    });
    ws.binaryType = "nodebuffer";
    return fromWebSocket(ws as unknown as Parameters<typeof fromWebSocket>[0], handlers);
  };
}

/**
 * The client-facing WebSocket server: binds `gateway.port`, hands every socket to a
 * ClientConnection and keeps the set of open connections.
 *
 * Transport-level limits enforced by `ws` itself (the connection learns about them through
 * `onTransportError` for metrics):
 * - `maxPayload` = `gateway.maxPayloadBytes`: a bigger frame is refused while it is being
 *   read and the socket closed with 1009 (Message Too Big) — counted as PROTO_TOO_LARGE;
 * - a WebSocket protocol violation (bad opcode, unmasked frame, reserved bits…): 1002.
 * Text frames are passed through without UTF-8 validation (skipUTF8Validation) so that the
 * connection can close them with PROTO_NOT_BINARY instead of ws's 1007.
 */
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { WebSocketServer, type WebSocket } from "ws";
import type { ErrorKey } from "../core/errors.js";
import type { Logger } from "../core/log.js";
import { listenOrThrow } from "../core/metrics.js";
import type { ClientConnection } from "./connection.js";
import type { GatewayMetrics } from "./metrics.js";
import type { ClientSocket } from "./types.js";

export interface ClientServerOptions {
  host: string;
  port: number;
  maxPayloadBytes: number;
  metrics: GatewayMetrics;
  log: Logger;
  createConnection: (socket: ClientSocket, req: IncomingMessage) => ClientConnection;
}

/** ws error codes → catalog key for metrics. */
function transportErrorKey(err: Error & { code?: string }): { key: ErrorKey; code: number } {
  if (err.code === "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH") return { key: "PROTO_TOO_LARGE", code: 1009 };
  return { key: "PROTO_MALFORMED", code: 1002 };
}

export class ClientServer {
  private readonly wss: WebSocketServer;
  private readonly http: Server;
  private readonly conns = new Set<ClientConnection>();
  private boundPort = 0;

  constructor(private readonly opts: ClientServerOptions) {
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: opts.maxPayloadBytes,
      perMessageDeflate: false,
      clientTracking: false,
      skipUTF8Validation: true,
    });
    this.http = createServer((_req, res) => {
      res.statusCode = 426;
      res.end("WebSocket only\n");
    });
    this.http.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      socket.on("error", () => socket.destroy());
      this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, req));
    });
    this.wss.on("wsClientError", (err, socket) => {
      opts.log.debug({ err: err.message }, "gateway: bad upgrade request");
      socket.destroy();
    });
  }

  private accept(ws: WebSocket, req: IncomingMessage): void {
    ws.binaryType = "nodebuffer";
    let conn: ClientConnection;
    try {
      conn = this.opts.createConnection(ws, req);
    } catch (err) {
      this.opts.log.error({ err }, "gateway: cannot create connection");
      ws.terminate();
      return;
    }
    this.conns.add(conn);
    this.opts.metrics.connections.inc();
    ws.on("message", (data: Buffer, isBinary: boolean) => conn.onMessage(data, isBinary));
    ws.on("error", (err: Error & { code?: string }) => {
      const { key, code } = transportErrorKey(err);
      conn.onTransportError(key, code);
    });
    ws.on("close", (code: number) => {
      conn.onSocketClose(code);
      if (this.conns.delete(conn)) this.opts.metrics.connections.dec();
    });
  }

  /** Listen; resolves with the bound port (useful with port 0). PORT_IN_USE on conflicts. */
  async listen(): Promise<number> {
    await listenOrThrow(this.http, this.opts.host, this.opts.port, "gateway.port");
    this.boundPort = (this.http.address() as AddressInfo).port;
    return this.boundPort;
  }

  get port(): number {
    return this.boundPort;
  }

  connections(): ReadonlySet<ClientConnection> {
    return this.conns;
  }

  /** Stop accepting new connections (open ones stay; the HTTP server closes once they are gone). */
  stopAccepting(): void {
    if (this.http.listening) this.http.close();
  }

  /** Close every open connection with `key`; resolves when all sockets closed (bounded). */
  async closeAll(key: ErrorKey, timeoutMs = 2000): Promise<void> {
    for (const c of [...this.conns]) c.closeWith(key);
    const deadline = Date.now() + timeoutMs;
    while (this.conns.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    for (const c of [...this.conns]) c.terminate();
    this.http.closeAllConnections();
  }
}

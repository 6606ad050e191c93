/**
 * The baseline: a bare WebSocket server that receives binary frames and msgpack-decodes
 * each one (no validation, no logic) — "the raw ws receive + decode rate of this machine".
 * Runs as its own process (raw-server-main.ts) so its CPU time can be read from /proc like
 * the gateway's; `GET /count` on the same port returns `{received, decodeErrors}`.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { WebSocketServer } from "ws";
import { unpack } from "../../src/core/protocol/codec.js";

export class RawDecodeServer {
  received = 0;
  decodeErrors = 0;
  private constructor(
    private readonly http: Server,
    private readonly wss: WebSocketServer,
  ) {}

  static async start(port = 0): Promise<RawDecodeServer> {
    let self: RawDecodeServer | undefined;
    const http = createServer((req, res) => {
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ received: self?.received ?? 0, decodeErrors: self?.decodeErrors ?? 0 }));
    });
    const wss = new WebSocketServer({ server: http, maxPayload: 16 * 1024, perMessageDeflate: false });
    self = new RawDecodeServer(http, wss);
    const s = self;
    wss.on("connection", (ws) => {
      ws.on("error", () => {});
      ws.on("message", (data: Buffer) => {
        try {
          unpack(data);
          s.received++;
        } catch {
          s.decodeErrors++;
        }
      });
    });
    await new Promise<void>((r) => http.listen(port, "127.0.0.1", () => r()));
    return s;
  }

  get port(): number {
    return (this.http.address() as AddressInfo).port;
  }

  close(): Promise<void> {
    for (const c of this.wss.clients) c.terminate();
    this.wss.close();
    return new Promise((r) => this.http.close(() => r()));
  }
}

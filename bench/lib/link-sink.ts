/**
 * A fake game server for the gateway-throughput measurement: registers in ZooKeeper as a
 * `field` member owning `zones`, accepts gateway links, answers `attach` with `attached`
 * (a minimal `enter`), and only COUNTS the client messages (`in` ops) the gateway forwards
 * — no world, no ticks — so the gateway is the only thing being measured.
 */
import type { AddressInfo } from "node:net";
import { WebSocketServer } from "ws";
import { ZkMembership } from "../../src/core/cluster/membership.js";
import { Zk } from "../../src/core/cluster/zk.js";
import { encodeEnvelope } from "../../src/core/protocol/codec.js";
import { decodeLinkFrame, encodeServerOps } from "../../src/core/transport/link-client.js";
import type { GatewayOp, ServerOp } from "../../src/core/transport/link-protocol.js";

export interface LinkSinkOptions {
  id: string;
  zones: string[];
  zkConnect: string;
  root: string;
}

export class LinkSink {
  /** `in` ops received (client messages forwarded by gateways). */
  inOps = 0;
  frames = 0;
  attached = 0;
  private wss: WebSocketServer | undefined;
  private zk: Zk | undefined;
  private stopping: Promise<void> | undefined;

  constructor(private readonly opts: LinkSinkOptions) {}

  async start(): Promise<this> {
    const wss = new WebSocketServer({ host: "127.0.0.1", port: 0, maxPayload: 16 * 1024 * 1024, perMessageDeflate: false });
    this.wss = wss;
    await new Promise<void>((r) => wss.once("listening", () => r()));
    wss.on("connection", (ws) => {
      ws.on("error", () => {});
      ws.on("message", (data: Buffer) => {
        this.frames++;
        const ops = decodeLinkFrame(data) as GatewayOp[];
        const out: ServerOp[] = [];
        for (const op of ops) {
          if (op[0] === "in") this.inOps++;
          else if (op[0] === "attach") {
            const { user, zone } = op[1];
            this.attached++;
            const enter = encodeEnvelope("enter", { zone, server: this.opts.id, self: { id: user, x: 500, y: 500, seq: 0 }, world: { size: 1000, cell: 100 } });
            out.push(["attached", { user, enter }]);
          }
        }
        if (out.length > 0) ws.send(encodeServerOps(out));
      });
    });
    this.zk = await Zk.connect({ connect: this.opts.zkConnect, sessionTimeoutMs: 5000 });
    await new ZkMembership(this.zk, { root: this.opts.root }).register({
      role: "field",
      id: this.opts.id,
      host: "127.0.0.1",
      opsPort: 0,
      linkPorts: [(wss.address() as AddressInfo).port],
      zones: this.opts.zones,
      colour: "blue",
      version: "bench",
      load: 0,
      startedAt: Date.now(),
    });
    return this;
  }

  /** Leave the cluster and close every link (idempotent). */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await this.zk?.close();
      for (const c of this.wss?.clients ?? []) c.terminate();
      await new Promise<void>((r) => (this.wss ? this.wss.close(() => r()) : r()));
    })();
    return this.stopping;
  }
}

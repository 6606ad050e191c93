/**
 * One IO unit: a LinkServer plus the encoding of the logic thread's tick output.
 * Runs inside a worker_thread (io-worker.ts) or, with `field.ioWorkers: 0`, in the main
 * thread (InlineIoHost) — same code either way; it talks to the logic thread only through
 * `emit(IoEvent)` and `handle(IoCommand)`.
 *
 * Per tick command: every needed cell envelope (`cell {c, tick, m, g}`) is encoded ONCE,
 * then each link gets ONE frame: `[...ctrl ops, ["tick", {tick, cells, subs, direct}]]`
 * (the `tick` op is omitted when that link has no cells, subs or direct messages).
 * After each tick command the unit emits a `stats` event (send-queue sizes, counters).
 */
import { encodeEnvelope, pack } from "../protocol/codec.js";
import type { Logger } from "../log.js";
import type { ServerOp } from "./link-protocol.js";
import { LinkServer } from "./link-server.js";
import type { CtrlOut, IoCommand, IoEvent, IoUnitConfig } from "./io-worker-protocol.js";

export function encodeCtrl(op: CtrlOut): ServerOp {
  if (op[0] === "attached") return ["attached", { user: op[1].user, enter: encodeEnvelope("enter", op[1].enter) }];
  return op;
}

export class IoUnit {
  private readonly server: LinkServer;
  private port = 0;

  constructor(
    private readonly cfg: IoUnitConfig,
    private readonly emit: (e: IoEvent) => void,
    private readonly log: Logger,
  ) {
    this.server = new LinkServer({
      unit: cfg.index,
      host: cfg.host,
      port: cfg.port,
      maxFrameBytes: cfg.maxFrameBytes,
      maxOpsPerFrame: cfg.maxOpsPerFrame,
      sendQueueMaxBytes: cfg.sendQueueMaxBytes,
      heartbeatMs: cfg.heartbeatMs,
      log,
      onOpen: (link, gateway) => emit({ k: "link-open", link, gateway }),
      onOps: (link, ops) => emit({ k: "ops", link, ops }),
      onClose: (link, gateway, code, reason) => emit({ k: "link-closed", link, gateway, code, reason }),
      onFault: (link, f) => emit({ k: "fault", link, user: f.user, key: f.key, detail: f.detail }),
    });
  }

  async start(): Promise<number> {
    this.port = await this.server.listen();
    this.emit({ k: "listening", unit: this.cfg.index, port: this.port });
    return this.port;
  }

  handle(cmd: IoCommand): void {
    try {
      switch (cmd.k) {
        case "tick":
          this.tick(cmd);
          break;
        case "ctrl":
          this.server.send(cmd.link, pack(cmd.ctrl.map(encodeCtrl)));
          break;
        case "close-link":
          this.server.close(cmd.link, cmd.code, cmd.reason);
          break;
        case "close-all":
          void this.server.closeAll(cmd.code, cmd.reason);
          break;
      }
    } catch (err) {
      // one bad command must not take the IO unit (and every link on it) down
      this.log.error({ err, cmd: cmd.k }, "io unit: command failed");
    }
  }

  private tick(cmd: Extract<IoCommand, { k: "tick" }>): void {
    const encoded = new Map<number, Buffer>();
    for (const c of cmd.cells) encoded.set(c.c, encodeEnvelope("cell", { c: c.c, tick: cmd.tick, m: c.m, g: c.g }));
    for (const l of cmd.links) {
      const ops: ServerOp[] = l.ctrl.map(encodeCtrl);
      if (l.cells.length > 0 || l.subs.length > 0 || l.direct.length > 0) {
        const cells: [number, Uint8Array][] = [];
        for (const c of l.cells) {
          const buf = encoded.get(c);
          if (buf) cells.push([c, buf]);
        }
        const direct: [number, Uint8Array[]][] = l.direct.map(([user, msgs]) => [user, msgs.map(([t, b]) => encodeEnvelope(t, b))]);
        ops.push(["tick", { tick: cmd.tick, cells, subs: l.subs, direct }]);
      }
      if (ops.length > 0) this.server.send(l.link, pack(ops));
    }
    this.emit({ k: "stats", unit: this.cfg.index, ...this.server.takeStats() });
  }

  stop(code: number, reason: string): Promise<void> {
    return this.server.closeAll(code, reason);
  }
}

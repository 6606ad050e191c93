/**
 * A tiny fake field server for gateway integration tests: speaks the SERVER side of the link
 * protocol (link-protocol.ts), registers itself in ZooKeeper membership as a `field` member
 * owning some zones, and simulates a world good enough to exercise the gateway:
 *
 * - attach → `attached` with an `enter` (entity id = user id) — or `rejected` when asked to;
 * - `in move` → the entity jumps to (x, y) and its seq is recorded;
 * - every `tickMs`: one `tick` op per link: cells (id = 10·⌊y/100⌋ + ⌊x/100⌋, 10×10 grid) hold
 *   the records of all entities in them, `g` the ids that left the cell; each user watches the
 *   3×3 cells around its own (sent in `subs` when it changes) and gets `aoi` on subscribe;
 * - `in travel` → `transfer` to the requested zone (state "already flushed");
 * - hooks to kick, pump big ticks, drop links, and stop (deregister + close).
 */
import type { AddressInfo } from "node:net";
import { WebSocketServer, type WebSocket } from "ws";
import { ZkMembership } from "../../src/core/cluster/membership.js";
import { Zk } from "../../src/core/cluster/zk.js";
import { encodeEnvelope } from "../../src/core/protocol/codec.js";
import { decodeLinkFrame, encodeServerOps } from "../../src/core/transport/link-client.js";
import type { GatewayOp, ServerOp } from "../../src/core/transport/link-protocol.js";
import { encodeRecords, type EntityRecord } from "../../src/game/records.js";

export interface FakeFieldOptions {
  id: string;
  zones: string[];
  zkConnect: string;
  root: string;
  tickMs?: number;
  /** Number of IO-worker ports (default 1). */
  workers?: number;
  /** Reject attaches with this code. */
  rejectWith?: string;
}

interface Ent extends EntityRecord {
  zone: string;
  cell: number;
  link: WebSocket;
  watched: number[];
}

const cellOf = (x: number, y: number) => Math.min(9, Math.max(0, Math.floor(y / 100))) * 10 + Math.min(9, Math.max(0, Math.floor(x / 100)));
const around = (c: number) => {
  const cx = c % 10;
  const cy = Math.floor(c / 10);
  const out: number[] = [];
  for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) if (cx + dx >= 0 && cx + dx < 10 && cy + dy >= 0 && cy + dy < 10) out.push((cy + dy) * 10 + cx + dx);
  return out;
};

export class FakeField {
  readonly received: GatewayOp[] = [];
  readonly hellos: string[] = [];
  readonly links = new Set<WebSocket>();
  readonly ents = new Map<number, Ent>();
  ports: number[] = [];
  private servers: WebSocketServer[] = [];
  private zk: Zk | undefined;
  private membership: ZkMembership | undefined;
  private timer: NodeJS.Timeout | undefined;
  private tickNo = 0;
  private readonly left = new Map<number, number[]>();
  /** Extra bytes added to every cell envelope (to fill slow clients' queues). */
  padBytes = 0;
  rejectWith: string | undefined;

  constructor(readonly opts: FakeFieldOptions) {
    this.rejectWith = opts.rejectWith;
  }

  async start(): Promise<this> {
    for (let i = 0; i < (this.opts.workers ?? 1); i++) {
      const wss = new WebSocketServer({ host: "127.0.0.1", port: 0, maxPayload: 1 << 20 });
      await new Promise<void>((r) => wss.once("listening", () => r()));
      wss.on("connection", (ws) => this.accept(ws));
      this.servers.push(wss);
      this.ports.push((wss.address() as AddressInfo).port);
    }
    this.timer = setInterval(() => this.tick(), this.opts.tickMs ?? 50);
    this.zk = await Zk.connect({ connect: this.opts.zkConnect, sessionTimeoutMs: 4000 });
    this.membership = new ZkMembership(this.zk, { root: this.opts.root });
    await this.membership.register({
      role: "field",
      id: this.opts.id,
      host: "127.0.0.1",
      opsPort: 0,
      linkPorts: this.ports,
      zones: this.opts.zones,
      colour: "blue",
      version: "test",
      load: 0,
      startedAt: Date.now(),
    });
    return this;
  }

  private accept(ws: WebSocket): void {
    this.links.add(ws);
    ws.on("error", () => {});
    ws.on("close", () => {
      this.links.delete(ws);
      for (const [id, e] of this.ents) if (e.link === ws) this.ents.delete(id);
    });
    ws.on("message", (data: Buffer) => {
      const ops = decodeLinkFrame(data) as GatewayOp[];
      const out: ServerOp[] = [];
      for (const op of ops) {
        this.received.push(op);
        this.handle(ws, op, out);
      }
      if (out.length) ws.send(encodeServerOps(out));
    });
  }

  private handle(ws: WebSocket, op: GatewayOp, out: ServerOp[]): void {
    switch (op[0]) {
      case "hello":
        this.hellos.push(op[1].gateway);
        return;
      case "attach": {
        const { user, zone } = op[1];
        if (this.rejectWith) {
          out.push(["rejected", { user, code: this.rejectWith }]);
          return;
        }
        const x = 150 + (user % 5);
        const y = 150;
        const e: Ent = { id: user, x, y, seq: 0, zone, cell: cellOf(x, y), link: ws, watched: [] };
        this.ents.set(user, e);
        const enter = encodeEnvelope("enter", { zone, server: this.opts.id, self: { id: user, x, y, seq: 0 }, world: { size: 1000, cell: 100 } });
        out.push(["attached", { user, enter }]);
        return;
      }
      case "detach":
        this.ents.delete(op[1].user);
        return;
      case "in": {
        const [, user, type, body] = op;
        const e = this.ents.get(user);
        if (!e) return;
        if (type === "move") {
          const b = body as { seq: number; x: number; y: number };
          const c = cellOf(b.x, b.y);
          if (c !== e.cell) this.left.set(e.cell, [...(this.left.get(e.cell) ?? []), e.id]);
          Object.assign(e, { x: b.x, y: b.y, seq: b.seq, cell: c });
        } else if (type === "travel") {
          this.ents.delete(user);
          out.push(["transfer", { user, zone: (body as { zone: string }).zone }]);
        }
        return;
      }
    }
  }

  /** Send the ops of one tick to every link. */
  tick(): void {
    this.tickNo++;
    const byCell = new Map<number, EntityRecord[]>();
    for (const e of this.ents.values()) {
      let l = byCell.get(e.cell);
      if (!l) byCell.set(e.cell, (l = []));
      l.push({ id: e.id, x: e.x, y: e.y, seq: e.seq });
    }
    const cells: [number, Uint8Array][] = [];
    for (const c of new Set([...byCell.keys(), ...this.left.keys()])) {
      const body: Record<string, unknown> = { c, tick: this.tickNo, m: encodeRecords(byCell.get(c) ?? []), g: this.left.get(c) ?? [] };
      const env = encodeEnvelope("cell", body);
      cells.push([c, this.padBytes > 0 ? Buffer.concat([env, encodeEnvelope("cell", { c, tick: this.tickNo, m: new Uint8Array(this.padBytes - (this.padBytes % 16)), g: [] })]) : env]);
    }
    this.left.clear();
    for (const ws of this.links) {
      const subs: [number, number[]][] = [];
      const direct: [number, Uint8Array[]][] = [];
      for (const e of this.ents.values()) {
        if (e.link !== ws) continue;
        const want = around(e.cell);
        if (want.join() === e.watched.join()) continue;
        e.watched = want;
        subs.push([e.id, want]);
        const visible = [...this.ents.values()].filter((o) => want.includes(o.cell)).map((o) => ({ id: o.id, x: o.x, y: o.y, seq: o.seq }));
        direct.push([e.id, [encodeEnvelope("aoi", { add: encodeRecords(visible), remove: [] })]]);
      }
      if (ws.readyState === ws.OPEN) ws.send(encodeServerOps([["tick", { tick: this.tickNo, cells, subs, direct }]]));
    }
  }

  /** Send ops to every link (kick, transfer…). */
  sendAll(...ops: ServerOp[]): void {
    for (const ws of this.links) ws.send(encodeServerOps(ops));
  }

  /** Break every link (TCP drop) without leaving the cluster. */
  dropLinks(): void {
    for (const ws of this.links) ws.terminate();
  }

  opsOf(kind: GatewayOp[0]): GatewayOp[] {
    return this.received.filter((o) => o[0] === kind);
  }

  /** Leave the cluster and close everything (a server going away). */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.zk?.close();
    for (const ws of this.links) ws.terminate();
    await Promise.all(this.servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  }
}

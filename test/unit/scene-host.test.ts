import { afterEach, describe, expect, it, vi } from "vitest";
import { silentLogger } from "../../src/core/log.js";
import type { LoopClock } from "../../src/core/loop/tick-loop.js";
import { Registry } from "../../src/core/metrics.js";
import type { SceneHandlers } from "../../src/core/scene/handlers.js";
import { SceneHost, type SceneHostOptions } from "../../src/core/scene/scene-host.js";
import type { CtrlOut, IoCommand, IoEvent, LinkTickOut } from "../../src/core/transport/io-worker-protocol.js";
import type { IoHost } from "../../src/core/transport/io-workers.js";
import type { GatewayOp } from "../../src/core/transport/link-protocol.js";
import { fieldHandlers } from "../../src/field-server/handlers.js";
import { decodeRecords } from "../../src/game/records.js";
import { createMemoryDataLayer, type MemoryDataLayer } from "../../src/shard/memory.js";

/** IO double: records commands, lets the test inject events. */
class FakeIo implements IoHost {
  readonly units = 1;
  cmds: IoCommand[] = [];
  stopped: { code: number; reason: string } | undefined;
  private onEvent: (e: IoEvent) => void = () => {};
  async start(onEvent: (e: IoEvent) => void): Promise<number[]> {
    this.onEvent = onEvent;
    return [7777];
  }
  send(_unit: number, cmd: IoCommand): void {
    this.cmds.push(cmd);
  }
  async stop(code: number, reason: string): Promise<void> {
    this.stopped = { code, reason };
  }
  emit(e: IoEvent): void {
    this.onEvent(e);
  }
  ops(link: number, ...ops: GatewayOp[]): void {
    this.emit({ k: "ops", link, ops });
  }
  /** Everything sent to a link since the last take(), flattened over tick and ctrl commands. */
  take(link: number): { ctrl: CtrlOut[]; outs: LinkTickOut[]; cells: Map<number, { m: Uint8Array; g: number[] }> } {
    const ctrl: CtrlOut[] = [];
    const outs: LinkTickOut[] = [];
    const cells = new Map<number, { m: Uint8Array; g: number[] }>();
    for (const c of this.cmds) {
      if (c.k === "ctrl" && c.link === link) ctrl.push(...c.ctrl);
      if (c.k !== "tick") continue;
      for (const l of c.links) {
        if (l.link !== link) continue;
        ctrl.push(...l.ctrl);
        outs.push(l);
        for (const id of l.cells) {
          const cell = c.cells.find((x) => x.c === id)!;
          cells.set(id, { m: cell.m, g: cell.g });
        }
      }
    }
    return { ctrl, outs, cells };
  }
  clear(): void {
    this.cmds = [];
  }
}

/** A clock whose timers never fire: the test drives ticks by calling host.tick(). */
const frozen = (): LoopClock & { t: number } => ({
  t: 0,
  now() {
    return this.t;
  },
  setTimeout: () => 0,
  clearTimeout: () => {},
  setImmediate: () => 0,
  clearImmediate: () => {},
});

const hosts: SceneHost[] = [];
afterEach(async () => {
  for (const h of hosts.splice(0)) await h.shutdown().catch(() => {});
});

function setup(over: Partial<SceneHostOptions> = {}) {
  const data: MemoryDataLayer = createMemoryDataLayer();
  const io = new FakeIo();
  const registry = new Registry();
  const clock = frozen();
  const host = new SceneHost({
    nodeId: "field-test",
    zones: ["z1", "z2"],
    rules: { worldSize: 1000, cellSize: 100, maxSpeed: 5, movesPerSec: 10, burstMoves: 3 },
    tickHz: 20,
    packetQueueCap: 1000,
    flushIntervalMs: 60_000,
    flushBatchMax: 100,
    maxAttachesInFlight: 10,
    overflow: { maxDrops: 3, windowMs: 10_000 },
    initialHp: 100,
    repo: data.players,
    io,
    handlers: fieldHandlers,
    registry,
    metricPrefix: "rift_field_",
    log: silentLogger(),
    clock,
    ...over,
  });
  hosts.push(host);
  let tickNo = 0;
  const tick = () => {
    clock.t += 50;
    host.tick(++tickNo, clock.t);
  };
  const metric = async (name: string, labels: Record<string, string> = {}) => {
    const m = await registry.getSingleMetric(name)!.get();
    return m.values.find((v) => Object.entries(labels).every(([k, val]) => v.labels[k] === val))?.value ?? 0;
  };
  return { data, io, host, registry, tick, metric, clock };
}

/** Seed a player row at (x, y) in zone. */
async function seed(data: MemoryDataLayer, user: number, x: number, y: number, zone = "z1") {
  await data.players.ensure({ userId: user, name: `u${user}`, zone, x, y, hp: 100 });
}

async function attach(t: ReturnType<typeof setup>, link: number, user: number, zone = "z1") {
  t.io.ops(link, ["attach", { user, name: `u${user}`, zone }]);
  await vi.waitFor(() => expect(t.host.isAttaching(user)).toBe(false));
}

const idsOf = (m: Uint8Array) => decodeRecords(m).map((r) => r.id).sort((a, b) => a - b);

describe("SceneHost", () => {
  it("attaches users, sends each gateway only the cells its users watch, far users see nothing", async () => {
    const t = setup();
    await t.host.start();
    t.io.emit({ k: "link-open", link: 0, gateway: "gwA" });
    t.io.emit({ k: "link-open", link: 32, gateway: "gwB" });
    await seed(t.data, 1, 150, 150); // cell 11
    await seed(t.data, 2, 250, 150); // cell 12: adjacent
    await seed(t.data, 3, 850, 850); // far away, on the other gateway
    await attach(t, 0, 1);
    await attach(t, 0, 2);
    await attach(t, 32, 3);
    t.tick();
    const a = t.io.take(0);
    expect(a.ctrl.map((c) => c[0])).toEqual(["attached", "attached"]);
    const enter = a.ctrl[0]![1] as { enter: { zone: string; self: { id: number; x: number; y: number } } };
    expect(enter.enter).toMatchObject({ zone: "z1", self: { id: 1, x: 150, y: 150 } });
    const aoi1 = a.outs.flatMap((o) => o.direct).find(([u]) => u === 1)![1].find(([type]) => type === "aoi")![1] as { add: Uint8Array };
    expect(idsOf(aoi1.add)).toEqual([1, 2]); // sees its neighbour, not user 3
    expect(a.outs[0]!.subs.find(([u]) => u === 1)![1]).toContain(12);
    t.io.clear();

    t.io.ops(0, ["in", 1, "move", { seq: 1, x: 153, y: 154 }]);
    t.io.ops(32, ["in", 3, "move", { seq: 1, x: 851, y: 850 }]);
    t.tick();
    const a2 = t.io.take(0);
    expect([...a2.cells.keys()]).toEqual([11]); // only the cell gateway A's users watch
    expect(decodeRecords(a2.cells.get(11)!.m)).toEqual([{ id: 1, x: 153, y: 154, seq: 1 }]);
    const b2 = t.io.take(32);
    expect([...b2.cells.keys()]).toEqual([88]);
    expect(idsOf(b2.cells.get(88)!.m)).toEqual([3]);
    expect(await t.metric("rift_field_ccu", { zone: "z1" })).toBe(3);
    expect(await t.metric("rift_field_inbound_messages_total", { type: "move" })).toBe(2);
  });

  it("creates the row of a new user at the zone's spawn point", async () => {
    const t = setup();
    await t.host.start();
    t.io.emit({ k: "link-open", link: 0, gateway: "gw" });
    await attach(t, 0, 5, "z2");
    expect(t.data.players.rows.get(5)!.state).toMatchObject({ zone: "z2", x: 500, y: 500, hp: 100 });
    expect(t.data.players.rows.get(5)!.owner).toBe("field-test");
  });

  it("counts replays and drops them", async () => {
    const t = setup();
    await t.host.start();
    t.io.emit({ k: "link-open", link: 0, gateway: "gw" });
    await attach(t, 0, 1);
    t.io.ops(0, ["in", 1, "move", { seq: 5, x: 501, y: 500 }], ["in", 1, "move", { seq: 5, x: 503, y: 500 }], ["in", 1, "move", { seq: 4, x: 503, y: 500 }]);
    t.tick();
    expect(await t.metric("rift_field_packets_dropped_total", { reason: "replay" })).toBe(2);
  });

  it("queue full: drops and counts, and kicks a user who keeps overflowing with SERVER_BUSY", async () => {
    const t = setup({ packetQueueCap: 2 });
    await t.host.start();
    t.io.emit({ k: "link-open", link: 0, gateway: "gw" });
    await attach(t, 0, 1);
    t.tick();
    t.io.clear();
    const moves: GatewayOp[] = Array.from({ length: 5 }, (_, i) => ["in", 1, "move", { seq: i + 1, x: 500, y: 500 }]);
    t.io.ops(0, ...moves);
    expect(await t.metric("rift_field_packets_dropped_total", { reason: "queue_full" })).toBe(3);
    t.tick();
    const out = t.io.take(0);
    expect(out.ctrl).toContainEqual(["kick", expect.objectContaining({ user: 1, key: "SERVER_BUSY" })]);
    expect(t.host.ccu).toBe(0);
    await vi.waitFor(() => expect(t.data.players.rows.get(1)).toBeDefined());
  });

  it("an exception in one handler is contained: counted, and the loop carries on", async () => {
    const handlers: SceneHandlers = {
      ...fieldHandlers,
      ping() {
        throw new Error("handler bug");
      },
    };
    const t = setup({ handlers });
    await t.host.start();
    t.io.emit({ k: "link-open", link: 0, gateway: "gw" });
    await attach(t, 0, 1);
    t.io.ops(0, ["in", 1, "ping", { t: 1 }], ["in", 1, "move", { seq: 1, x: 502, y: 500 }]);
    expect(() => t.tick()).not.toThrow();
    expect(await t.metric("rift_field_handler_errors_total", { type: "ping" })).toBe(1);
    const cells = t.io.take(0).cells;
    expect(decodeRecords(cells.get(55)!.m)).toContainEqual({ id: 1, x: 502, y: 500, seq: 1 });
  });

  it("answers ping with a direct pong and unhandled types with a non-fatal error", async () => {
    const t = setup();
    await t.host.start();
    t.io.emit({ k: "link-open", link: 0, gateway: "gw" });
    await attach(t, 0, 1);
    t.tick();
    t.io.clear();
    t.io.ops(0, ["in", 1, "ping", { t: 123 }], ["in", 1, "hello", { proto: 1, client: "x" }]);
    t.tick();
    const direct = t.io.take(0).outs.flatMap((o) => o.direct).flatMap(([, msgs]) => msgs);
    expect(direct[0]).toEqual(["pong", { t: 123, s: expect.any(Number) }]);
    expect(direct[1]).toEqual(["error", expect.objectContaining({ code: "RIFT_PROTO_UNEXPECTED" })]);
  });

  it("detach saves the final state and removes the user from everyone's view", async () => {
    const t = setup();
    await t.host.start();
    t.io.emit({ k: "link-open", link: 0, gateway: "gw" });
    await seed(t.data, 1, 500, 500);
    await seed(t.data, 2, 510, 500);
    await attach(t, 0, 1);
    await attach(t, 0, 2);
    t.io.ops(0, ["in", 1, "move", { seq: 1, x: 504, y: 503 }]);
    t.tick();
    t.io.clear();
    t.io.ops(0, ["detach", { user: 1, reason: "client closed" }]);
    await vi.waitFor(() => expect(t.data.players.rows.get(1)!.state).toMatchObject({ x: 504, y: 503 }));
    t.tick();
    const cells = t.io.take(0).cells;
    expect(cells.get(55)!.g).toEqual([1]);
    expect(t.host.ccu).toBe(1);
  });

  it("a fenced write kicks the user with PERSIST_REJECTED and never overwrites the DB", async () => {
    const t = setup({ flushIntervalMs: 20 });
    await t.host.start();
    t.io.emit({ k: "link-open", link: 0, gateway: "gw" });
    await seed(t.data, 1, 500, 500);
    await attach(t, 0, 1);
    const other = await t.data.players.takeOwnership(1, "someone-else");
    await t.data.players.save({ userId: 1, name: "u1", zone: "z1", x: 1, y: 1, hp: 100 }, other!.epoch);
    t.io.ops(0, ["in", 1, "move", { seq: 1, x: 504, y: 500 }]);
    t.tick();
    await vi.waitFor(() => expect(t.host.ccu).toBe(0));
    t.tick();
    expect(t.io.take(0).ctrl).toContainEqual(["kick", expect.objectContaining({ user: 1, key: "PERSIST_REJECTED" })]);
    expect(t.data.players.rows.get(1)!.state).toMatchObject({ x: 1, y: 1 });
    expect(await t.metric("rift_field_flush_rejected_total")).toBe(1);
  });

  it("travel saves the new zone at its spawn point, then sends transfer", async () => {
    const t = setup();
    await t.host.start();
    t.io.emit({ k: "link-open", link: 0, gateway: "gw" });
    await seed(t.data, 1, 100, 100);
    await attach(t, 0, 1);
    t.io.ops(0, ["in", 1, "travel", { zone: "z2" }]);
    t.tick();
    expect(t.host.ccu).toBe(0);
    await vi.waitFor(() => expect(t.data.players.rows.get(1)!.state).toMatchObject({ zone: "z2", x: 500, y: 500 }));
    await vi.waitFor(() => {
      t.tick();
      expect(t.io.take(0).ctrl).toContainEqual(["transfer", { user: 1, zone: "z2" }]);
    });
  });

  it("travel to an unknown zone is a non-fatal error", async () => {
    const t = setup();
    await t.host.start();
    t.io.emit({ k: "link-open", link: 0, gateway: "gw" });
    await attach(t, 0, 1);
    t.io.ops(0, ["in", 1, "travel", { zone: "nowhere" }]);
    t.tick();
    const direct = t.io.take(0).outs.flatMap((o) => o.direct).flatMap(([, m]) => m);
    expect(direct).toContainEqual(["error", expect.objectContaining({ code: "RIFT_NO_SERVER_FOR_ZONE" })]);
    expect(t.host.ccu).toBe(1);
  });

  it("a user whose DB zone is hosted elsewhere is answered with transfer", async () => {
    const t = setup();
    await t.host.start();
    t.io.emit({ k: "link-open", link: 0, gateway: "gw" });
    await seed(t.data, 1, 100, 100, "z9");
    t.io.ops(0, ["attach", { user: 1, name: "u1", zone: "z1" }]);
    await vi.waitFor(() => {
      t.tick();
      expect(t.io.take(0).ctrl).toContainEqual(["transfer", { user: 1, zone: "z9" }]);
    });
    expect(t.host.ccu).toBe(0);
  });

  it("rejects attaches for zones not hosted here with NO_SERVER_FOR_ZONE", async () => {
    const t = setup();
    await t.host.start();
    t.io.emit({ k: "link-open", link: 0, gateway: "gw" });
    t.io.ops(0, ["attach", { user: 1, name: "u1", zone: "z7" }]);
    t.tick();
    expect(t.io.take(0).ctrl).toEqual([["rejected", { user: 1, code: "RIFT_NO_SERVER_FOR_ZONE" }]]);
  });

  it("a re-attach from another gateway replaces the session", async () => {
    const t = setup();
    await t.host.start();
    t.io.emit({ k: "link-open", link: 0, gateway: "gwA" });
    t.io.emit({ k: "link-open", link: 32, gateway: "gwB" });
    await attach(t, 0, 1);
    t.tick();
    t.io.clear();
    t.io.ops(32, ["attach", { user: 1, name: "u1", zone: "z1" }]);
    t.tick();
    expect(t.io.take(0).ctrl).toContainEqual(["kick", { user: 1, key: "SESSION_REPLACED" }]);
    const b = t.io.take(32);
    expect(b.ctrl.map((c) => c[0])).toEqual(["attached"]);
    expect(b.outs[0]!.direct.map(([u]) => u)).toEqual([1]); // full view again
    expect(t.host.ccu).toBe(1);
  });

  it("a closed link releases its users with a final save", async () => {
    const t = setup();
    await t.host.start();
    t.io.emit({ k: "link-open", link: 0, gateway: "gw" });
    await seed(t.data, 1, 500, 500);
    await attach(t, 0, 1);
    t.io.ops(0, ["in", 1, "move", { seq: 1, x: 505, y: 500 }]);
    t.tick();
    t.io.emit({ k: "link-closed", link: 0, gateway: "gw", code: 1006, reason: "" });
    expect(t.host.ccu).toBe(0);
    await vi.waitFor(() => expect(t.data.players.rows.get(1)!.state.x).toBe(505));
  });

  it("shutdown flushes everyone, transfers them to their zone, refuses attaches, closes links", async () => {
    const t = setup();
    await t.host.start();
    t.io.emit({ k: "link-open", link: 0, gateway: "gw" });
    await seed(t.data, 1, 500, 500);
    await attach(t, 0, 1);
    t.io.ops(0, ["in", 1, "move", { seq: 1, x: 503, y: 500 }]);
    t.host.stopAccepting();
    t.io.ops(0, ["attach", { user: 2, name: "u2", zone: "z1" }]);
    await t.host.shutdown();
    const out = t.io.take(0);
    expect(out.ctrl).toContainEqual(["rejected", { user: 2, code: "RIFT_NO_SERVER_FOR_ZONE" }]);
    expect(out.ctrl).toContainEqual(["transfer", { user: 1, zone: "z1" }]);
    expect(t.data.players.rows.get(1)!.state.x).toBe(503); // the last queued move was applied and saved
    expect(t.io.stopped).toEqual({ code: 4034, reason: "RIFT_SHUTTING_DOWN" });
  });

  it("a client message that failed validation in the IO unit kicks that user (and only that user)", async () => {
    const t = setup();
    await t.host.start();
    t.io.emit({ k: "link-open", link: 0, gateway: "gw" });
    await attach(t, 0, 1);
    await attach(t, 0, 2);
    t.io.emit({ k: "fault", link: 0, user: 1, key: "PROTO_SCHEMA", detail: "move.x: too big" });
    t.tick();
    expect(t.io.take(0).ctrl).toContainEqual(["kick", { user: 1, key: "PROTO_SCHEMA", reason: "move.x: too big" }]);
    expect(t.host.ccu).toBe(1);
    await vi.waitFor(() => expect(t.data.players.rows.get(1)!.owner).toBe("field-test"));
  });

  it("exports send-queue sizes per gateway from IO stats", async () => {
    const t = setup();
    await t.host.start();
    t.io.emit({ k: "link-open", link: 0, gateway: "gwA" });
    t.io.emit({ k: "stats", unit: 0, links: [{ link: 0, gateway: "gwA", buffered: 4096 }], badFrames: { RIFT_PROTO_MALFORMED: 2 }, badMessages: {}, framesOut: 3, bytesOut: 300 });
    expect(await t.metric("rift_field_link_send_queue_bytes", { gateway: "gwA" })).toBe(4096);
    expect(await t.metric("rift_field_link_bad_frames_total", { code: "RIFT_PROTO_MALFORMED" })).toBe(2);
    expect(await t.metric("rift_field_link_bytes_out_total")).toBe(300);
  });
});

describe("SceneHost: placement, hand-over and ZooKeeper session states", () => {
  function placed(initial: string[]) {
    const zones = new Set(initial);
    return { zones, placedHere: (z: string) => zones.has(z) };
  }

  it("serves only zones placed here: an attach for a zone placed elsewhere is rejected NO_SERVER_FOR_ZONE", async () => {
    const p = placed(["z1"]);
    const t = setup({ placedHere: p.placedHere });
    await t.host.start();
    t.io.emit({ k: "link-open", link: 0, gateway: "gw" });
    t.io.ops(0, ["attach", { user: 1, name: "u1", zone: "z2" }]);
    t.tick();
    expect(t.io.take(0).ctrl).toEqual([["rejected", { user: 1, code: "RIFT_NO_SERVER_FOR_ZONE" }]]);
    expect(t.host.serves("z1")).toBe(true);
    expect(t.host.serves("z2")).toBe(false);
  });

  it("handOverZone writes each user's exact state first, then sends transfer; other zones are untouched", async () => {
    const p = placed(["z1", "z2"]);
    const t = setup({ placedHere: p.placedHere });
    await t.host.start();
    t.io.emit({ k: "link-open", link: 0, gateway: "gw" });
    await seed(t.data, 1, 500, 500);
    await seed(t.data, 2, 300, 300, "z2");
    await attach(t, 0, 1);
    await attach(t, 0, 2, "z2");
    t.io.ops(0, ["in", 1, "move", { seq: 1, x: 503, y: 501 }]);
    t.tick();
    t.io.clear();
    p.zones.delete("z1");
    const n = await t.host.handOverZone("z1");
    expect(n).toBe(1);
    expect(t.data.players.rows.get(1)!.state).toMatchObject({ zone: "z1", x: 503, y: 501 });
    t.tick();
    expect(t.io.take(0).ctrl).toContainEqual(["transfer", { user: 1, zone: "z1" }]);
    expect(t.host.ccu).toBe(1);
    expect(t.host.zoneLoad()).toEqual({ z1: 0, z2: 1 });
    expect(await t.metric("rift_field_handovers_total", { reason: "zone-moved" })).toBe(1);
  });

  it("suspendWrites holds every write until resumeWrites", async () => {
    const t = setup({ flushIntervalMs: 10 });
    await t.host.start();
    t.io.emit({ k: "link-open", link: 0, gateway: "gw" });
    await seed(t.data, 1, 500, 500);
    await attach(t, 0, 1);
    t.host.suspendWrites();
    t.io.ops(0, ["in", 1, "move", { seq: 1, x: 504, y: 500 }]);
    t.tick();
    const rowsWritten = () => t.metric("rift_field_flush_rows_total");
    const before = await rowsWritten();
    // several flush intervals pass: nothing is written (checked after real timer turns)
    for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 15));
    expect(await rowsWritten()).toBe(before);
    expect(t.data.players.rows.get(1)!.state).toMatchObject({ x: 500, y: 500 });
    t.host.resumeWrites();
    await vi.waitFor(() => expect(t.data.players.rows.get(1)!.state).toMatchObject({ x: 504, y: 500 }));
  });

  it("fence: refuses attaches, writes nothing more, hands every user back with transfer; unfence accepts again", async () => {
    const t = setup({ flushIntervalMs: 10 });
    await t.host.start();
    t.io.emit({ k: "link-open", link: 0, gateway: "gw" });
    await seed(t.data, 1, 500, 500);
    await seed(t.data, 2, 600, 600);
    await attach(t, 0, 1);
    await attach(t, 0, 2);
    t.io.ops(0, ["in", 1, "move", { seq: 1, x: 504, y: 500 }]);
    t.tick();
    t.io.clear();
    expect(t.host.fence()).toBe(2);
    expect(t.host.isFenced).toBe(true);
    expect(t.host.ccu).toBe(0);
    t.io.ops(0, ["attach", { user: 3, name: "u3", zone: "z1" }]);
    t.tick();
    const ctrl = t.io.take(0).ctrl;
    expect(ctrl).toContainEqual(["transfer", { user: 1, zone: "z1" }]);
    expect(ctrl).toContainEqual(["transfer", { user: 2, zone: "z1" }]);
    expect(ctrl).toContainEqual(["rejected", { user: 3, code: "RIFT_NO_SERVER_FOR_ZONE" }]);
    for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 15));
    expect(t.data.players.rows.get(1)!.state).toMatchObject({ x: 500, y: 500 }); // the unflushed move was dropped
    t.host.unfence();
    await attach(t, 0, 1);
    expect(t.host.ccu).toBe(1);
  });
});

describe("SceneHost: bounded write-behind during a database outage", () => {
  it("a user whose state cannot be saved for maxFlushLagMs is disconnected with PERSIST_UNAVAILABLE; the DB row is untouched", async () => {
    const data = createMemoryDataLayer();
    let failing = false;
    const repo = new Proxy(data.players, {
      get(target, key) {
        if (key === "saveMany" && failing) return async () => Promise.reject(new Error("shard down"));
        const v = Reflect.get(target, key) as unknown;
        return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    const t = setup({ repo, flushIntervalMs: 10, maxFlushLagMs: 100 });
    await t.host.start();
    t.io.emit({ k: "link-open", link: 0, gateway: "gw" });
    await data.players.ensure({ userId: 1, name: "u1", zone: "z1", x: 500, y: 500, hp: 100 });
    await data.players.ensure({ userId: 2, name: "u2", zone: "z1", x: 600, y: 600, hp: 100 });
    t.io.ops(0, ["attach", { user: 1, name: "u1", zone: "z1" }]);
    t.io.ops(0, ["attach", { user: 2, name: "u2", zone: "z1" }]);
    await vi.waitFor(() => expect(t.host.ccu).toBe(2));
    failing = true;
    t.io.ops(0, ["in", 1, "move", { seq: 1, x: 504, y: 500 }]); // user 1 has unsaved state, user 2 none
    t.tick();
    t.io.clear();
    await vi.waitFor(
      () => {
        t.tick();
        expect(t.io.take(0).ctrl).toContainEqual(["kick", expect.objectContaining({ user: 1, key: "PERSIST_UNAVAILABLE" })]);
      },
      { timeout: 5000, interval: 20 },
    );
    expect(t.host.ccu).toBe(1); // user 2 had nothing unsaved: stays
    expect(data.players.rows.get(1)!.state).toMatchObject({ x: 500, y: 500 });
    expect(await t.metric("rift_field_kicks_total", { key: "PERSIST_UNAVAILABLE" })).toBe(1);
  });
});

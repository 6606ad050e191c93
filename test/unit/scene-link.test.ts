/**
 * The link server and IO units over real sockets on ephemeral ports (no infrastructure):
 * frame validation and close codes, per-user faults, tick encoding, and a real worker thread.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import WebSocket from "ws";
import { silentLogger } from "../../src/core/log.js";
import { pack, unpack, unpackStream } from "../../src/core/protocol/codec.js";
import type { IoEvent } from "../../src/core/transport/io-worker-protocol.js";
import { createIoHost, type IoHost, type IoUnitSettings } from "../../src/core/transport/io-workers.js";
import { decodeLinkFrame } from "../../src/core/transport/link-server.js";
import { encodeRecords } from "../../src/game/records.js";

const settings: IoUnitSettings = {
  host: "127.0.0.1",
  maxFrameBytes: 65536,
  sendQueueMaxBytes: 1 << 20,
  maxOpsPerFrame: 100,
  heartbeatMs: 60_000,
  logLevel: "silent",
  role: "field",
  nodeId: "t",
};

const started: IoHost[] = [];
const sockets: WebSocket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.terminate();
  for (const h of started.splice(0)) await h.stop(1001, "test over");
});

async function startHost(workers = 0) {
  const events: IoEvent[] = [];
  const host = createIoHost({ workers, basePort: 0, unit: settings, log: silentLogger() });
  started.push(host);
  const ports = await host.start((e) => events.push(e));
  return { host, events, port: ports[0]! };
}

interface Client {
  ws: WebSocket;
  frames: unknown[][];
  closed: Promise<{ code: number; reason: string }>;
}

async function connect(port: number): Promise<Client> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}`);
  sockets.push(ws);
  const frames: unknown[][] = [];
  ws.on("message", (d) => frames.push(unpack(d as Buffer) as unknown[]));
  const closed = new Promise<{ code: number; reason: string }>((r) => ws.on("close", (code, reason) => r({ code, reason: reason.toString() })));
  await new Promise<void>((r, j) => {
    ws.once("open", () => r());
    ws.once("error", j);
  });
  return { ws, frames, closed };
}

describe("decodeLinkFrame", () => {
  it("accepts well-formed ops and re-validates client messages per user", () => {
    const f = decodeLinkFrame(
      pack([
        ["hello", { gateway: "g1" }],
        ["attach", { user: 1, name: "bob", zone: "z1" }],
        ["in", 1, "move", { seq: 1, x: 2, y: 3 }],
        ["in", 2, "move", { seq: "x", x: 2, y: 3 }],
        ["in", 3, "nosuch", {}],
      ]),
      1 << 16,
      100,
    );
    expect(f.ops.map((o) => o[0])).toEqual(["hello", "attach", "in"]);
    expect(f.faults).toEqual([
      expect.objectContaining({ user: 2, key: "PROTO_SCHEMA" }),
      expect.objectContaining({ user: 3, key: "PROTO_UNKNOWN_TYPE" }),
    ]);
  });

  it.each([
    ["not an array", pack({ a: 1 }), "PROTO_MALFORMED"],
    ["garbage", Buffer.from([0xc1, 0xff, 0x00]), "PROTO_MALFORMED"],
    ["unknown op", pack([["explode", {}]]), "PROTO_UNKNOWN_TYPE"],
    ["bad attach", pack([["attach", { user: -1, name: "x", zone: "z" }]]), "PROTO_SCHEMA"],
    ["bad in shape", pack([["in", "1", "move"]]), "PROTO_MALFORMED"],
    ["too many ops", pack(Array.from({ length: 101 }, () => ["detach", { user: 1, reason: "" }])), "PROTO_MALFORMED"],
  ])("rejects a frame that is %s", (_name, bytes, key) => {
    expect(() => decodeLinkFrame(bytes, 1 << 16, 100)).toThrow(expect.objectContaining({ key }));
  });
});

describe("link server (inline IO unit)", () => {
  it("requires hello first, then reports ops; a bad client message is reported as that user's fault", async () => {
    const { events, port } = await startHost();
    const c = await connect(port);
    c.ws.send(pack([["hello", { gateway: "gw1" }], ["attach", { user: 7, name: "bob", zone: "z1" }]]));
    await vi.waitFor(() => expect(events.find((e) => e.k === "ops")).toBeDefined());
    expect(events.filter((e) => e.k !== "listening")[0]).toMatchObject({ k: "link-open", gateway: "gw1" });
    c.ws.send(pack([["in", 7, "move", { seq: 1, x: 1e9, y: 0 }], ["in", 8, "ping", { t: 1 }]]));
    await vi.waitFor(() => expect(events.find((e) => e.k === "fault")).toMatchObject({ user: 7, key: "PROTO_SCHEMA" }));
    await vi.waitFor(() => expect(events.filter((e) => e.k === "ops").length).toBe(2));
    expect(events.filter((e) => e.k === "ops")[1]).toMatchObject({ ops: [["in", 8, "ping", { t: 1 }]] });
    expect(c.ws.readyState).toBe(WebSocket.OPEN);
  });

  it.each([
    ["an op before hello", (ws: WebSocket) => ws.send(pack([["attach", { user: 1, name: "x", zone: "z" }]])), 4007],
    ["a text frame", (ws: WebSocket) => ws.send("hello"), 4006],
    ["garbage", (ws: WebSocket) => ws.send(Buffer.from([0xc1])), 4001],
    ["an oversized frame", (ws: WebSocket) => ws.send(Buffer.alloc(70_000)), 4005],
  ])("closes only the offending link on %s", async (_name, send, code) => {
    const { events, port } = await startHost();
    const good = await connect(port);
    good.ws.send(pack([["hello", { gateway: "good" }]]));
    const bad = await connect(port);
    send(bad.ws);
    expect((await bad.closed).code).toBe(code);
    await vi.waitFor(() => expect(events.some((e) => e.k === "link-open")).toBe(true));
    expect(good.ws.readyState).toBe(WebSocket.OPEN);
  });

  it("encodes a tick: control ops first, then one tick op with each needed cell encoded once", async () => {
    const { host, events, port } = await startHost();
    const a = await connect(port);
    a.ws.send(pack([["hello", { gateway: "A" }]]));
    const b = await connect(port);
    b.ws.send(pack([["hello", { gateway: "B" }]]));
    await vi.waitFor(() => expect(events.filter((e) => e.k === "link-open").length).toBe(2));
    const [la, lb] = events.filter((e): e is Extract<IoEvent, { k: "link-open" }> => e.k === "link-open").sort((x, y) => (x.gateway < y.gateway ? -1 : 1)).map((e) => e.link);
    const m = encodeRecords([{ id: 1, x: 1.5, y: 2.5, seq: 3 }]);
    const enter = { zone: "z1", server: "s", self: { id: 1, x: 1.5, y: 2.5, seq: 0 }, world: { size: 1000, cell: 100 } };
    host.send(0, {
      k: "tick",
      tick: 9,
      cells: [{ c: 11, m, g: [4] }, { c: 12, m: new Uint8Array(0), g: [5] }],
      links: [
        { link: la!, ctrl: [["attached", { user: 1, enter }]], cells: [11, 12], subs: [[1, [11, 12]]], direct: [[1, [["aoi", { add: m, remove: [] }]]]] },
        { link: lb!, ctrl: [], cells: [11], subs: [], direct: [] },
      ],
    });
    await vi.waitFor(() => expect(a.frames.length + b.frames.length).toBe(2));
    const [attached, tick] = a.frames[0] as [[string, { user: number; enter: Uint8Array }], [string, { tick: number; cells: [number, Uint8Array][]; subs: unknown; direct: [number, Uint8Array[]][] }]];
    expect(attached[0]).toBe("attached");
    expect(unpackStream(attached[1].enter)).toEqual([[1, "enter", enter]]);
    expect(tick[0]).toBe("tick");
    expect(tick[1].cells.map(([c]) => c)).toEqual([11, 12]);
    const cellEnv = unpackStream(tick[1].cells[0]![1])[0] as [number, string, { c: number; tick: number; m: Uint8Array; g: number[] }];
    expect(cellEnv[1]).toBe("cell");
    expect(cellEnv[2]).toMatchObject({ c: 11, tick: 9, g: [4] });
    expect(Buffer.from(cellEnv[2].m)).toEqual(Buffer.from(m));
    expect(unpackStream(tick[1].direct[0]![1][0]!)[0]).toMatchObject([1, "aoi", { remove: [] }]);
    const bTick = (b.frames[0] as [string, { cells: [number, Uint8Array][] }][])[0]!;
    expect(Buffer.from(bTick[1].cells[0]![1])).toEqual(Buffer.from(tick[1].cells[0]![1])); // same bytes for both links
    await vi.waitFor(() => expect(events.some((e) => e.k === "stats" && e.framesOut === 2)).toBe(true));
  });

  it("reports link-closed when a gateway goes away", async () => {
    const { events, port } = await startHost();
    const c = await connect(port);
    c.ws.send(pack([["hello", { gateway: "gone" }]]));
    await vi.waitFor(() => expect(events.some((e) => e.k === "link-open")).toBe(true));
    c.ws.close(1000, "bye");
    await vi.waitFor(() => expect(events.find((e) => e.k === "link-closed")).toMatchObject({ gateway: "gone", code: 1000 }));
  });
});

describe("link server in a worker thread", () => {
  it("runs the same protocol through a real IO worker", async () => {
    const { events, port } = await startHost(1);
    const c = await connect(port);
    c.ws.send(pack([["hello", { gateway: "w" }], ["detach", { user: 3, reason: "x" }]]));
    await vi.waitFor(() => expect(events.find((e) => e.k === "ops")).toMatchObject({ ops: [["detach", { user: 3, reason: "x" }]] }), { timeout: 10_000 });
    expect(events.filter((e) => e.k !== "listening")[0]).toMatchObject({ k: "link-open", gateway: "w" });
  });

  it("a crashed IO worker: its links are reported closed and it is restarted on the same port", async () => {
    const { host, events, port } = await startHost(1);
    const c = await connect(port);
    c.ws.send(pack([["hello", { gateway: "w" }]]));
    await vi.waitFor(() => expect(events.some((e) => e.k === "link-open")).toBe(true), { timeout: 10_000 });
    const worker = (host as unknown as { slots: { worker: { terminate(): Promise<number> } }[] }).slots[0]!.worker;
    await worker.terminate(); // what an uncaught exception in the worker amounts to
    await vi.waitFor(() => expect(events.find((e) => e.k === "link-closed")).toMatchObject({ gateway: "w", reason: "io worker exited" }));
    await vi.waitFor(() => expect(events.filter((e) => e.k === "listening").length).toBe(2), { timeout: 10_000 });
    const again = await connect(port);
    again.ws.send(pack([["hello", { gateway: "w2" }]]));
    await vi.waitFor(() => expect(events.some((e) => e.k === "link-open" && e.gateway === "w2")).toBe(true), { timeout: 10_000 });
  });
});

/** The gateway side of the link against a local ws server (no infrastructure). */
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, test } from "vitest";
import { WebSocketServer, type WebSocket } from "ws";
import { pack, unpack } from "../../src/core/protocol/codec.js";
import { encodeServerOps, LinkClient, parseServerOps } from "../../src/core/transport/link-client.js";
import type { GatewayOp, ServerOp } from "../../src/core/transport/link-protocol.js";
import { waitFor } from "../../src/tools/infra/wait.js";

const until = <T>(what: string, cond: () => T | undefined | false) => waitFor(cond, { timeoutMs: 5000, intervalMs: 5, what });

let wss: WebSocketServer | undefined;
const clients: LinkClient[] = [];
afterEach(async () => {
  for (const c of clients) c.terminate();
  clients.length = 0;
  await new Promise<void>((r) => (wss ? wss.close(() => r()) : r()));
  wss = undefined;
});

async function server(): Promise<{ url: string; frames: GatewayOp[][]; sockets: WebSocket[] }> {
  const frames: GatewayOp[][] = [];
  const sockets: WebSocket[] = [];
  wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  await new Promise<void>((r) => wss!.once("listening", () => r()));
  wss.on("connection", (ws) => {
    sockets.push(ws);
    ws.on("message", (d: Buffer) => frames.push(unpack(d) as GatewayOp[]));
  });
  return { url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`, frames, sockets };
}

function link(url: string, over: Partial<ConstructorParameters<typeof LinkClient>[0]> = {}) {
  const got: ServerOp[][] = [];
  const state = { closed: [] as string[], invalid: 0, opened: false };
  const c = new LinkClient({
    url,
    gatewayId: "gw-t",
    flushMs: 5,
    onOps: (ops) => got.push(ops),
    onClose: (r) => state.closed.push(r),
    onOpen: () => (state.opened = true),
    onInvalid: (n) => (state.invalid += n),
    ...over,
  });
  clients.push(c);
  return { c, got, state };
}

describe("LinkClient", () => {
  test("hello first, ops queued before open follow in order, frames capped at maxBatchOps", async () => {
    const s = await server();
    const { c } = link(s.url, { maxBatchOps: 3 });
    for (let u = 1; u <= 5; u++) expect(c.send(["attach", { user: u, name: `u${u}`, zone: "z1" }])).toBe(true);
    await until("6 ops received", () => s.frames.flat().length === 6);
    expect(s.frames.map((f) => f.length)).toEqual([3, 3]);
    const ops = s.frames.flat();
    expect(ops[0]).toEqual(["hello", { gateway: "gw-t" }]);
    expect(ops.slice(1).map((o) => (o[1] as { user: number }).user)).toEqual([1, 2, 3, 4, 5]);
  });

  test("ops sent within the flush window go out as one frame", async () => {
    const s = await server();
    const { c, state } = link(s.url);
    await until("open", () => state.opened);
    await until("hello", () => s.frames.length === 1);
    c.send(["in", 1, "move", { seq: 1, x: 1, y: 1 }]);
    c.send(["in", 2, "move", { seq: 1, x: 2, y: 2 }]);
    c.send(["detach", { user: 1, reason: "bye" }]);
    await until("batch", () => s.frames.length === 2);
    expect(s.frames[1]).toHaveLength(3);
  });

  test("inbound ops are delivered in order; malformed ones are dropped and counted", async () => {
    const s = await server();
    const { got, state } = link(s.url);
    await until("connected", () => s.sockets.length === 1);
    const ws = s.sockets[0]!;
    ws.send(encodeServerOps([["attached", { user: 1, enter: Buffer.from([1]) }], ["kick", { user: 2, key: "SERVER_GONE" }]]));
    ws.send(pack([["attached", { user: 1 }], ["bogus", {}], ["transfer", { user: 3, zone: "z2" }]]));
    ws.send(Uint8Array.from([0xc1]));
    ws.send("text");
    await until("ops", () => got.flat().length === 3 && state.invalid === 4);
    expect(got.flat().map((o) => o[0])).toEqual(["attached", "kick", "transfer"]);
  });

  test("onClose is called once when the server goes; later sends are refused", async () => {
    const s = await server();
    const { c, state } = link(s.url);
    await until("connected", () => s.sockets.length === 1);
    s.sockets[0]!.terminate();
    await until("closed", () => state.closed.length === 1);
    expect(c.send(["detach", { user: 1, reason: "x" }])).toBe(false);
    expect(c.closed).toBe(true);
    c.terminate();
    expect(state.closed).toHaveLength(1);
  });

  test("a refused connection ends with onClose", async () => {
    const { state } = link("ws://127.0.0.1:1");
    await until("closed", () => state.closed.length === 1);
    expect(state.opened).toBe(false);
  });

  test("close() flushes what is pending first", async () => {
    const s = await server();
    const { c, state } = link(s.url, { flushMs: 10_000 });
    await until("open", () => state.opened);
    c.send(["detach", { user: 9, reason: "shutdown" }]);
    await c.close();
    await until("detach arrived", () => s.frames.flat().some((o) => o[0] === "detach"));
    expect(state.closed).toHaveLength(1);
  });

  test("the pending queue is bounded", async () => {
    const { c } = link("ws://127.0.0.1:1", { maxQueuedOps: 3 });
    expect(c.send(["detach", { user: 1, reason: "a" }])).toBe(true);
    expect(c.send(["detach", { user: 2, reason: "b" }])).toBe(true);
    expect(c.send(["detach", { user: 3, reason: "c" }])).toBe(false); // hello + 2
  });
});

describe("parseServerOps", () => {
  test("checks every op's shape", () => {
    const good: ServerOp[] = [
      ["attached", { user: 1, enter: new Uint8Array(1) }],
      ["rejected", { user: 1, code: "NO_SERVER_FOR_ZONE" }],
      ["tick", { tick: 1, cells: [[1, new Uint8Array(2)]], subs: [[1, [1, 2]]], direct: [[1, [new Uint8Array(1)]]] }],
      ["kick", { user: 1, key: "SERVER_GONE", reason: "r" }],
      ["transfer", { user: 1, zone: "z2" }],
    ];
    expect(parseServerOps(good)).toEqual({ ops: good, invalid: 0, sample: "" });
    const bad = [
      ["tick", { tick: 1, cells: [[1, "not bytes"]], subs: [], direct: [] }],
      ["tick", { tick: 1, cells: [], subs: [[1, [-1]]], direct: [] }],
      ["attached", { user: -1, enter: new Uint8Array(1) }],
      ["kick", { user: 1, key: "" }],
      ["transfer", { user: 1 }],
      "nope",
    ];
    expect(parseServerOps(bad).invalid).toBe(bad.length);
    expect(parseServerOps({}).invalid).toBe(1);
  });
});

/** RiftClient against a scripted fake transport (no network). */
import { describe, expect, test } from "vitest";
import { closeError, RiftClient } from "../../src/client/rift-client.js";
import type { ClientTransport, TransportFactory, TransportHandlers } from "../../src/client/transport.js";
import { isRiftError } from "../../src/core/errors.js";
import { encodeEnvelope, pack, unpack } from "../../src/core/protocol/codec.js";
import { encodeRecords } from "../../src/game/records.js";

class FakeServer {
  h!: TransportHandlers;
  sent: [string, any][] = [];
  closedWith: number | undefined;
  factory: TransportFactory = async (_url, h) => {
    this.h = h;
    const t: ClientTransport = {
      send: (d) => {
        const e = unpack(d) as [number, string, unknown];
        this.sent.push([e[1], e[2]]);
      },
      close: (code) => {
        this.closedWith = code;
        queueMicrotask(() => this.h.onClose(code ?? 1005, ""));
      },
      bufferedAmount: 0,
    };
    return t;
  };
  push(...envs: Uint8Array[]): void {
    this.h.onMessage(Buffer.concat(envs), true);
  }
  last(): [string, any] | undefined {
    return this.sent.at(-1);
  }
}

const rec = (id: number, x: number, y: number, seq = 0) => ({ id, x, y, seq });
const enter = (id = 1, seq = 0) =>
  encodeEnvelope("enter", { zone: "z1", server: "f1", self: { id, x: 10, y: 10, seq }, world: { size: 1000, cell: 100 } });
const cell = (c: number, recs: ReturnType<typeof rec>[], g: number[] = []) => encodeEnvelope("cell", { c, tick: 1, m: encodeRecords(recs), g });

async function client(opts: ConstructorParameters<typeof RiftClient>[0] = {}) {
  const server = new FakeServer();
  const c = await RiftClient.connect("ws://fake", { ...opts, transport: server.factory });
  return { c, server };
}

describe("RiftClient", () => {
  test("hello / register / login resolve with the server's replies", async () => {
    const { c, server } = await client();
    const w = c.hello();
    expect(server.last()).toEqual(["hello", { proto: 1, client: "rift-sdk" }]);
    server.push(encodeEnvelope("welcome", { proto: 1, server: "gw", features: ["move"] }));
    expect((await w).features).toEqual(["move"]);

    const r = c.register("alice", "password1");
    server.push(encodeEnvelope("registered", { userId: 5 }));
    expect(await r).toEqual({ userId: 5 });

    const l = c.login({ token: "tok-tok-tok" });
    expect(server.last()).toEqual(["login", { token: "tok-tok-tok" }]);
    server.push(encodeEnvelope("session", { userId: 5, name: "alice", token: "t2" }));
    expect(await l).toEqual({ userId: 5, name: "alice", token: "t2" });
  });

  test("a non-fatal error reply rejects the pending request with the catalog error", async () => {
    const { c, server } = await client();
    const r = c.register("alice", "password1");
    server.push(encodeEnvelope("error", { code: "RIFT_USER_EXISTS", message: "user name already taken" }));
    const e = await r.catch((x: unknown) => x);
    expect(isRiftError(e, "USER_EXISTS")).toBe(true);
  });

  test("a close rejects pending requests and reports the catalog entry", async () => {
    const { c, server } = await client();
    const l = c.login("alice", "password1");
    const closed = c.once("close");
    server.h.onClose(4020, "RIFT_AUTH_FAILED");
    const e = await l.catch((x: unknown) => x);
    expect(isRiftError(e, "AUTH_FAILED")).toBe(true);
    const info = await closed;
    expect(info.code).toBe(4020);
    expect(info.error?.key).toBe("AUTH_FAILED");
    expect(c.closed?.code).toBe(4020);
    await expect(c.hello()).rejects.toThrow(/closed/);
  });

  test("1009 from ws maps to PROTO_TOO_LARGE; unknown codes to undefined", () => {
    expect(closeError(1009)?.key).toBe("PROTO_TOO_LARGE");
    expect(closeError(4031)?.key).toBe("SERVER_GONE");
    expect(closeError(1000)).toBeUndefined();
  });

  test("enter sets self and zone; move sequences continue after the server's seq", async () => {
    const { c, server } = await client();
    const e = c.waitForEnter(false);
    server.push(enter(7, 41));
    expect((await e).self.id).toBe(7);
    expect(c.self).toEqual({ id: 7, x: 10, y: 10, seq: 41 });
    expect(c.zone).toBe("z1");
    expect(c.move(11, 10)).toBe(42);
    expect(c.move(12, 10)).toBe(43);
    expect(server.last()).toEqual(["move", { seq: 43, x: 12, y: 10 }]);
  });

  test("entity events: enter, move across cells in one frame, leave; self kept apart", async () => {
    const { c, server } = await client();
    server.push(enter(1));
    const events: string[] = [];
    c.on("entity-enter", (e) => events.push(`enter ${e.id}`));
    c.on("entity-move", (e) => events.push(`move ${e.id} ${e.x}`));
    c.on("entity-leave", (e) => events.push(`leave ${e.id}`));
    server.push(cell(1, [rec(2, 50, 50), rec(3, 60, 60), rec(1, 11, 10, 1)]));
    expect(events).toEqual(["enter 2", "enter 3"]);
    expect(c.self?.x).toBe(11);
    events.length = 0;
    // 2 crosses from cell 1 into cell 2 (gone in 1, present in 2); 3 leaves the view
    server.push(cell(2, [rec(2, 101, 50)]), cell(1, [], [2, 3]));
    expect(events).toEqual(["leave 3", "move 2 101"]);
    expect([...c.entities.keys()]).toEqual([2]);
    // aoi: remove and add
    events.length = 0;
    server.push(encodeEnvelope("aoi", { add: encodeRecords([rec(4, 0, 0)]), remove: [2] }));
    expect(events).toEqual(["leave 2", "enter 4"]);
  });

  test("a new enter (relocation) clears the view", async () => {
    const { c, server } = await client();
    server.push(enter(1));
    server.push(cell(1, [rec(2, 1, 1)]));
    const left: number[] = [];
    c.on("entity-leave", (e) => left.push(e.id));
    server.push(encodeEnvelope("relocated", { zone: "z2", server: "f2" }));
    expect(c.zone).toBe("z2");
    server.push(encodeEnvelope("enter", { zone: "z2", server: "f2", self: { id: 1, x: 0, y: 0, seq: 0 }, world: { size: 1000, cell: 100 } }));
    expect(left).toEqual([2]);
    expect(c.visibleCount).toBe(0);
  });

  test("onSelfSeq fast path (trackEntities off) reports the own record without an entity map", async () => {
    const { c, server } = await client({ trackEntities: false, validate: false });
    server.push(enter(9));
    const seen: number[][] = [];
    c.onSelfSeq((seq, x, y) => seen.push([seq, x, y]));
    server.push(cell(1, [rec(2, 1, 1), rec(9, 12.5, 10, 3)]), cell(2, [rec(3, 1, 1)]));
    server.push(cell(1, [rec(2, 2, 1)]));
    expect(seen).toEqual([[3, 12.5, 10]]);
    expect(c.visibleCount).toBe(0);
    // frames with other messages still get those handled
    const pong = c.ping();
    const t = server.last()![1].t as number;
    server.push(cell(1, [rec(9, 13, 10, 4)]), encodeEnvelope("pong", { t, s: 1 }));
    expect(await pong).toBeGreaterThanOrEqual(0);
    expect(seen.at(-1)).toEqual([4, 13, 10]);
  });

  test("onSelfSeq also fires in full mode", async () => {
    const { c, server } = await client();
    server.push(enter(9));
    const seqs: number[] = [];
    c.onSelfSeq((seq) => seqs.push(seq));
    server.push(cell(1, [rec(9, 10, 10, 5)]));
    expect(seqs).toEqual([5]);
  });

  test("a server message failing validation closes the connection (PROTO_SCHEMA)", async () => {
    const { c, server } = await client();
    server.push(encodeEnvelope("welcome", { proto: "x" }));
    const info = await c.waitClosed();
    expect(info.error?.key).toBe("PROTO_SCHEMA");
    expect(server.closedWith).toBe(4004);
  });

  test("undecodable server bytes close with PROTO_MALFORMED", async () => {
    const { c, server } = await client();
    server.h.onMessage(Uint8Array.from([0xc1, 0x00]), true);
    expect((await c.waitClosed()).error?.key).toBe("PROTO_MALFORMED");
    // raw sends after close are ignored
    c.sendRaw(pack([1]));
  });
});

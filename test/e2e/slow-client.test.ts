/**
 * A client that stops reading is disconnected at its send-queue cap with SEND_QUEUE_FULL
 * (4011); it never slows the others.
 *
 * Real processes: one gateway, one field server (z1). A raw `ws` client logs in and then
 * pauses its socket (never reads again). Around it, in the same AOI cell, real SDK clients
 * walk and a crowd of synthetic users (attached through a fake gateway link — the cheap way
 * to make hundreds of entities move on 2 cores) moves every tick, so every tick frame is
 * big. Once the kernel buffers are full the gateway's per-client queue grows to its cap
 * (`gateway.sendQueue`) and the gateway closes that client with 4011 (observed in its
 * `rift_gateway_closes_total`). Throughout, the other clients' tick counters advance and they
 * stay connected; afterwards they keep receiving ticks.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import type { RiftClient } from "../../src/client/rift-client.js";
import { encodeEnvelope, unpackStream } from "../../src/core/protocol/codec.js";
import { DEFAULT_PASSWORD, metricValue, TestCluster } from "../helpers/cluster.js";
import { waitFor } from "../helpers/processes.js";
import { FakeGatewayLink, SYNTHETIC_USER_BASE } from "./fake-link.js";
import { TickCounter, walkAll } from "./support.js";

/** Synthetic movers: ~16 KB of entity records per tick frame for everyone watching the cell. */
const CROWD = 1000;

/** A raw client: hello + login, then waits for its `enter`; `pause()` stops reading for good. */
async function rawPlayer(url: string, name: string): Promise<{ ws: WebSocket; closed: Promise<number>; pause(): void; resume(): void }> {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  const closed = new Promise<number>((r) => ws.on("close", (code) => r(code)));
  ws.on("error", () => undefined);
  const types: string[] = [];
  ws.on("message", (data: Buffer) => {
    for (const env of unpackStream(data) as [number, string, unknown][]) types.push(env[1]);
  });
  await new Promise((r, j) => {
    ws.once("open", r);
    ws.once("error", j);
  });
  ws.send(encodeEnvelope("hello", { proto: 1, client: "slow-reader" }));
  ws.send(encodeEnvelope("login", { name, password: DEFAULT_PASSWORD }));
  await waitFor(() => types.includes("enter"), { timeoutMs: 20_000, what: "the raw client's enter" });
  const socket = (ws as unknown as { _socket: import("node:net").Socket })._socket;
  return { ws, closed, pause: () => socket.pause(), resume: () => socket.resume() };
}

describe("slow client", { timeout: 180_000 }, () => {
  let cluster: TestCluster;
  let link: FakeGatewayLink | undefined;

  beforeAll(async () => {
    cluster = await TestCluster.start({ gateways: 1, fields: [{ zones: ["z1"] }], env: { RIFT__FIELD__FLUSHINTERVALMS: "1000" } });
  });

  afterAll(async () => {
    await link?.close();
    await cluster?.stop();
  });

  it("is disconnected with SEND_QUEUE_FULL while the others keep receiving ticks", async () => {
    const gw = cluster.gateways[0]!;
    const names = ["slow", "w1", "w2", "w3", "w4"].map((n) => `${n}_${cluster.uid}`);
    await cluster.seedAccounts(names);

    // the crowd: synthetic users at the spawn point, moving every tick
    link = await FakeGatewayLink.open(cluster.fields[0]!.linkPorts[0]!);
    link.hello(`load-${cluster.uid}`);
    const crowd = Array.from({ length: CROWD }, (_, i) => SYNTHETIC_USER_BASE + i);
    await link.attachAll(crowd, "z1", { timeoutMs: 60_000 });
    link.startMoving(crowd, { x: 500, y: 500 });

    const slow = await rawPlayer(gw.url, names[0]!);
    const good: RiftClient[] = await Promise.all(names.slice(1).map((n) => cluster.player(n)));
    const ticks = good.map((c) => new TickCounter(c));
    // the well-behaved clients walk around the slow one all along
    let walking = true;
    const walks = (async () => {
      for (let lap = 0; walking; lap++) {
        const d = lap % 2 ? 20 : -20;
        await walkAll(good, good.map((_, i) => ({ x: 500 + d + i, y: 500 - d })), { timeoutMs: 30_000 });
      }
    })().then(
      () => undefined,
      (e: unknown) => e, // reported after the main assertions
    );

    const closesBefore = metricValue(await cluster.metrics(gw), "rift_gateway_closes_total", { key: "SEND_QUEUE_FULL" });
    expect(closesBefore).toBe(0);
    await waitFor(() => ticks.every((t) => t.frames > 5), { timeoutMs: 20_000, what: "the well-behaved clients to receive ticks" });
    slow.pause();
    const atPause = ticks.map((t) => t.frames);

    // the gateway drops the slow reader at its send-queue cap, with the catalogued code
    await waitFor(
      async () => {
        const m = await cluster.metrics(gw);
        return metricValue(m, "rift_gateway_closes_total", { code: "4011", key: "SEND_QUEUE_FULL" }) === 1;
      },
      { timeoutMs: 90_000, intervalMs: 250, what: "the gateway to close the slow client with SEND_QUEUE_FULL (4011)" },
    );
    const atClose = ticks.map((t) => t.frames);
    // throughout: the others kept receiving tick frames and stayed connected
    good.forEach((c, i) => {
      expect(c.closed).toBeUndefined();
      expect(atClose[i]!).toBeGreaterThan(atPause[i]! + 10);
    });
    const m = await cluster.metrics(gw);
    expect(metricValue(m, "rift_gateway_closes_total", { key: "SEND_QUEUE_FULL" })).toBe(1); // only the slow one

    // once it reads again it finds its connection closed (4011, or 1006 if the close frame
    // was still behind its unread backlog when the gateway dropped the TCP connection)
    slow.resume();
    expect([4011, 1006]).toContain(await slow.closed);

    // and the others go on receiving ticks afterwards
    await waitFor(() => ticks.every((t, i) => t.frames > atClose[i]! + 10), { timeoutMs: 20_000, what: "ticks after the slow client was dropped" });
    walking = false;
    const walkError = await walks;
    if (walkError) throw walkError;
    good.forEach((c) => expect(c.closed).toBeUndefined());
    expect(await cluster.healthy()).toBe(true);
  });
});

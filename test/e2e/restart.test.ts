/**
 * Graceful restart of the field server (SIGTERM, wait for exit, start again) with players
 * connected: nothing is lost.
 *
 * Real processes: one gateway, one field server hosting z1. Clients walk to distinct
 * positions; one of them disconnects before the restart. After SIGTERM the field server
 * has saved everyone (DB unchanged from the pre-restart truth), the connected clients stay
 * connected (`relocated`), and when the server is back they are re-attached on the same
 * connection with an `enter` at exactly their old position and see each other as before;
 * the client that left logs in again (token) and finds its position too.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RiftClient } from "../../src/client/rift-client.js";
import type { ServerBody } from "../../src/core/protocol/messages.js";
import type { PlayerState } from "../../src/shard/types.js";
import { TestCluster } from "../helpers/cluster.js";
import { waitFor } from "../helpers/processes.js";
import { prng, selfOf, waitForExactViews, walkAll, type Geometry, type Observer, type Point } from "./support.js";

const N = 12;
const GEO: Geometry = { worldSize: 400, cellSize: 40 };

describe("graceful field-server restart", { timeout: 180_000 }, () => {
  let cluster: TestCluster;
  let clients: RiftClient[] = [];
  let names: string[] = [];

  beforeAll(async () => {
    cluster = await TestCluster.start({
      gateways: 1,
      fields: [{ zones: ["z1"] }],
      env: {
        RIFT__FIELD__WORLDSIZE: String(GEO.worldSize),
        RIFT__FIELD__AOICELLSIZE: String(GEO.cellSize),
        RIFT__FIELD__FLUSHINTERVALMS: "200",
        RIFT__GATEWAY__REATTACHTIMEOUTMS: "90000", // the restart (tsx start-up) may be slow on a busy machine
      },
    });
    names = Array.from({ length: N }, (_, i) => `rs_${cluster.uid}_${i}`);
    await cluster.seedAccounts(names);
    // request timeout long enough to wait for the re-`enter` across the restart
    clients = await Promise.all(names.map((n) => cluster.player(n, { client: { requestTimeoutMs: 90_000 } })));
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  it("positions and state survive a SIGTERM + start, in the DB and as seen by the clients", async () => {
    const rnd = prng(7);
    const targets: Point[] = clients.map((_, i) => ({ x: 200 + (i % 2 ? 1 : -1) * (10 + i * 7), y: 120 + Math.floor(rnd() * 160) }));
    await walkAll(clients, targets, { timeoutMs: 60_000 });
    const ids = clients.map((c) => selfOf(c).id);
    const expected = (i: number): PlayerState => ({ userId: ids[i]!, name: names[i]!, zone: "z1", x: targets[i]!.x, y: targets[i]!.y, hp: 100 });
    const dbStates = async () => (await Promise.all(ids.map((id) => cluster.data.players.load(id)))).map((r) => r?.state);
    await waitFor(async () => (await dbStates()).every((s, i) => JSON.stringify(s) === JSON.stringify(expected(i))), {
      timeoutMs: 15_000,
      what: "the walked positions to be flushed",
    });
    const epochsBefore = (await Promise.all(ids.map((id) => cluster.data.players.load(id)))).map((r) => r!.epoch);

    // the last client leaves before the restart; it comes back with its token afterwards
    const leaver = clients.pop()!;
    const token = leaver.session!.token;
    await leaver.close();
    const stayers = clients;
    const observers: Observer[] = stayers.map((client) => ({ client, zone: "z1" }));
    await waitForExactViews(observers, GEO);

    const relocated = stayers.map((c) => c.once("relocated"));
    const reentered: Promise<ServerBody<"enter">>[] = stayers.map((c) => c.waitForEnter(false));

    const { exit, node } = await cluster.restartField(0);
    expect(exit).toEqual({ code: 0, signal: null });
    await Promise.all(relocated);

    const enters = await Promise.all(reentered);
    enters.forEach((e, i) => expect(e).toMatchObject({ zone: "z1", server: node.id, self: { id: ids[i], x: targets[i]!.x, y: targets[i]!.y } }));
    stayers.forEach((c) => expect(c.closed).toBeUndefined());
    await waitForExactViews(observers, GEO);
    expect((await dbStates()).map((s) => s)).toEqual(ids.map((_, i) => expected(i)));

    const back = await cluster.connect(0);
    await back.hello();
    await back.login({ token });
    const enter = await back.waitForEnter();
    expect(enter).toMatchObject({ zone: "z1", server: node.id, self: { id: ids[N - 1], x: targets[N - 1]!.x, y: targets[N - 1]!.y } });
    await waitForExactViews([...observers, { client: back, zone: "z1" }], GEO);

    // every user was taken over again by the restarted server (a new owner epoch each)
    const after = await Promise.all(ids.map((id) => cluster.data.players.load(id)));
    after.forEach((r, i) => {
      expect(r!.owner).toBe(node.id);
      expect(r!.epoch).toBeGreaterThan(epochsBefore[i]!);
      expect(r!.state).toEqual(expected(i));
    });

    // and play goes on: a move after the restart is seen and persisted
    const mover = stayers[0]!;
    const seq = mover.move(targets[0]!.x + 3, targets[0]!.y);
    await waitFor(() => (mover.self?.seq ?? 0) >= seq, { timeoutMs: 10_000, intervalMs: 20, what: "a move after the restart" });
    await waitFor(async () => (await cluster.data.players.load(ids[0]!))?.state.x === targets[0]!.x + 3, { timeoutMs: 10_000, what: "the move to be persisted" });
  });
});

/**
 * Vertical slice, end to end: AOI exactness, speed clamp, leaving and re-entering a zone.
 *
 * Real processes on the shared infra: two gateways, two field servers (field0 hosts z1,
 * field1 hosts z2). 50 SDK clients log in through both gateways alternately and land in z1
 * at the spawn point (the centre); they walk (moves clamped by the server) to scattered,
 * reproducible targets, some on cell borders and on the world's edge. Then:
 * - every client's visible-entity set equals exactly the other z1 players whose cell is in
 *   its 3×3 neighbourhood, at their server-confirmed positions (which the DB agrees with);
 * - a move toward a far point advances at most maxSpeed;
 * - a client that travels to z2 leaves everyone's view in z1, gets a new `enter` from field1
 *   on the same connection, and is seen again when it travels back.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RiftClient } from "../../src/client/rift-client.js";
import type { ServerBody } from "../../src/core/protocol/messages.js";
import { TestCluster } from "../helpers/cluster.js";
import { waitFor } from "../helpers/processes.js";
import { aoiMismatches, cellXY, inAoi, prng, selfOf, waitForExactViews, walkAll, type Geometry, type Observer, type Point } from "./support.js";

const N = 50;
const GEO: Geometry = { worldSize: 400, cellSize: 40 }; // 10×10 cells, spawn point (200, 200)
const MAX_SPEED = 5;

describe("AOI over two gateways and two field servers", { timeout: 180_000 }, () => {
  let cluster: TestCluster;
  let clients: RiftClient[] = [];
  let observers: Observer[] = [];

  beforeAll(async () => {
    cluster = await TestCluster.start({
      gateways: 2,
      fields: [{ zones: ["z1"] }, { zones: ["z2"] }],
      env: {
        RIFT__FIELD__WORLDSIZE: String(GEO.worldSize),
        RIFT__FIELD__AOICELLSIZE: String(GEO.cellSize),
        RIFT__FIELD__MAXSPEED: String(MAX_SPEED),
        RIFT__FIELD__FLUSHINTERVALMS: "200",
      },
    });
    const names = Array.from({ length: N }, (_, i) => `aoi_${cluster.uid}_${i}`);
    await cluster.seedAccounts(names);
    // log in a few at a time, alternating gateways
    for (let i = 0; i < N; i += 10) {
      clients.push(...(await Promise.all(names.slice(i, i + 10).map((n, k) => cluster.player(n, { gateway: (i + k) % 2 })))));
    }
    observers = clients.map((client) => ({ client, zone: "z1" }));
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  it("every client logged in through its gateway and spawned in z1 at the centre", () => {
    expect(clients).toHaveLength(N);
    clients.forEach((c, i) => {
      expect(c.welcome?.server).toBe(cluster.gateways[i % 2]!.id);
      expect(c.lastEnter).toMatchObject({ zone: "z1", server: cluster.fields[0]!.id, self: { x: 200, y: 200 }, world: { size: GEO.worldSize, cell: GEO.cellSize } });
    });
  });

  it("after walking to scattered targets, each view is exactly the 3×3 AOI neighbourhood", async () => {
    const rnd = prng(20240601);
    const targets: Point[] = clients.map((_, i) => {
      if (i === 0) return { x: 0, y: 200 }; // world edge (asks for x = -1000 below: clamped)
      if (i === 1) return { x: 240, y: 160 }; // exactly on cell borders
      if (i === 2) return { x: 239, y: 159 };
      if (i < 8) return { x: 200 + (i - 4) * 3, y: 200 }; // a crowd at the centre
      return { x: 60 + Math.floor(rnd() * 280), y: 60 + Math.floor(rnd() * 280) };
    });
    // client 0 asks for a point beyond the edge: the server clamps it into the world
    await walkAll(clients, targets, { timeoutMs: 60_000, ask: [{ x: -1000, y: 200 }] });
    clients.forEach((c, i) => expect(selfOf(c)).toMatchObject(targets[i]!));

    // the scenario is meaningful: views differ in size, some pairs see each other, others do not
    const sizes = clients.map((c) => clients.filter((o) => o !== c && inAoi(selfOf(c), selfOf(o), GEO)).length);
    expect(Math.max(...sizes)).toBeGreaterThan(5);
    expect(Math.min(...sizes)).toBeLessThan(N / 2);
    expect(new Set(clients.map((c) => cellXY(selfOf(c), GEO).join(","))).size).toBeGreaterThan(15);

    await waitForExactViews(observers, GEO);

    // server truth: the positions the clients were told are the ones the field server persisted
    await waitFor(
      async () => {
        const rows = await Promise.all(clients.map((c) => cluster.data.players.load(selfOf(c).id)));
        return rows.every((r, i) => r && r.state.zone === "z1" && r.state.x === targets[i]!.x && r.state.y === targets[i]!.y && r.owner === cluster.fields[0]!.id);
      },
      { timeoutMs: 15_000, what: "the DB positions to equal the clients' server-confirmed positions" },
    );
  });

  it("a move toward a far point advances at most maxSpeed", async () => {
    const c = clients[10]!;
    const before = selfOf(c);
    const watcher = clients.find((o) => o !== c && inAoi(selfOf(o), before, GEO))!;
    const seq = c.move(before.x + 900, before.y - 700);
    await waitFor(() => (c.self?.seq ?? 0) >= seq, { timeoutMs: 10_000, intervalMs: 20, what: "the far move to be applied" });
    const after = selfOf(c);
    const step = Math.hypot(after.x - before.x, after.y - before.y);
    expect(step).toBeGreaterThan(0);
    expect(step).toBeLessThanOrEqual(MAX_SPEED + 1e-3);
    // and the others see the clamped position, not the requested one
    await waitFor(() => watcher.entity(after.id)?.seq === seq || !inAoi(selfOf(watcher), after, GEO), { timeoutMs: 10_000, intervalMs: 20, what: "a watcher to see the clamped move" });
    if (inAoi(selfOf(watcher), after, GEO)) expect(watcher.entity(after.id)).toMatchObject({ x: after.x, y: after.y });
    await waitForExactViews(observers, GEO);
  });

  it("travel to z2 leaves every view in z1 without reconnecting; travelling back is seen again", async () => {
    // the traveller: the client seen by the most others
    const seenBy = (c: RiftClient) => clients.filter((o) => o !== c && o.entity(selfOf(c).id) !== undefined);
    const traveller = [...clients].sort((a, b) => seenBy(b).length - seenBy(a).length)[0]!;
    const id = selfOf(traveller).id;
    const watchers = seenBy(traveller);
    expect(watchers.length).toBeGreaterThan(3);
    const me = observers.find((o) => o.client === traveller)!;
    const sessions: unknown[] = [];
    traveller.on("session", (s) => sessions.push(s));
    const relocations: ServerBody<"relocated">[] = [];
    traveller.on("relocated", (r) => relocations.push(r));

    const inZ2 = traveller.waitForEnter(false);
    traveller.travel("z2");
    const enterZ2 = await inZ2;
    me.zone = "z2";
    expect(enterZ2).toMatchObject({ zone: "z2", server: cluster.fields[1]!.id, self: { id, x: 200, y: 200 } });
    expect(relocations.map((r) => r.zone)).toEqual(["z2"]);
    await waitFor(() => watchers.every((w) => w.entity(id) === undefined), { timeoutMs: 10_000, what: "the traveller to leave every z1 view" });
    expect(traveller.entities.size).toBe(0); // nobody else is in z2
    await waitForExactViews(observers, GEO);

    const inZ1 = traveller.waitForEnter(false);
    traveller.travel("z1");
    const enterZ1 = await inZ1;
    me.zone = "z1";
    expect(enterZ1).toMatchObject({ zone: "z1", server: cluster.fields[0]!.id, self: { id, x: 200, y: 200 } }); // travellers arrive at the spawn point
    const shouldSee = clients.filter((o) => o !== traveller && inAoi(selfOf(o), selfOf(traveller), GEO));
    expect(shouldSee.length).toBeGreaterThan(3);
    await waitFor(() => shouldSee.every((w) => w.entity(id) !== undefined), { timeoutMs: 10_000, what: "the traveller to be seen again in z1" });
    await waitForExactViews(observers, GEO);

    expect(traveller.closed).toBeUndefined();
    expect(sessions).toHaveLength(0); // no new login: the same connection all along
    expect(aoiMismatches(observers, GEO)).toEqual([]);
    const row = await cluster.data.players.load(id);
    expect(row?.state.zone).toBe("z1");
  });
});

/**
 * Crash failover (issue "Coordinator", DESIGN "Ownership and fencing"): SIGKILL the field
 * server hosting z1 while 200 players are on it.
 *
 * Real processes on a private 3-node ZooKeeper ensemble: 2 coordinators, 2 gateways, 2 field
 * servers that can both host z1 and z2 (the leader places one zone on each). Every player's
 * position is settled (server-confirmed and flushed) before the kill. Expected: the leader
 * re-places z1 on the survivor once the dead server's session expires; every client stays
 * connected, gets `relocated` and a new `enter` from the survivor at exactly its flushed
 * position; each row's owner is the survivor with a higher owner epoch. The time from the
 * kill to the last re-entered player is printed (RESULT line) for the closing note.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ServerBody } from "../../src/core/protocol/messages.js";
import { metricValue, TestCluster } from "../helpers/cluster.js";
import { waitFor } from "../helpers/processes.js";
import { flushedRows, privateZooKeeper, seedPlayers, settle, wander, type Players, type PrivateZk } from "./support.js";

const N = 200;
const WORLD = 1000;

describe("SIGKILL of a field server with 200 players", { timeout: 300_000 }, () => {
  let zk: PrivateZk;
  let cluster: TestCluster;
  let players: Players;

  beforeAll(async () => {
    zk = await privateZooKeeper(3);
    cluster = await TestCluster.start({
      zookeeper: zk.connect,
      coordinators: 2,
      gateways: 2,
      fields: [{ zones: ["z1", "z2"] }, { zones: ["z1", "z2"] }],
      startZone: "z1",
      env: {
        RIFT__FIELD__FLUSHINTERVALMS: "200",
        RIFT__GATEWAY__REATTACHTIMEOUTMS: "90000",
        RIFT__FIELD__MAXATTACHESINFLIGHT: "512",
      },
    });
    players = await seedPlayers(cluster, N, { zone: "z1", worldSize: WORLD, prefix: "fc" });
  }, 240_000);

  afterAll(async () => {
    await cluster?.stop();
    await zk?.stop();
  });

  it("re-places the zone on the survivor: 0 disconnects, every flushed position kept, new owner epoch", async () => {
    const before = await cluster.placement();
    const ownerId = before!.zones.z1!.server;
    const victim = cluster.fields.find((f) => f.id === ownerId)!;
    const survivor = cluster.fields.find((f) => f.id !== ownerId)!;
    expect(players.clients.every((c) => c.lastEnter?.server === ownerId)).toBe(true);

    // play a little, then settle every position (confirmed and flushed = acknowledged)
    const rowsBefore = await flushedRows(cluster, victim);
    const stop = wander(players.clients, 5);
    await waitFor(async () => (await flushedRows(cluster, victim)) >= rowsBefore + 2 * N, {
      timeoutMs: 30_000,
      what: "write-behind to flush moving players",
    });
    stop();
    const targets = await settle(cluster, players, 21);
    const epochs = (await Promise.all(players.ids.map((id) => cluster.data.players.load(id)))).map((r) => r!.epoch);

    const relocated = players.clients.map((c) => c.once("relocated"));
    const reentered: Promise<ServerBody<"enter">>[] = players.clients.map((c) => c.waitForEnter(false));
    const t0 = performance.now();
    victim.proc.kill("SIGKILL");
    await Promise.all(relocated);
    const enters = await Promise.all(reentered);
    const replaceMs = Math.round(performance.now() - t0);

    // 0 disconnects; every player resumed on the survivor exactly where it was acknowledged
    expect(players.clients.filter((c) => c.closed !== undefined)).toEqual([]);
    enters.forEach((e, i) => expect(e, players.names[i]).toMatchObject({ zone: "z1", server: survivor.id, self: { id: players.ids[i], x: targets[i]!.x, y: targets[i]!.y } }));
    const rows = await Promise.all(players.ids.map((id) => cluster.data.players.load(id)));
    rows.forEach((r, i) => {
      expect(r!.owner).toBe(survivor.id);
      expect(r!.epoch).toBeGreaterThan(epochs[i]!);
      expect({ x: r!.state.x, y: r!.state.y }).toEqual(targets[i]);
    });
    const after = await cluster.placement();
    expect(after!.zones.z1!.server).toBe(survivor.id);
    expect(after!.zones.z2!.server).toBe(survivor.id);

    // the leader measured the same thing from its side
    let leaderMetrics = "";
    for (const c of cluster.coordinators) {
      const text = await cluster.metrics(c);
      if (metricValue(text, "rift_coordinator_is_leader") === 1) leaderMetrics = text;
    }
    expect(metricValue(leaderMetrics, "rift_coordinator_zone_moves_total", { reason: "server-gone" })).toBeGreaterThanOrEqual(1);
    console.log(`RESULT field-crash: ${N} players re-placed and re-entered ${replaceMs} ms after SIGKILL (session timeout 5000 ms + grace 1000 ms)`);

    // play goes on on the survivor
    const c0 = players.clients[0]!;
    const seq = c0.move(targets[0]!.x + 2, targets[0]!.y);
    await expect.poll(() => (c0.self?.seq ?? 0) >= seq, { timeout: 10_000 }).toBe(true);
  });
});

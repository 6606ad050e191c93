/**
 * Owner-epoch fencing, end to end: a write-behind flush rejected by the database.
 *
 * Real processes: one gateway, one field server (z1, flush every 200 ms). The test bumps a
 * player's `owner_epoch` directly in its shard database underneath the running field
 * server (as a takeover by another server would), then makes the player move (dirty):
 * - the flush is fenced, the user is disconnected with PERSIST_REJECTED (4032);
 * - the row is exactly as the takeover left it (the stale owner wrote nothing);
 * - the other players keep playing and see the victim leave;
 * - logging in again reloads the user from the database (the DB is the truth).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RiftClient } from "../../src/client/rift-client.js";
import { TestCluster, metricValue } from "../helpers/cluster.js";
import { waitFor } from "../helpers/processes.js";
import { selfOf, walkAll } from "./support.js";

describe("fenced write-behind flush", { timeout: 120_000 }, () => {
  let cluster: TestCluster;
  let victim: RiftClient;
  let others: RiftClient[];

  beforeAll(async () => {
    cluster = await TestCluster.start({ gateways: 1, fields: [{ zones: ["z1"] }], env: { RIFT__FIELD__FLUSHINTERVALMS: "200" } });
    const names = ["victim", "alice", "bob"].map((n) => `${n}_${cluster.uid}`);
    await cluster.seedAccounts(names);
    const all = await Promise.all(names.map((n) => cluster.player(n)));
    victim = all[0]!;
    others = all.slice(1);
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  it("disconnects the user with PERSIST_REJECTED and leaves the DB row untouched; others keep playing", async () => {
    const [alice, bob] = others as [RiftClient, RiftClient];
    const id = selfOf(victim).id;
    await walkAll([victim, alice, bob], [{ x: 510, y: 500 }, { x: 490, y: 500 }, { x: 500, y: 490 }], { timeoutMs: 30_000 });
    await waitFor(async () => (await cluster.data.players.load(id))?.state.x === 510, { timeoutMs: 10_000, what: "the victim's position to be flushed" });
    await waitFor(() => alice.entity(id)?.x === 510 && bob.entity(id)?.x === 510, { timeoutMs: 10_000, what: "the others to see the victim" });

    // a "takeover" underneath the running server: bump the epoch in the user's shard
    const shard = (await cluster.data.shardMap.shardOf(id))!;
    const bumped = await cluster.data.router.query<{ owner_epoch: string }>(shard, "UPDATE players SET owner_epoch = owner_epoch + 1, owner = 'someone-else' WHERE user_id = $1 RETURNING owner_epoch", [id]);
    expect(bumped.rowCount).toBe(1);
    const truth = await cluster.data.players.load(id);
    expect(truth).toMatchObject({ epoch: Number(bumped.rows[0]!.owner_epoch), owner: "someone-else", state: { x: 510, y: 500 } });

    const closed = victim.waitClosed();
    const left = waitFor(() => alice.entity(id) === undefined && bob.entity(id) === undefined, { timeoutMs: 15_000, what: "the others to see the victim leave" });
    victim.move(515, 500); // dirty: the next flush carries the stale epoch
    const info = await closed;
    expect(info.code).toBe(4032);
    expect(info.error?.key).toBe("PERSIST_REJECTED");
    expect(info.reason).toMatch(/^RIFT_PERSIST_REJECTED/);
    await left;

    // the stale owner wrote nothing: the row is exactly what the takeover left
    expect(await cluster.data.players.load(id)).toEqual(truth);
    const m = await cluster.metrics(cluster.fields[0]!);
    expect(metricValue(m, "rift_field_flush_rejected_total")).toBeGreaterThanOrEqual(1);
    expect(metricValue(m, "rift_field_kicks_total", { key: "PERSIST_REJECTED" })).toBe(1);

    // everyone else keeps playing: moves are applied and seen
    for (const [c, watcher, x] of [[alice, bob, 485], [bob, alice, 505]] as const) {
      const seq = c.move(x, c.self!.y);
      await waitFor(() => watcher.entity(selfOf(c).id)?.seq === seq, { timeoutMs: 10_000, intervalMs: 20, what: "a move of a bystander" });
      expect(c.closed).toBeUndefined();
    }
    await waitFor(async () => (await cluster.data.players.load(selfOf(alice).id))?.state.x === 485, { timeoutMs: 10_000, what: "a bystander's move to be persisted" });
    expect(await cluster.data.players.load(id)).toEqual(truth);

    // the user comes back: reloaded from the DB (the position the server could not save is gone)
    const again = await cluster.player(`victim_${cluster.uid}`);
    expect((await again.waitForEnter()).self).toMatchObject({ id, x: 510, y: 500 });
    await waitFor(() => alice.entity(id)?.x === 510, { timeoutMs: 10_000, what: "the others to see the victim back at the DB position" });
    const row = await cluster.data.players.load(id);
    expect(row?.owner).toBe(cluster.fields[0]!.id);
    expect(row!.epoch).toBeGreaterThan(truth!.epoch);
  });
});

/**
 * Channels of a full zone (issue "Coordinator" §2): when every channel of a zone holds
 * `coordinator.channelCapacity` users, the leader opens another channel — its own world and
 * AOI, placed like a zone — and gateways send new arrivals there.
 *
 * Real processes: 1 coordinator (capacity 4), 1 gateway, 2 field servers able to host z1 and
 * z2. Seven players stand on the same spot of z1: the first four share channel 1, the next
 * three get channel 2 and see only each other; rows keep the zone `z1`; travelling away and
 * back lands in the channel with room.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RiftClient } from "../../src/client/rift-client.js";
import { TestCluster } from "../helpers/cluster.js";
import { waitFor } from "../helpers/processes.js";

describe("channels of a full zone", { timeout: 180_000 }, () => {
  let cluster: TestCluster;
  let names: string[];
  let ids: number[];

  beforeAll(async () => {
    cluster = await TestCluster.start({
      gateways: 1,
      fields: [{ zones: ["z1", "z2"] }, { zones: ["z1", "z2"] }],
      startZone: "z1",
      env: { RIFT__COORDINATOR__CHANNELCAPACITY: "4", RIFT__FIELD__WORLDSIZE: "400", RIFT__FIELD__AOICELLSIZE: "40" },
    });
    names = Array.from({ length: 7 }, (_, i) => `ch${i}_${cluster.uid}`);
    const accounts = await cluster.seedAccounts(names);
    ids = accounts.map((a) => a.userId);
    for (const a of accounts) await cluster.data.players.ensure({ userId: a.userId, name: a.name, zone: "z1", x: 200, y: 200, hp: 100 });
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  /** Others this client sees (its own entity is tracked as `self`, not in `entities`). */
  const seen = (c: RiftClient) => [...c.entities.keys()].sort((a, b) => a - b);
  const sees = (c: RiftClient, channelIds: number[]) => JSON.stringify(seen(c)) === JSON.stringify(channelIds.filter((id) => id !== c.self?.id));

  it("opens channel 2 when channel 1 is full; each channel sees only its own players", async () => {
    const first = await Promise.all(names.slice(0, 4).map((n) => cluster.player(n)));
    first.forEach((c) => expect(c.lastEnter).toMatchObject({ zone: "z1", channel: 1 }));
    const doc = await waitFor(async () => {
      const p = await cluster.placement();
      return p?.zones["z1#2"] ? p : undefined;
    }, { timeoutMs: 20_000, what: "the leader to open channel z1#2" });

    const second: RiftClient[] = [];
    for (const n of names.slice(4)) second.push(await cluster.player(n));
    second.forEach((c) => expect(c.lastEnter).toMatchObject({ zone: "z1", channel: 2, server: doc.zones["z1#2"]!.server }));

    const ids1 = ids.slice(0, 4).sort((a, b) => a - b);
    const ids2 = ids.slice(4).sort((a, b) => a - b);
    await waitFor(() => first.every((c) => sees(c, ids1)) && second.every((c) => sees(c, ids2)), {
      timeoutMs: 15_000,
      what: "each channel to see exactly its own players",
    }).catch((e: unknown) => {
      throw new Error(`${String(e)}; want ${JSON.stringify([ids1, ids2])}; seen ${JSON.stringify([...first, ...second].map(seen))}`);
    });
    for (const id of ids) expect((await cluster.data.players.load(id))!.state.zone).toBe("z1");

    // away to z2 and back: channel 1 is still full, so back into channel 2
    const traveller = second[0]!;
    const inZ2 = traveller.waitForEnter(false);
    traveller.travel("z2");
    expect(await inZ2).toMatchObject({ zone: "z2", channel: 1 });
    await waitFor(() => second.slice(1).every((c) => !c.entities.has(ids[4]!)), { timeoutMs: 10_000, what: "channel 2 to see the traveller leave" });
    const back = traveller.waitForEnter(false);
    traveller.travel("z1");
    expect(await back).toMatchObject({ zone: "z1", channel: 2 });
    await waitFor(() => second.every((c) => sees(c, ids2)), { timeoutMs: 10_000, what: "channel 2 complete again" });
    expect(first.every((c) => sees(c, ids1))).toBe(true);
  });
});

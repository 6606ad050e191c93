import { describe, expect, it, vi } from "vitest";
import { silentLogger } from "../../src/core/log.js";
import { WriteBehind, type WriteBehindOptions } from "../../src/core/scene/write-behind.js";
import { createMemoryDataLayer } from "../../src/shard/memory.js";
import type { PlayerRepository, PlayerState } from "../../src/shard/types.js";

const state = (userId: number, x = 10, y = 20, zone = "z1"): PlayerState => ({ userId, name: `u${userId}`, zone, x, y, hp: 100 });

async function owned(repo: PlayerRepository, ...users: number[]): Promise<Map<number, number>> {
  const epochs = new Map<number, number>();
  for (const u of users) {
    await repo.ensure(state(u, 0, 0));
    epochs.set(u, (await repo.takeOwnership(u, "me"))!.epoch);
  }
  return epochs;
}

function setup(over: Partial<WriteBehindOptions> = {}) {
  const data = createMemoryDataLayer();
  const repo = data.players;
  const mem = new Map<number, PlayerState>();
  const rejected: number[] = [];
  let now = 1000;
  const wb = new WriteBehind({
    repo,
    intervalMs: 60_000, // tests flush explicitly
    maxBatch: 100,
    snapshot: (u) => mem.get(u),
    onRejected: (u) => rejected.push(u),
    log: silentLogger(),
    retryDelayMs: 5,
    finalAttempts: 3,
    now: () => now,
    ...over,
  });
  return { repo, mem, rejected, wb, advance: (ms: number) => (now += ms) };
}

describe("WriteBehind", () => {
  it("flushes only dirty users, in ONE saveMany batch, with their state at flush time", async () => {
    const { repo, mem, wb } = setup();
    const epochs = await owned(repo, 1, 2, 3);
    for (const [u, e] of epochs) wb.track(u, e);
    mem.set(1, state(1, 5, 5));
    mem.set(2, state(2, 6, 6));
    mem.set(3, state(3, 7, 7));
    wb.markDirty(1);
    wb.markDirty(2);
    mem.set(1, state(1, 8, 8)); // changed again before the flush: the newest is written
    const before = repo.writes;
    await wb.flush();
    expect(repo.writes - before).toBe(1);
    expect(repo.rows.get(1)!.state).toMatchObject({ x: 8, y: 8 });
    expect(repo.rows.get(2)!.state).toMatchObject({ x: 6, y: 6 });
    expect(repo.rows.get(3)!.state).toMatchObject({ x: 0, y: 0 }); // clean: not written
    expect(wb.backlog).toBe(0);
    await wb.flush();
    expect(repo.writes - before).toBe(1); // nothing dirty, no round trip
  });

  it("splits a large backlog into batches of maxBatch", async () => {
    const { repo, mem, wb } = setup({ maxBatch: 2 });
    const epochs = await owned(repo, 1, 2, 3, 4, 5);
    for (const [u, e] of epochs) {
      wb.track(u, e);
      mem.set(u, state(u, u, u));
      wb.markDirty(u);
    }
    const spy = vi.spyOn(repo, "saveMany");
    await wb.drain();
    expect(spy.mock.calls.map((c) => c[0].length)).toEqual([2, 2, 1]);
    for (const u of [1, 2, 3, 4, 5]) expect(repo.rows.get(u)!.state.x).toBe(u);
  });

  it("a fenced write stops all writes for that user and reports it", async () => {
    const { repo, mem, wb, rejected } = setup();
    const epochs = await owned(repo, 1, 2);
    for (const [u, e] of epochs) wb.track(u, e);
    await repo.takeOwnership(1, "another-server"); // epoch bumped underneath us
    await repo.save(state(1, 99, 99), repo.rows.get(1)!.epoch);
    mem.set(1, state(1, 5, 5));
    mem.set(2, state(2, 6, 6));
    wb.markDirty(1);
    wb.markDirty(2);
    await wb.flush();
    expect(rejected).toEqual([1]);
    expect(wb.isTracked(1)).toBe(false);
    expect(repo.rows.get(1)!.state).toMatchObject({ x: 99, y: 99 }); // the DB stays the truth
    expect(repo.rows.get(2)!.state).toMatchObject({ x: 6, y: 6 });
    wb.markDirty(1);
    const spy = vi.spyOn(repo, "saveMany");
    await wb.flush();
    expect(spy).not.toHaveBeenCalled();
  });

  it("release (detach) writes the final state right away, without waiting for the interval", async () => {
    const { repo, wb } = setup();
    const epochs = await owned(repo, 1);
    wb.track(1, epochs.get(1)!);
    const r = await wb.release(1, state(1, 42, 43));
    expect(r).toBe("saved");
    expect(repo.rows.get(1)!.state).toMatchObject({ x: 42, y: 43 });
    expect(wb.isTracked(1)).toBe(false);
  });

  it("a fenced final write resolves 'rejected'", async () => {
    const { repo, wb } = setup();
    const epochs = await owned(repo, 1);
    wb.track(1, epochs.get(1)!);
    await repo.takeOwnership(1, "other");
    expect(await wb.release(1, state(1, 1, 1))).toBe("rejected");
  });

  it("a failed flush keeps users dirty (lag grows) and the next flush writes them", async () => {
    const { repo, mem, wb, advance } = setup();
    const epochs = await owned(repo, 1);
    wb.track(1, epochs.get(1)!);
    mem.set(1, state(1, 3, 3));
    wb.markDirty(1);
    repo.failNextWrites(1);
    await wb.flush();
    advance(500);
    expect(wb.lagMs()).toBe(500);
    expect(wb.backlog).toBe(1);
    await wb.flush();
    expect(repo.rows.get(1)!.state).toMatchObject({ x: 3, y: 3 });
    expect(wb.lagMs()).toBe(0);
  });

  it("a final write is retried on DB errors and gives up after finalAttempts", async () => {
    const { repo, wb } = setup();
    const epochs = await owned(repo, 1, 2);
    wb.track(1, epochs.get(1)!);
    wb.track(2, epochs.get(2)!);
    repo.failNextWrites(2);
    expect(await wb.release(1, state(1, 7, 7))).toBe("saved"); // third attempt succeeds
    repo.failNextWrites(10);
    expect(await wb.release(2, state(2, 7, 7))).toBe("failed");
  });

  it("never has two flushes in flight; a flush requested meanwhile runs after", async () => {
    const { repo, mem, wb } = setup();
    const epochs = await owned(repo, 1);
    wb.track(1, epochs.get(1)!);
    let inFlight = 0;
    let maxInFlight = 0;
    const release: (() => void)[] = [];
    const real = repo.saveMany.bind(repo);
    vi.spyOn(repo, "saveMany").mockImplementation(async (items) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await new Promise<void>((r) => release.push(r));
      inFlight--;
      return real(items);
    });
    mem.set(1, state(1, 1, 1));
    wb.markDirty(1);
    const first = wb.flush();
    mem.set(1, state(1, 2, 2));
    wb.markDirty(1);
    const second = wb.flush();
    await vi.waitFor(() => expect(release.length).toBe(1));
    release.shift()!();
    await vi.waitFor(() => expect(release.length).toBe(1));
    release.shift()!();
    await Promise.all([first, second]);
    expect(maxInFlight).toBe(1);
    expect(repo.rows.get(1)!.state).toMatchObject({ x: 2, y: 2 });
  });

  it("a re-attach can wait for the previous final write (released)", async () => {
    const { repo, wb } = setup();
    const epochs = await owned(repo, 1);
    wb.track(1, epochs.get(1)!);
    const p = wb.release(1, state(1, 9, 9));
    await wb.released(1);
    expect(await p).toBe("saved");
    expect(repo.rows.get(1)!.state.x).toBe(9);
  });
});

describe("WriteBehind: pause, fenceAll and back-to-back batches", () => {
  it("pause holds periodic and final writes; resume writes them", async () => {
    const { repo, mem, wb } = setup();
    const epochs = await owned(repo, 1, 2);
    for (const [u, e] of epochs) wb.track(u, e);
    wb.pause();
    mem.set(1, state(1, 5, 5));
    wb.markDirty(1);
    const final = wb.release(2, state(2, 9, 9));
    const before = repo.writes;
    await wb.flush();
    await wb.drain(); // returns at once while paused
    expect(repo.writes).toBe(before);
    expect(wb.backlog).toBe(2);
    wb.resume();
    expect(await final).toBe("saved");
    await vi.waitFor(() => expect(repo.rows.get(1)!.state).toMatchObject({ x: 5, y: 5 }));
    expect(repo.rows.get(2)!.state).toMatchObject({ x: 9, y: 9 });
  });

  it("fenceAll drops tracked users and pending finals without writing (finals resolve rejected)", async () => {
    const { repo, mem, wb } = setup();
    const epochs = await owned(repo, 1, 2);
    for (const [u, e] of epochs) wb.track(u, e);
    wb.pause();
    mem.set(1, state(1, 5, 5));
    wb.markDirty(1);
    const final = wb.release(2, state(2, 9, 9));
    expect(wb.fenceAll().sort()).toEqual([1, 2]);
    expect(await final).toBe("rejected");
    wb.resume();
    await wb.drain();
    expect(repo.rows.get(1)!.state).toMatchObject({ x: 0, y: 0 });
    expect(repo.rows.get(2)!.state).toMatchObject({ x: 0, y: 0 });
    expect(wb.trackedCount).toBe(0);
  });

  it("a full batch continues at once only for users dirty before it began (no endless back-to-back flushes)", async () => {
    const { repo, mem, wb, advance } = setup({ maxBatch: 2 });
    const epochs = await owned(repo, 1, 2, 3);
    for (const [u, e] of epochs) wb.track(u, e);
    for (const u of [1, 2, 3]) {
      mem.set(u, state(u, u, u));
      wb.markDirty(u);
    }
    advance(10);
    const before = repo.writes;
    await wb.flush(); // 2 rows, then 1 more at once (user 3 was dirty before)
    await vi.waitFor(() => expect(repo.rows.get(3)!.state).toMatchObject({ x: 3, y: 3 }));
    const afterCatchUp = repo.writes;
    expect(afterCatchUp - before).toBe(2);
    // now users re-dirtied during/after a full batch wait for the next interval
    const slow = setup({ maxBatch: 2 });
    const e2 = await owned(slow.repo, 1, 2);
    for (const [u, e] of e2) slow.wb.track(u, e);
    let calls = 0;
    const orig = slow.repo.saveMany.bind(slow.repo);
    slow.repo.saveMany = async (items) => {
      calls++;
      for (const u of [1, 2]) slow.wb.markDirty(u); // the logic loop keeps changing them meanwhile
      return orig(items);
    };
    for (const u of [1, 2]) {
      slow.mem.set(u, state(u));
      slow.wb.markDirty(u);
    }
    slow.advance(10);
    await slow.wb.flush();
    await new Promise((r) => setImmediate(r));
    expect(calls).toBe(1);
  });
});

describe("WriteBehind: overdue", () => {
  it("lists tracked users whose oldest unsaved change is older than the bound", async () => {
    const { repo, mem, wb, advance } = setup();
    const epochs = await owned(repo, 1, 2, 3);
    for (const [u, e] of epochs) wb.track(u, e);
    mem.set(1, state(1));
    wb.markDirty(1);
    advance(500);
    mem.set(2, state(2));
    wb.markDirty(2);
    advance(600);
    expect(wb.overdue(1000)).toEqual([1]);
    expect(wb.overdue(100).sort()).toEqual([1, 2]);
    await wb.flush();
    expect(wb.overdue(100)).toEqual([]);
  });

  describe("hold / unhold (online shard move)", () => {
    it("writes the held users' state at once, then holds later changes until unhold under the new epoch", async () => {
      const { repo, mem, wb } = setup();
      const epochs = await owned(repo, 1, 2);
      for (const [u, e] of epochs) wb.track(u, e);
      mem.set(1, state(1, 5, 5));
      mem.set(2, state(2, 6, 6));
      wb.markDirty(1);
      wb.markDirty(2);
      const r = await wb.hold([1, 99]);
      expect(r.held).toEqual([{ userId: 1, epoch: epochs.get(1) }]);
      expect(r.notOwned).toEqual([99]);
      expect(repo.rows.get(1)!.state).toMatchObject({ x: 5, y: 5 }); // written by the hold itself
      expect(wb.heldCount).toBe(1);
      // the mover bumps the epoch (here: another takeover of the row)
      const bumped = (await repo.takeOwnership(1, "mover"))!.epoch;
      mem.set(1, state(1, 7, 7));
      wb.markDirty(1);
      await wb.flush();
      expect(repo.rows.get(1)!.state).toMatchObject({ x: 5, y: 5 }); // held: not written (would be fenced)
      expect(repo.rows.get(2)!.state).toMatchObject({ x: 6, y: 6 }); // others keep flowing
      wb.unhold([{ userId: 1, epoch: bumped }]);
      await wb.flush();
      expect(repo.rows.get(1)!.state).toMatchObject({ x: 7, y: 7 });
      expect(wb.heldCount).toBe(0);
      expect(wb.backlog).toBe(0);
    });

    it("keeps a final write of a user released during the hold until unhold, then writes it with the new epoch", async () => {
      const { repo, mem, wb, rejected } = setup();
      const epochs = await owned(repo, 1);
      wb.track(1, epochs.get(1)!);
      await wb.hold([1]);
      const bumped = (await repo.takeOwnership(1, "mover"))!.epoch;
      let result: string | undefined;
      void wb.release(1, state(1, 9, 9)).then((x) => (result = x));
      mem.delete(1);
      await wb.flush();
      expect(result).toBeUndefined();
      expect(repo.rows.get(1)!.state).toMatchObject({ x: 0, y: 0 });
      wb.unhold([{ userId: 1, epoch: bumped }]);
      await wb.released(1);
      expect(result).toBe("saved");
      expect(repo.rows.get(1)!.state).toMatchObject({ x: 9, y: 9 });
      expect(rejected).toEqual([]);
    });

    it("refuses to hold while writes are paused, and releases the users when the hold's write fails", async () => {
      const { repo, mem, wb } = setup();
      const epochs = await owned(repo, 1);
      wb.track(1, epochs.get(1)!);
      wb.pause();
      await expect(wb.hold([1])).rejects.toThrow(/paused/);
      wb.resume();
      mem.set(1, state(1, 3, 3));
      wb.markDirty(1);
      const save = vi.spyOn(repo, "saveMany").mockRejectedValueOnce(new Error("db down"));
      await expect(wb.hold([1])).rejects.toThrow(/db down/);
      expect(wb.heldCount).toBe(0);
      save.mockRestore();
      await wb.flush();
      expect(repo.rows.get(1)!.state).toMatchObject({ x: 3, y: 3 });
    });
  });
});

import { describe, expect, it, vi } from "vitest";
import { silentLogger } from "../../src/core/log.js";
import { ShardMoveParticipant, type HoldableWrites } from "../../src/core/scene/shard-moves.js";

function setup(holdTimeoutMs = 50) {
  const released: { userId: number; epoch?: number }[][] = [];
  const invalidated: number[] = [];
  const writes: HoldableWrites = {
    holdWrites: async (users) => ({ held: users.filter((u) => u < 100).map((userId) => ({ userId, epoch: 7 })), notOwned: users.filter((u) => u >= 100), busy: [] }),
    releaseWrites: (items) => void released.push([...items]),
  };
  const p = new ShardMoveParticipant({ writes, cache: { invalidate: (u) => void invalidated.push(u), cached: () => undefined }, log: silentLogger(), holdTimeoutMs });
  return { p, released, invalidated };
}

describe("ShardMoveParticipant (game server side of an online shard move)", () => {
  it("holds, then releases under the new epoch after dropping the cached mappings", async () => {
    const { p, released, invalidated } = setup(60_000);
    expect(await p.hold({ moveId: "m1", users: [1, 2, 300] })).toEqual({ held: [{ userId: 1, epoch: 7 }, { userId: 2, epoch: 7 }], notOwned: [300], busy: [] });
    p.release({ moveId: "m1", users: [{ userId: 1, epoch: 8 }, { userId: 2, epoch: 8 }] });
    expect(invalidated).toEqual([1, 2]);
    expect(released).toEqual([[{ userId: 1, epoch: 8 }, { userId: 2, epoch: 8 }]]);
    p.close(); // nothing left to expire
    expect(released.length).toBe(1);
  });

  it("releases a forgotten hold (mover died) under the old epoch after the timeout", async () => {
    vi.useFakeTimers();
    try {
      const { p, released, invalidated } = setup(50);
      await p.hold({ moveId: "m2", users: [5] });
      vi.advanceTimersByTime(49);
      expect(released).toEqual([]);
      vi.advanceTimersByTime(2);
      expect(released).toEqual([[{ userId: 5 }]]);
      expect(invalidated).toEqual([]);
    } finally {
      vi.useRealTimers();
    }
  });

  it("turns a refused hold into RIFT_SHARD_MOVE_FAILED", async () => {
    const p = new ShardMoveParticipant({
      writes: { holdWrites: () => Promise.reject(new Error("writes are paused")), releaseWrites: () => {} },
      cache: { invalidate: () => {}, cached: () => undefined },
      log: silentLogger(),
    });
    await expect(p.hold({ moveId: "m", users: [1] })).rejects.toMatchObject({ code: "RIFT_SHARD_MOVE_FAILED" });
  });
});

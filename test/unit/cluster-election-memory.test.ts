/**
 * The LeaderElection contract suite against the in-memory double, plus the double's own
 * helpers (manual renewal, fencing check, listener errors).
 */
import { describe, expect, test } from "vitest";
import { MemoryElectionGroup } from "../../src/core/cluster/memory-election.js";
import type { ElectionState } from "../../src/core/cluster/types.js";
import { describeElectionContract } from "../contract/election-contract.js";

describeElectionContract("in-memory double", async () => ({
  group: async () => {
    const g = new MemoryElectionGroup();
    return {
      candidate: async (id) => ({
        election: g.candidate(id),
        expire: async () => g.expire(id),
        suspend: async () => g.suspend(id),
        resume: async () => g.resume(id),
      }),
    };
  },
}));

describe("MemoryElectionGroup helpers", () => {
  test("expire without renewal keeps the candidate out of line until renew()", async () => {
    const g = new MemoryElectionGroup();
    const a = g.candidate("a");
    const b = g.candidate("b");
    await a.start();
    await b.start();
    const fence = a.nodePath()!;
    expect(g.nodeExists(fence)).toBe(true);
    g.expire("a", { renew: false });
    expect(a.state).toBe("follower");
    expect(a.nodePath()).toBeUndefined();
    expect(g.nodeExists(fence)).toBe(false);
    expect(b.state).toBe("leader");
    expect(g.order()).toEqual(["b"]);
    g.renew("a");
    expect(g.order()).toEqual(["b", "a"]);
    expect(a.nodePath()).not.toBe(fence);
    expect(a.leaderId()).toBe("b");
  });

  test("helpers refuse unknown or closed candidates", async () => {
    const g = new MemoryElectionGroup();
    const a = g.candidate("a");
    expect(() => g.suspend("a")).toThrow(/no running candidate/); // not started
    await a.start();
    await a.close();
    expect(() => g.expire("a")).toThrow(/no running candidate/);
  });

  test("a throwing listener does not keep the others from hearing the change", async () => {
    const g = new MemoryElectionGroup();
    const a = g.candidate("a");
    const b = g.candidate("b");
    const heard: ElectionState[] = [];
    await a.start();
    await b.start();
    b.onChange(() => {
      throw new Error("boom");
    });
    b.onChange((s) => heard.push(s));
    await expect(a.close()).rejects.toThrow("boom");
    expect(heard).toEqual(["leader"]);
    expect(b.state).toBe("leader");
  });
});

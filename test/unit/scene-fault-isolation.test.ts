import { describe, expect, it } from "vitest";
import { FaultIsolation, InjectedFault } from "../../src/core/scene/fault-isolation.js";
import { traceLine } from "../../src/tools/opsctl/trace.js";

describe("FaultIsolation (bookkeeping of handler exceptions)", () => {
  it("builds a trace with the user's recent messages and relocates until the crash-loop bound", () => {
    const f = new FaultIsolation({ server: "field-1", recentPerUser: 3, maxFaults: 3, windowMs: 1000 });
    for (let i = 0; i < 5; i++) f.record(7, 100 + i, "move", { seq: i, x: i, y: 0 });
    const first = f.fault(7, 105, "move", new Error("boom"), 10_000);
    expect(first.action).toBe("relocate");
    expect(first.trace).toMatchObject({ user: 7, server: "field-1", tick: 105, type: "move", error: "boom", faultsInWindow: 1 });
    expect(first.trace.stack).toContain("boom");
    expect(first.trace.recent.map((r) => r.tick)).toEqual([102, 103, 104]); // only the last 3
    expect(first.trace.recent[0]!.body).toBe('{"seq":2,"x":2,"y":0}');
    expect(f.fault(7, 106, "move", "not an Error", 10_100).action).toBe("relocate");
    expect(f.fault(7, 107, "move", new Error("again"), 10_200).action).toBe("kick");
    // another user is unaffected; the window slides
    expect(f.fault(8, 1, "move", new Error("x"), 10_200).action).toBe("relocate");
    expect(f.fault(7, 108, "move", new Error("later"), 20_000)).toMatchObject({ action: "relocate", trace: { faultsInWindow: 1 } });
  });

  it("injects a given number of faults for one user only", () => {
    const f = new FaultIsolation({ server: "s" });
    f.inject(1, 2);
    expect(() => f.maybeThrow(2)).not.toThrow();
    expect(() => f.maybeThrow(1)).toThrow(InjectedFault);
    expect(() => f.maybeThrow(1)).toThrow(InjectedFault);
    expect(() => f.maybeThrow(1)).not.toThrow();
  });

  it("trace lines read as a trail", () => {
    const base = { at: "2026-11-23T10:00:00.000Z", userId: 7, node: "field-1" };
    expect(traceLine({ ...base, kind: "login", detail: { gateway: "gw-1", zone: "z1" } })).toContain("login via gw-1 into z1");
    expect(traceLine({ ...base, kind: "transfer", detail: { from: "z1", to: "z2", server: "field-1" } })).toContain("transfer z1 → z2");
    const err = traceLine({ ...base, kind: "error", detail: { type: "move", tick: 9, error: "boom", action: "kick", stack: "Error: boom\n    at handler (x.ts:1)" } });
    expect(err).toContain("ERROR in 'move' at tick 9: boom — disconnected (crash loop); at handler (x.ts:1)");
  });
});

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { MemberInfo } from "../../src/core/cluster/types.js";
import { collectZoneLoad, planPlacement, samePlacement, type PlanInput } from "../../src/coordinator/placement-rules.js";

function field(id: string, zones: string[], load = 0, zoneLoad?: Record<string, number>): MemberInfo {
  return { role: "field", id, host: "127.0.0.1", opsPort: 1, linkPorts: [1], zones, colour: "blue", version: "t", load, startedAt: 0, ...(zoneLoad ? { zoneLoad } : {}) };
}

function input(p: Partial<PlanInput>): PlanInput {
  return { current: {}, members: [], absentInGrace: new Set(), draining: new Set(), zoneLoad: new Map(), now: 1000, ...p };
}

describe("planPlacement", () => {
  it("places unplaced zones on the least loaded capable server, spreading empty zones", () => {
    const plan = planPlacement(input({ members: [field("f1", ["a", "b"]), field("f2", ["a", "b"])] }));
    expect(plan.zones.a!.server).toBe("f1");
    expect(plan.zones.b!.server).toBe("f2");
    expect(plan.moves.map((m) => m.reason)).toEqual(["unplaced", "unplaced"]);
  });

  it("keeps zones on live servers even when load is uneven (no rebalancing by itself)", () => {
    const current = { a: { server: "f1", since: 1 }, b: { server: "f1", since: 1 } };
    const plan = planPlacement(input({ current, members: [field("f1", ["a", "b"], 500), field("f2", ["a", "b"], 0)] }));
    expect(plan.moves).toEqual([]);
    expect(plan.zones).toEqual(current);
  });

  it("moves the zones of a gone server to survivors by projected load, keeps the rest", () => {
    const current = { a: { server: "f1", since: 1 }, b: { server: "f2", since: 1 }, c: { server: "f2", since: 1 } };
    const members = [field("f1", ["a", "b", "c"], 100), field("f3", ["a", "b", "c"], 0)];
    const plan = planPlacement(input({ current, members, zoneLoad: new Map([["b", 300], ["c", 5]]) }));
    expect(plan.zones.a).toEqual(current.a);
    expect(plan.zones.b!.server).toBe("f3"); // f3 (0) < f1 (100); then f3 = 310
    expect(plan.zones.c!.server).toBe("f1"); // f1 (100) < f3 (310)
    expect(plan.moves.every((m) => m.reason === "server-gone" && m.from === "f2")).toBe(true);
  });

  it("a server absent within the grace period keeps its zones", () => {
    const current = { a: { server: "f1", since: 1 } };
    const plan = planPlacement(input({ current, members: [field("f2", ["a"])], absentInGrace: new Set(["f1"]) }));
    expect(plan.moves).toEqual([]);
    expect(plan.zones.a!.server).toBe("f1");
  });

  it("drains: zones leave a draining server; with no other capable server they stay", () => {
    const current = { a: { server: "f1", since: 1 }, b: { server: "f1", since: 1 } };
    const plan = planPlacement(input({ current, members: [field("f1", ["a", "b"]), field("f2", ["a"])], draining: new Set(["f1"]) }));
    expect(plan.zones.a!.server).toBe("f2");
    expect(plan.zones.b!.server).toBe("f1");
    expect(plan.moves).toEqual([{ zone: "a", from: "f1", to: "f2", reason: "draining" }]);
  });

  it("a zone nobody can host any more is removed", () => {
    const plan = planPlacement(input({ current: { a: { server: "f1", since: 1 } }, members: [field("f2", ["b"])] }));
    expect(plan.zones.a).toBeUndefined();
    expect(plan.moves).toContainEqual({ zone: "a", from: "f1", to: undefined, reason: "no-server" });
  });

  const zoneNames = ["a", "b", "c", "d", "e"];
  const arbMembers = fc.uniqueArray(
    fc.record({ id: fc.constantFrom("f1", "f2", "f3", "f4"), zones: fc.subarray(zoneNames), load: fc.nat(1000) }),
    { selector: (m) => m.id, maxLength: 4 },
  );
  const arbInput = fc
    .record({
      members: arbMembers,
      currentServers: fc.dictionary(fc.constantFrom(...zoneNames), fc.constantFrom("f1", "f2", "f3", "f4", "f9")),
      draining: fc.subarray(["f1", "f2", "f3", "f4"]),
      grace: fc.subarray(["f1", "f2", "f3", "f4", "f9"]),
    })
    .map((r) =>
      input({
        members: r.members.map((m) => field(m.id, m.zones, m.load)),
        current: Object.fromEntries(Object.entries(r.currentServers).map(([z, s]) => [z, { server: s, since: 1 }])),
        draining: new Set(r.draining),
        absentInGrace: new Set(r.grace.filter((g) => !r.members.some((m) => m.id === g))),
      }),
    );

  it("property: idempotent — planning again from the result moves nothing", () => {
    fc.assert(
      fc.property(arbInput, (inp) => {
        const first = planPlacement(inp);
        const second = planPlacement({ ...inp, current: first.zones });
        expect(second.moves).toEqual([]);
        expect(samePlacement(second.zones, first.zones)).toBe(true);
      }),
    );
  });

  it("property: minimal — a zone whose server is usable never moves; every move targets an eligible server", () => {
    fc.assert(
      fc.property(arbInput, (inp) => {
        const plan = planPlacement(inp);
        for (const [zone, cur] of Object.entries(inp.current)) {
          const m = inp.members.find((x) => x.id === cur.server);
          const usable = (m && !inp.draining.has(m.id) && m.zones!.includes(zone)) || (!m && inp.absentInGrace.has(cur.server));
          if (usable) expect(plan.zones[zone]).toEqual(cur);
        }
        for (const mv of plan.moves) {
          if (mv.to === undefined) continue;
          const m = inp.members.find((x) => x.id === mv.to)!;
          expect(m.zones).toContain(mv.zone);
          expect(inp.draining.has(m.id)).toBe(false);
        }
      }),
    );
  });

  it("property: complete — every zone some eligible server can host is placed", () => {
    fc.assert(
      fc.property(arbInput, (inp) => {
        const plan = planPlacement(inp);
        for (const m of inp.members) {
          if (inp.draining.has(m.id)) continue;
          for (const z of m.zones ?? []) expect(plan.zones[z]).toBeDefined();
        }
      }),
    );
  });
});

describe("collectZoneLoad", () => {
  it("prefers the hosting server's figure and keeps older estimates for zones nobody reports", () => {
    const members = [field("f1", ["a"], 0, { a: 3 }), field("f2", ["a", "b"], 0, { a: 9, b: 4 })];
    const out = collectZoneLoad(members, { a: { server: "f2", since: 0 } }, new Map([["c", 7]]));
    expect(Object.fromEntries(out)).toEqual({ a: 9, b: 4, c: 7 });
  });
});

describe("planPlacement: holdNew", () => {
  it("leaves new zones unplaced while servers are joining, but still re-places those of a gone server", () => {
    const plan = planPlacement(
      input({ current: { a: { server: "f9", since: 1 } }, members: [field("f1", ["a", "b"]), field("f2", ["a", "b"])], holdNew: true }),
    );
    expect(plan.zones.b).toBeUndefined();
    expect(plan.zones.a!.server).toBe("f1");
    expect(plan.moves).toEqual([{ zone: "a", from: "f9", to: "f1", reason: "server-gone" }]);
  });
});

describe("planPlacement: channels (rule 5)", () => {
  const members = [field("f1", ["a"], 100), field("f2", ["a"], 0)];
  const base = { current: { a: { server: "f1", since: 1 } }, members, channelCapacity: 50, now: 100_000 };

  it("opens channel 2 on the least loaded server when every channel is full", () => {
    const plan = planPlacement(input({ ...base, zoneLoad: new Map([["a", 50]]) }));
    expect(plan.zones["a#2"]).toEqual({ server: "f2", since: 100_000 });
    expect(plan.moves).toEqual([{ zone: "a#2", from: undefined, to: "f2", reason: "channel-added" }]);
    // and not again on the next pass (the new channel has room)
    const again = planPlacement(input({ ...base, current: plan.zones, zoneLoad: new Map([["a", 50]]) }));
    expect(again.moves).toEqual([]);
  });

  it("does not open one while a channel has room, nor while servers are joining, nor with capacity 0", () => {
    expect(planPlacement(input({ ...base, zoneLoad: new Map([["a", 49]]) })).moves).toEqual([]);
    expect(planPlacement(input({ ...base, zoneLoad: new Map([["a", 80]]), holdNew: true })).moves).toEqual([]);
    expect(planPlacement(input({ ...base, zoneLoad: new Map([["a", 80]]), channelCapacity: 0 })).moves).toEqual([]);
  });

  it("closes an empty extra channel once idle long enough and the others have room — never one with users", () => {
    const current = { a: { server: "f1", since: 1 }, "a#2": { server: "f2", since: 50_000 } };
    const idle = { ...base, current, channelIdleMs: 60_000 };
    expect(planPlacement(input({ ...idle, zoneLoad: new Map([["a", 10], ["a#2", 0]]) })).moves).toEqual([]); // too young
    const later = { ...idle, now: 120_000 };
    const closed = planPlacement(input({ ...later, zoneLoad: new Map([["a", 10], ["a#2", 0]]) }));
    expect(closed.zones["a#2"]).toBeUndefined();
    expect(closed.moves).toEqual([{ zone: "a#2", from: "f2", to: undefined, reason: "channel-removed" }]);
    expect(planPlacement(input({ ...later, zoneLoad: new Map([["a", 10], ["a#2", 1]]) })).moves).toEqual([]);
    expect(planPlacement(input({ ...later, zoneLoad: new Map([["a", 50], ["a#2", 0]]) })).moves).toEqual([]); // no room
  });

  it("a channel whose server is gone is re-placed like a zone", () => {
    const current = { a: { server: "f1", since: 1 }, "a#2": { server: "f9", since: 1 } };
    const plan = planPlacement(input({ ...base, current, zoneLoad: new Map([["a", 10]]) }));
    expect(plan.zones["a#2"]!.server).toBe("f2");
    expect(plan.moves).toEqual([{ zone: "a#2", from: "f9", to: "f2", reason: "server-gone" }]);
  });
});

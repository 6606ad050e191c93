/** planInstances (src/coordinator/instance-rules.ts): every rule, plus properties over random inputs. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { InstanceRequest } from "../../src/core/cluster/instances.js";
import type { MemberInfo } from "../../src/core/cluster/types.js";
import { INSTANCE_BASE_LOAD, planInstances, type InstancePlanInput } from "../../src/coordinator/instance-rules.js";

function dungeon(id: string, load = 0): MemberInfo {
  return { role: "dungeon", id, host: "127.0.0.1", opsPort: 1, linkPorts: [1], colour: "blue", version: "t", load, startedAt: 0 };
}

function request(home = "z1"): InstanceRequest {
  return { kind: "crypt", home, party: [{ user: 1, x: 1, y: 2 }], requestedBy: "f1", requestedAt: 1 };
}

function requests(...keys: string[]): Map<string, InstanceRequest> {
  return new Map(keys.map((k) => [k, request(k.slice(k.indexOf("@") + 1))]));
}

function input(p: Partial<InstancePlanInput>): InstancePlanInput {
  return { current: {}, requests: new Map(), dungeons: [], draining: new Set(), now: 1000, ...p };
}

describe("planInstances", () => {
  it("places a request on the least loaded dungeon server (CCU + 4 per instance), ties by id", () => {
    const current = { "d0000000001@z1": { server: "a", since: 1 } };
    // a: 10 + 4×1 = 14, b: 13, c: 13 → b (tie with c broken by id)
    const plan = planInstances(input({ current, requests: requests("d0000000001@z1", "d0000000002@z1"), dungeons: [dungeon("c", 13), dungeon("a", 10), dungeon("b", 13)] }));
    expect(plan.placed).toEqual([{ key: "d0000000002@z1", server: "b" }]);
    expect(plan.instances).toEqual({ ...current, "d0000000002@z1": { server: "b", since: 1000 } });
    expect(plan.removed).toEqual([]);
    expect(plan.deleteRequests).toEqual([]);
    expect(plan.unplaced).toEqual([]);
  });

  it("counts instances placed earlier in the same pass", () => {
    // a: 0, b: 5 → first on a (a = 4), second on a (4 < 5, a = 8), third on b (5 < 8)
    const plan = planInstances(input({ requests: requests("d1@z1", "d2@z1", "d3@z2"), dungeons: [dungeon("a", 0), dungeon("b", 5)] }));
    expect(plan.placed).toEqual([
      { key: "d1@z1", server: "a" },
      { key: "d2@z1", server: "a" },
      { key: "d3@z2", server: "b" },
    ]);
    expect(INSTANCE_BASE_LOAD).toBe(4);
  });

  it("an entry whose request node is gone is removed as destroyed (its request is not deleted)", () => {
    const current = { "d1@z1": { server: "a", since: 1 }, "d2@z1": { server: "a", since: 1 } };
    const plan = planInstances(input({ current, requests: requests("d2@z1"), dungeons: [dungeon("a")] }));
    expect(plan.instances).toEqual({ "d2@z1": current["d2@z1"] });
    expect(plan.removed).toEqual([{ key: "d1@z1", server: "a", reason: "destroyed" }]);
    expect(plan.deleteRequests).toEqual([]);
  });

  it("an entry on a server that is gone is removed, its request must be deleted, and it is not re-placed", () => {
    const current = { "d1@z1": { server: "gone", since: 1 } };
    const plan = planInstances(input({ current, requests: requests("d1@z1"), dungeons: [dungeon("a")] }));
    expect(plan.instances).toEqual({});
    expect(plan.removed).toEqual([{ key: "d1@z1", server: "gone", reason: "server-gone" }]);
    expect(plan.deleteRequests).toEqual(["d1@z1"]);
    expect(plan.placed).toEqual([]);
    expect(plan.unplaced).toEqual([]);
  });

  it("an entry whose server and request are both gone counts as destroyed only", () => {
    const plan = planInstances(input({ current: { "d1@z1": { server: "gone", since: 1 } }, dungeons: [dungeon("a")] }));
    expect(plan.removed).toEqual([{ key: "d1@z1", server: "gone", reason: "destroyed" }]);
    expect(plan.deleteRequests).toEqual([]);
  });

  it("draining servers keep their instances but get no new ones", () => {
    const current = { "d1@z1": { server: "a", since: 1 } };
    const plan = planInstances(input({ current, requests: requests("d1@z1", "d2@z1"), dungeons: [dungeon("a", 0), dungeon("b", 100)], draining: new Set(["a"]) }));
    expect(plan.instances).toEqual({ "d1@z1": current["d1@z1"], "d2@z1": { server: "b", since: 1000 } });
    expect(plan.removed).toEqual([]);
  });

  it("never moves a live instance, however uneven the load", () => {
    const current = { "d1@z1": { server: "a", since: 1 }, "d2@z1": { server: "a", since: 1 } };
    const plan = planInstances(input({ current, requests: requests("d1@z1", "d2@z1"), dungeons: [dungeon("a", 1000), dungeon("b", 0)] }));
    expect(plan.instances).toEqual(current);
    expect(plan.placed).toEqual([]);
    expect(plan.removed).toEqual([]);
  });

  it("with no eligible dungeon server a request stays unplaced", () => {
    expect(planInstances(input({ requests: requests("d1@z1") })).unplaced).toEqual(["d1@z1"]);
    const plan = planInstances(input({ requests: requests("d2@z1", "d1@z1"), dungeons: [dungeon("a")], draining: new Set(["a"]) }));
    expect(plan.unplaced).toEqual(["d1@z1", "d2@z1"]);
    expect(plan.instances).toEqual({});
    expect(plan.placed).toEqual([]);
  });

  describe("properties", () => {
    const ids = ["a", "b", "c", "d"];
    const keys = ["d1@z1", "d2@z1", "d3@z2", "d4@z2", "d5@z3", "d6@z1"];
    const arbInput: fc.Arbitrary<InstancePlanInput> = fc
      .record({
        live: fc.subarray(ids),
        loads: fc.array(fc.integer({ min: 0, max: 50 }), { minLength: ids.length, maxLength: ids.length }),
        draining: fc.subarray(ids),
        current: fc.dictionary(fc.constantFrom(...keys), fc.record({ server: fc.constantFrom(...ids, "x"), since: fc.integer({ min: 0, max: 999 }) })),
        requested: fc.subarray(keys),
      })
      .map(({ live, loads, draining, current, requested }) => ({
        current,
        requests: requests(...requested),
        dungeons: live.map((id) => dungeon(id, loads[ids.indexOf(id)]!)),
        draining: new Set(draining),
        now: 1000,
      }));

    it("every request is placed iff an eligible dungeon exists; nothing lands on a draining or gone server unless it was there and alive", () => {
      fc.assert(
        fc.property(arbInput, (inp) => {
          const plan = planInstances(inp);
          const live = new Set(inp.dungeons.map((m) => m.id));
          const eligible = inp.dungeons.some((m) => !inp.draining.has(m.id));
          const lost = new Set(plan.deleteRequests);
          for (const key of inp.requests.keys()) {
            if (lost.has(key)) {
              expect(plan.instances[key]).toBeUndefined();
              continue;
            }
            if (eligible) expect(plan.instances[key]).toBeDefined();
            else expect(plan.instances[key] !== undefined || plan.unplaced.includes(key)).toBe(true);
            expect(plan.instances[key] !== undefined).toBe(!plan.unplaced.includes(key));
          }
          for (const [key, p] of Object.entries(plan.instances)) {
            expect(inp.requests.has(key)).toBe(true);
            expect(live.has(p.server)).toBe(true);
            const before = inp.current[key];
            if (before) expect(p).toEqual(before); // a live instance never moves
            else expect(inp.draining.has(p.server)).toBe(false);
          }
          // every entry of the input is kept or removed, never both
          for (const key of Object.keys(inp.current)) expect(plan.instances[key] !== undefined).toBe(!plan.removed.some((r) => r.key === key));
        }),
        { numRuns: 500 },
      );
    });

    it("is idempotent: planning again on the output (deleted requests gone) changes nothing", () => {
      fc.assert(
        fc.property(arbInput, (inp) => {
          const first = planInstances(inp);
          const remaining = new Map([...inp.requests].filter(([k]) => !first.deleteRequests.includes(k)));
          const second = planInstances({ ...inp, current: first.instances, requests: remaining, now: inp.now + 1 });
          expect(second.instances).toEqual(first.instances);
          expect(second.placed).toEqual([]);
          expect(second.removed).toEqual([]);
          expect(second.deleteRequests).toEqual([]);
          expect(second.unplaced).toEqual(first.unplaced);
        }),
        { numRuns: 500 },
      );
    });
  });
});

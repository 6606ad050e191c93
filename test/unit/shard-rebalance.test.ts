import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isRiftError } from "../../src/core/errors.js";
import { MAX_USERS_PER_MESSAGE, MemoryMappingHub, parseChange, splitChange, type MappingChange } from "../../src/shard/mapping-bus.js";
import { planRebalance } from "../../src/shard/rebalance.js";
import { progressBar, renderProgress } from "../../src/tools/opsctl/progress.js";

describe("planRebalance", () => {
  it("moves the asked fraction of every other shard to the target", () => {
    const counts = new Map([["shard0", 600], ["shard1", 300], ["shard2", 0]]);
    expect(planRebalance({ counts, to: "shard2", fraction: 1 / 3 })).toEqual([
      { from: "shard0", to: "shard2", count: 200 },
      { from: "shard1", to: "shard2", count: 100 },
    ]);
  });

  it("by default gives the target an even share, taken in proportion", () => {
    const counts = new Map([["a", 500], ["b", 500], ["c", 0]]);
    const plan = planRebalance({ counts, to: "c" });
    const total = plan.reduce((n, s) => n + s.count, 0);
    expect(Math.abs(total - 333)).toBeLessThanOrEqual(1); // per-shard rounding
    expect(plan.map((s) => s.from)).toEqual(["a", "b"]);
  });

  it("plans nothing when the target already has its share, and rejects unknown shards / bad fractions", () => {
    expect(planRebalance({ counts: new Map([["a", 10], ["b", 10]]), to: "b" })).toEqual([]);
    expect(() => planRebalance({ counts: new Map([["a", 1]]), to: "zz" })).toThrow(/SHARD_UNKNOWN|no such shard/);
    try {
      planRebalance({ counts: new Map([["a", 1], ["b", 1]]), to: "b", fraction: 2 });
    } catch (e) {
      expect(isRiftError(e, "USAGE")).toBe(true);
    }
  });

  it("never plans more users than a shard has, never from the target itself (property)", () => {
    fc.assert(
      fc.property(fc.array(fc.nat(100_000), { minLength: 1, maxLength: 8 }), fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { nil: undefined }), (sizes, f) => {
        const counts = new Map(sizes.map((n, i) => [`s${i}`, n]));
        const plan = planRebalance({ counts, to: "s0", ...(f !== undefined ? { fraction: f } : {}) });
        for (const st of plan) {
          expect(st.from).not.toBe("s0");
          expect(st.count).toBeGreaterThan(0);
          expect(st.count).toBeLessThanOrEqual(counts.get(st.from)!);
        }
      }),
    );
  });
});

describe("mapping bus messages", () => {
  it("splits big user lists and parses only well-formed messages", () => {
    const users = Array.from({ length: 2 * MAX_USERS_PER_MESSAGE + 5 }, (_, i) => i + 1);
    const parts = splitChange({ kind: "users", users });
    expect(parts.map((p) => (p.kind === "users" ? p.users.length : 0))).toEqual([MAX_USERS_PER_MESSAGE, MAX_USERS_PER_MESSAGE, 5]);
    for (const p of parts) expect(parseChange(JSON.stringify(p))).toEqual(p);
    expect(parseChange(JSON.stringify({ kind: "all" }))).toEqual({ kind: "all" });
    expect(parseChange("not json")).toBeUndefined();
    expect(parseChange(JSON.stringify({ kind: "users", users: [-1] }))).toBeUndefined();
    expect(parseChange(JSON.stringify({ kind: "drop tables" }))).toBeUndefined();
  });

  it("the in-memory hub delivers to every subscriber until it unsubscribes or closes", async () => {
    const hub = new MemoryMappingHub();
    const a = hub.bus();
    const b = hub.bus();
    const got: MappingChange[] = [];
    const off = b.subscribe((c) => got.push(c));
    await a.publish({ kind: "users", users: [1, 2] });
    off();
    await a.publish({ kind: "shards" });
    expect(got).toEqual([{ kind: "users", users: [1, 2] }]);
  });
});

describe("progress bar", () => {
  it("renders counts, percent, rate and eta", () => {
    const line = renderProgress("move", 250, 1000, 5, "skipped 0", 10);
    expect(line).toBe("move [###-------] 250/1000 (25%) 50/s, eta 15s · skipped 0");
  });

  it("prints one line per 10% when not on a terminal, and a final line", () => {
    const lines: string[] = [];
    let now = 0;
    const bar = progressBar({ write: (x) => lines.push(x), isTTY: false }, "r", 100, () => now);
    for (let i = 0; i <= 100; i += 5) {
      now += 100;
      bar.update(i);
    }
    bar.finish();
    expect(lines.length).toBe(12);
    expect(lines.at(-1)).toMatch(/100\/100 \(100%\)/);
  });
});

/** Weighted shard choice and the LRU cache (pure). */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { LruCache, pickWeighted, userHash } from "../../src/shard/weighted.js";

describe("pickWeighted", () => {
  it("is deterministic and independent of row order", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), (id) => {
        const a = pickWeighted(id, [{ name: "s0", weight: 2 }, { name: "s1", weight: 1 }, { name: "s2", weight: 5 }]);
        const b = pickWeighted(id, [{ name: "s2", weight: 5 }, { name: "s0", weight: 2 }, { name: "s1", weight: 1 }]);
        expect(a).toBe(b);
      }),
    );
  });

  it("follows the weights and never picks weight 0", () => {
    const counts = new Map<string, number>();
    for (let id = 1; id <= 20_000; id++) {
      const s = pickWeighted(id, [{ name: "a", weight: 3 }, { name: "b", weight: 1 }, { name: "c", weight: 0 }])!;
      counts.set(s, (counts.get(s) ?? 0) + 1);
    }
    expect(counts.get("c")).toBeUndefined();
    const ratio = counts.get("a")! / counts.get("b")!;
    expect(ratio).toBeGreaterThan(2.8);
    expect(ratio).toBeLessThan(3.2);
  });

  it("returns undefined without a positive weight", () => {
    expect(pickWeighted(1, [])).toBeUndefined();
    expect(pickWeighted(1, [{ name: "a", weight: 0 }])).toBeUndefined();
  });

  it("hashes ids to 48 bits", () => {
    expect(userHash(1)).not.toBe(userHash(2));
    expect(userHash(1)).toBeLessThan(2 ** 48);
    expect(userHash(1)).toBe(userHash(1));
  });
});

describe("LruCache", () => {
  it("evicts the least recently used entry beyond capacity", () => {
    const c = new LruCache<number, string>(2);
    c.set(1, "a");
    c.set(2, "b");
    expect(c.get(1)).toBe("a"); // 1 is now most recent
    c.set(3, "c");
    expect(c.get(2)).toBeUndefined();
    expect(c.get(1)).toBe("a");
    expect(c.get(3)).toBe("c");
    expect(c.size).toBe(2);
    c.delete(1);
    expect(c.get(1)).toBeUndefined();
  });
});

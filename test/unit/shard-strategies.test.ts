import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { measureResharding } from "../../bench/resharding/main.js";
import { imbalance, mappingTable, modulo2N, moduloN, movedFraction } from "../../src/shard/strategies.js";

const shards = (n: number) => Array.from({ length: n }, (_, i) => `s${i}`);
const users = Array.from({ length: 4096 }, (_, i) => i * 7919 + 13);

describe("shard strategies", () => {
  it("modulo-N: user mod N; growing 3 → 4 moves 3/4 of the users", () => {
    expect(moduloN.shardOf(10, shards(3))).toBe("s1");
    expect(movedFraction(moduloN, users, shards(3), shards(4))).toBeCloseTo(0.75, 1);
  });

  it("modulo-2^N (linear hashing): buckets mod 2^k, a bucket beyond N folds onto its half", () => {
    expect(modulo2N.shardOf(6, shards(3))).toBe("s2"); // 6 mod 4 = 2 < 3
    expect(modulo2N.shardOf(7, shards(3))).toBe("s1"); // 7 mod 4 = 3 ≥ 3 → 3 − 2
    expect(movedFraction(modulo2N, users, shards(3), shards(4))).toBeCloseTo(0.25, 1);
  });

  it("property: modulo-2^N moves users only to the newly added shard", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 15 }), fc.nat(2 ** 31 - 1), (n, user) => {
        const a = modulo2N.shardOf(user, shards(n));
        const b = modulo2N.shardOf(user, shards(n + 1));
        expect(b === a || b === `s${n}`).toBe(true);
      }),
    );
  });

  it("mapping table: adding shards moves nobody; existing users keep their shard", () => {
    expect(movedFraction(mappingTable(2), users, shards(2), shards(8))).toBe(0);
    expect(imbalance(mappingTable(2), users, shards(4))).toBeCloseTo(2, 1); // until new users / a rebalance fill the new shards
  });

  it("the bench's rows: modulo-N moves about twice the minimum on 2 → 3, the mapping table 0", () => {
    const rows = measureResharding(users, [2, 3]);
    const mod = rows.find((r) => r.strategy === "modulo-N")!;
    expect(mod.minimum).toBeCloseTo(1 / 3, 5);
    expect(mod.moved).toBeCloseTo(2 / 3, 1);
    expect(rows.find((r) => r.strategy === "mapping-table")!.moved).toBe(0);
  });
});

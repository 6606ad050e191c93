import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { applyMove, budgetCapacity, budgetRatePerMs, newMotion } from "../../src/game/movement.js";
import type { FieldRules } from "../../src/game/rules.js";

const rules: FieldRules = { worldSize: 1000, cellSize: 100, maxSpeed: 5, movesPerSec: 10, burstMoves: 3 };
const EPS = 1e-3; // f32 rounding of positions near 1000 is ~6e-5 per step

describe("movement validation", () => {
  it("applies a short move exactly and records the seq", () => {
    const m = newMotion(500, 500, 0, rules);
    const out = applyMove(m, { seq: 1, x: 503, y: 504 }, 0, rules);
    expect(out).toEqual({ kind: "applied", distance: 5, clamped: false });
    expect([m.x, m.y, m.seq]).toEqual([503, 504, 1]);
  });

  it("clamps a far target to maxSpeed toward it (no teleport)", () => {
    const m = newMotion(500, 500, 0, rules);
    const out = applyMove(m, { seq: 1, x: 900, y: 500 }, 0, rules);
    expect(out.kind).toBe("applied");
    expect(m.x).toBeCloseTo(505, 4);
    expect(m.y).toBe(500);
  });

  it("drops replayed and out-of-order sequence numbers without moving", () => {
    const m = newMotion(500, 500, 0, rules);
    applyMove(m, { seq: 5, x: 501, y: 500 }, 0, rules);
    expect(applyMove(m, { seq: 5, x: 504, y: 500 }, 100, rules)).toEqual({ kind: "replay" });
    expect(applyMove(m, { seq: 3, x: 504, y: 500 }, 100, rules)).toEqual({ kind: "replay" });
    expect([m.x, m.seq]).toEqual([501, 5]);
  });

  it("accepts seq 0 as the first move of a session", () => {
    const m = newMotion(10, 10, 0, rules);
    expect(applyMove(m, { seq: 0, x: 11, y: 10 }, 0, rules).kind).toBe("applied");
  });

  it("clamps positions to the world bounds", () => {
    const m = newMotion(1, 999, 0, rules);
    applyMove(m, { seq: 1, x: -50, y: 2000 }, 0, rules);
    expect(m.x).toBeGreaterThanOrEqual(0);
    expect(m.y).toBeLessThanOrEqual(1000);
    const far = newMotion(-10, 5000, 0, rules);
    expect([far.x, far.y]).toEqual([0, 1000]);
  });

  it("a flood of moves in the same millisecond is limited by the burst budget", () => {
    const m = newMotion(500, 500, 0, rules);
    let total = 0;
    for (let i = 1; i <= 100; i++) {
      const out = applyMove(m, { seq: i, x: m.x + 100, y: 500 }, 0, rules);
      if (out.kind === "applied") total += out.distance;
    }
    expect(total).toBeLessThanOrEqual(budgetCapacity(rules) + EPS);
    expect(m.seq).toBe(100); // every move was accepted, distance was not
  });

  it("the budget refills over time", () => {
    const m = newMotion(500, 500, 0, rules);
    for (let i = 1; i <= 3; i++) applyMove(m, { seq: i, x: 1000, y: 500 }, 0, rules);
    expect(applyMove(m, { seq: 4, x: 1000, y: 500 }, 0, rules)).toMatchObject({ distance: 0 });
    const out = applyMove(m, { seq: 5, x: 1000, y: 500 }, 100, rules);
    expect(out).toMatchObject({ kind: "applied" });
    expect((out as { distance: number }).distance).toBeCloseTo(5, 3);
  });

  it("property: whatever the inputs, no window of moves exceeds the budget and no step exceeds maxSpeed", () => {
    const input = fc.array(
      fc.record({
        dt: fc.integer({ min: 0, max: 300 }),
        seq: fc.integer({ min: 0, max: 50 }),
        x: fc.double({ min: -2000, max: 3000, noNaN: true }),
        y: fc.double({ min: -2000, max: 3000, noNaN: true }),
      }),
      { minLength: 1, maxLength: 60 },
    );
    fc.assert(
      fc.property(fc.double({ min: 0, max: 1000, noNaN: true }), fc.double({ min: 0, max: 1000, noNaN: true }), input, (x0, y0, moves) => {
        const m = newMotion(x0, y0, 0, rules);
        let now = 0;
        const trace: { t: number; d: number }[] = [];
        for (const mv of moves) {
          now += mv.dt;
          const before = { x: m.x, y: m.y, seq: m.seq };
          const out = applyMove(m, mv, now, rules);
          const d = Math.hypot(m.x - before.x, m.y - before.y);
          if (out.kind === "replay") {
            expect(mv.seq).toBeLessThanOrEqual(before.seq);
            expect(m).toMatchObject(before);
          } else {
            expect(m.seq).toBe(mv.seq);
          }
          expect(d).toBeLessThanOrEqual(rules.maxSpeed + EPS);
          expect(m.x).toBeGreaterThanOrEqual(0);
          expect(m.x).toBeLessThanOrEqual(rules.worldSize);
          expect(m.y).toBeGreaterThanOrEqual(0);
          expect(m.y).toBeLessThanOrEqual(rules.worldSize);
          trace.push({ t: now, d });
        }
        // any window [i, j]: distance <= capacity + rate * (t_j - t_i)
        for (let i = 0; i < trace.length; i++) {
          let sum = 0;
          for (let j = i; j < trace.length; j++) {
            sum += trace[j]!.d;
            const allowed = budgetCapacity(rules) + budgetRatePerMs(rules) * (trace[j]!.t - trace[i]!.t);
            expect(sum).toBeLessThanOrEqual(allowed + EPS * (j - i + 1));
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});

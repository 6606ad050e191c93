import { describe, expect, it } from "vitest";
import { InputGuard } from "../../src/core/scene/input-guard.js";

describe("InputGuard (full packet queue policy)", () => {
  it("reports 'kick' exactly once when a user reaches maxDrops within the window", () => {
    const g = new InputGuard(3, 1000);
    expect([g.dropped(1, 0), g.dropped(1, 10), g.dropped(1, 20), g.dropped(1, 30)]).toEqual(["ok", "ok", "kick", "ok"]);
    expect(g.dropped(2, 30)).toBe("ok"); // per user
  });

  it("starts counting afresh in a new window", () => {
    const g = new InputGuard(3, 1000);
    g.dropped(1, 0);
    g.dropped(1, 10);
    expect(g.dropped(1, 1500)).toBe("ok");
    expect(g.dropped(1, 1510)).toBe("ok");
    expect(g.dropped(1, 1520)).toBe("kick");
  });

  it("forget and sweep drop the state", () => {
    const g = new InputGuard(2, 1000);
    g.dropped(1, 0);
    g.forget(1);
    expect(g.dropped(1, 1)).toBe("ok");
    g.sweep(5000);
    expect(g.dropped(1, 5001)).toBe("ok");
  });
});

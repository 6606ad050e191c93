import { describe, expect, it } from "vitest";
import { mergeHooks, type SceneContext, type SceneHooks } from "../../src/core/scene/handlers.js";
import type { Session } from "../../src/core/scene/sessions.js";

describe("mergeHooks", () => {
  const ctx = {} as SceneContext;
  const s = { user: 7 } as Session;

  it("runs every role's hooks in order, skipping absent ones", () => {
    const calls: string[] = [];
    const a: SceneHooks = { entered: (_c, x) => calls.push(`a.entered ${x.user}`), tick: () => calls.push("a.tick") };
    const b: SceneHooks = { leaving: (_c, x) => calls.push(`b.leaving ${x.user}`), tick: () => calls.push("b.tick") };
    const m = mergeHooks(a, undefined, b);
    m.entered!(ctx, s);
    m.leaving!(ctx, s);
    m.tick!(ctx);
    expect(calls).toEqual(["a.entered 7", "b.leaving 7", "a.tick", "b.tick"]);
  });

  it("a hook that throws does not stop the others; the first error surfaces after all ran", () => {
    const calls: string[] = [];
    const m = mergeHooks(
      { tick: () => { calls.push("a"); throw new Error("first"); } },
      { tick: () => { calls.push("b"); throw new Error("second"); } },
      { tick: () => void calls.push("c") },
    );
    expect(() => m.tick!(ctx)).toThrow("first");
    expect(calls).toEqual(["a", "b", "c"]);
  });
});

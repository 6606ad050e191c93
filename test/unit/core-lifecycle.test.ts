import { describe, expect, it } from "vitest";
import { Lifecycle } from "../../src/core/lifecycle.js";
import { silentLogger } from "../../src/core/log.js";

describe("lifecycle", () => {
  it("runs hooks in reverse order, once, even when one fails", async () => {
    const order: string[] = [];
    const lc = new Lifecycle({ deadlineMs: 5000, log: silentLogger() });
    lc.onShutdown("db", () => void order.push("db"));
    lc.onShutdown("broken", () => {
      order.push("broken");
      throw new Error("boom");
    });
    lc.onShutdown("http", async () => {
      await Promise.resolve();
      order.push("http");
    });
    await Promise.all([lc.shutdown("test"), lc.shutdown("again")]);
    expect(order).toEqual(["http", "broken", "db"]);
    expect(lc.shuttingDown).toBe(true);
  });

  it("calls onDeadline when a hook hangs", async () => {
    let fired!: () => void;
    const deadline = new Promise<void>((r) => (fired = r));
    const lc = new Lifecycle({ deadlineMs: 50, log: silentLogger(), onDeadline: () => fired() });
    lc.onShutdown("hang", () => new Promise<void>(() => {}));
    void lc.shutdown("test");
    await deadline; // resolves only through onDeadline; the test times out otherwise
  });
});

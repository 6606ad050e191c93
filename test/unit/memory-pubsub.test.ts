import { describe, expect, it } from "vitest";
import { MemoryPubSub } from "../../src/core/memory-pubsub.js";

describe("MemoryPubSub", () => {
  it("every endpoint hears every emit; unsubscribe and close drop only their own subscriptions", async () => {
    const hub = new MemoryPubSub<[string]>();
    const a = hub.endpoint();
    const b = hub.endpoint();
    const got: string[] = [];
    const offA = a.subscribe((m) => got.push(`a:${m}`));
    b.subscribe((m) => got.push(`b1:${m}`));
    b.subscribe((m) => got.push(`b2:${m}`));
    a.emit("x");
    expect(got).toEqual(["a:x", "b1:x", "b2:x"]);
    offA();
    await b.close();
    b.emit("y");
    expect(got).toEqual(["a:x", "b1:x", "b2:x"]);
    a.subscribe((m) => got.push(`a2:${m}`));
    b.emit("z"); // a closed endpoint may still emit (it only lost its subscriptions)
    expect(got.at(-1)).toBe("a2:z");
  });
});

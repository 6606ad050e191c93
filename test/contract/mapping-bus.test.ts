/**
 * The mapping bus on the real (shared) Redis: changes reach every subscriber, malformed
 * messages are dropped, and a subscriber whose connection was cut reports `{kind: "all"}`
 * (it may have missed messages) and keeps receiving afterwards.
 */
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../src/core/log.js";
import { RedisMappingBus, type MappingChange } from "../../src/shard/mapping-bus.js";
import { getInfra } from "../helpers/infra.js";
import { redisPrefix, type RedisPrefix } from "../helpers/isolation.js";
import { waitFor } from "../helpers/processes.js";

describe("RedisMappingBus", () => {
  let ns: RedisPrefix;
  const buses: RedisMappingBus[] = [];
  let admin: Redis;
  const bus = (connectionName = "rift-mapbus-test") => {
    const b = new RedisMappingBus({ url: ns.url, keyPrefix: ns.prefix, log: silentLogger(), connectionName });
    buses.push(b);
    return b;
  };

  beforeAll(async () => {
    ns = await redisPrefix(getInfra());
    admin = new Redis(ns.url, { maxRetriesPerRequest: 2 });
    admin.on("error", () => {});
  });
  afterAll(async () => {
    for (const b of buses) await b.close();
    admin?.disconnect();
    await ns?.dispose();
  });

  it("delivers published changes to every subscriber and ignores malformed messages", async () => {
    const pub = bus();
    const subs = [bus(), bus()];
    const got: MappingChange[][] = [[], []];
    subs.forEach((s, i) => s.subscribe((c) => got[i]!.push(c)));
    await Promise.all(subs.map((s) => s.ready()));
    await admin.publish(pub.channel, "{not json");
    await pub.publish({ kind: "users", users: Array.from({ length: 1500 }, (_, i) => i + 1) });
    await pub.publish({ kind: "shards" });
    await waitFor(() => got.every((g) => g.length === 3), { timeoutMs: 10_000, intervalMs: 20, what: "3 messages at both subscribers" });
    for (const g of got) {
      expect(g.map((c) => c.kind)).toEqual(["users", "users", "shards"]);
      expect(g.flatMap((c) => (c.kind === "users" ? c.users : []))).toHaveLength(1500);
    }
  });

  it("reports {kind: all} after its connection was cut, then receives again", async () => {
    const pub = bus();
    const name = `rift-mapbus-cut-${process.pid}`;
    const sub = bus(name);
    const got: MappingChange[] = [];
    sub.subscribe((c) => got.push(c));
    await sub.ready();
    // cut the subscriber's connection (found by its client name)
    const clients = (await admin.client("LIST")) as string;
    const mine = clients.split("\n").filter((l) => l.includes(` name=${name} `) && / sub=[1-9]/.test(l)).map((l) => /id=(\d+)/.exec(l)?.[1]).filter((x): x is string => x !== undefined);
    expect(mine.length).toBeGreaterThan(0);
    for (const id of mine) await admin.client("KILL", "ID", id);
    await waitFor(() => got.some((c) => c.kind === "all"), { timeoutMs: 15_000, intervalMs: 50, what: "an {kind: all} after the reconnect" });
    await waitFor(
      async () => {
        await pub.publish({ kind: "users", users: [42] });
        return got.some((c) => c.kind === "users" && c.users.includes(42));
      },
      { timeoutMs: 15_000, intervalMs: 200, what: "messages to flow again" },
    );
  });
});

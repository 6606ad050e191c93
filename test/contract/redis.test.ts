/**
 * Contract: the shared Redis answers commands and delivers pub/sub messages (key and channel
 * names under a per-file prefix).
 */
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { withTimeout } from "../../src/tools/infra/wait.js";
import { getInfra } from "../helpers/infra.js";
import { redisPrefix, type RedisPrefix } from "../helpers/isolation.js";

describe("Redis contract", () => {
  const infra = getInfra();
  let ns: RedisPrefix;
  const conns: Redis[] = [];
  const connect = () => {
    const r = new Redis(infra.redis.url, { maxRetriesPerRequest: 2 });
    r.on("error", () => {});
    conns.push(r);
    return r;
  };

  beforeAll(async () => {
    ns = await redisPrefix(infra);
  });
  afterAll(async () => {
    await ns?.dispose();
    for (const r of conns) r.disconnect();
  });

  test("SET/GET round trip under the test's prefix", async () => {
    const r = connect();
    const key = `${ns.prefix}greeting`;
    expect(await r.set(key, "hello", "EX", 60)).toBe("OK");
    expect(await r.get(key)).toBe("hello");
    expect(await r.incr(`${ns.prefix}counter`)).toBe(1);
  });

  test("a published message reaches a subscriber", async () => {
    const sub = connect();
    const pub = connect();
    const channel = `${ns.prefix}events`;
    const got = new Promise<[string, string]>((res) => sub.on("message", (ch: string, msg: string) => res([ch, msg])));
    await sub.subscribe(channel);
    expect(await pub.publish(channel, "zone z1 moved")).toBe(1);
    expect(await withTimeout(got, 5000, "the pub/sub message")).toEqual([channel, "zone z1 moved"]);
  });

  test("dispose() removes the prefix's keys", async () => {
    const own = await redisPrefix(infra);
    const r = connect();
    await r.set(`${own.prefix}a`, "1");
    await r.set(`${own.prefix}b`, "2");
    await own.dispose();
    expect(await r.exists(`${own.prefix}a`, `${own.prefix}b`)).toBe(0);
  });
});

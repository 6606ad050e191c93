/** PatroniLocator against the in-memory DCS double. */
import { afterEach, describe, expect, it } from "vitest";
import { isRiftError } from "../../src/core/errors.js";
import { silentLogger } from "../../src/core/log.js";
import { MemoryDcs } from "../../src/shard/dcs.js";
import { leaderName, PatroniLocator, primaryUrlFromMember } from "../../src/shard/patroni-locator.js";
import { waitFor } from "../../src/tools/infra/wait.js";

const waitUntil = (cond: () => boolean, what = "locator state") => waitFor(cond, { timeoutMs: 5000, intervalMs: 2, what });

const NS = "/service";
const member = (port: number, role = "master") =>
  JSON.stringify({ conn_url: `postgres://127.0.0.1:${port}/postgres`, api_url: "http://127.0.0.1:1/patroni", state: "running", role });

function setCluster(dcs: MemoryDcs, scope: string, leader: string | undefined, members: Record<string, string>): void {
  for (const [name, data] of Object.entries(members)) dcs.set(`${NS}/${scope}/members/${name}`, data);
  if (leader === undefined) dcs.remove(`${NS}/${scope}/leader`);
  else dcs.set(`${NS}/${scope}/leader`, leader);
}

describe("primaryUrlFromMember / leaderName", () => {
  it("accepts master, primary and leader roles only", () => {
    expect(primaryUrlFromMember(member(5432, "master"))).toBe("postgres://127.0.0.1:5432/postgres");
    expect(primaryUrlFromMember(member(5432, "primary"))).toBe("postgres://127.0.0.1:5432/postgres");
    expect(primaryUrlFromMember(member(5432, "leader"))).toBe("postgres://127.0.0.1:5432/postgres");
    expect(primaryUrlFromMember(member(5432, "replica"))).toBeUndefined();
    expect(primaryUrlFromMember("{not json")).toBeUndefined();
    expect(primaryUrlFromMember(JSON.stringify({ role: "master", conn_url: "http://x" }))).toBeUndefined();
    expect(primaryUrlFromMember("null")).toBeUndefined();
  });

  it("reads plain leader names", () => {
    expect(leaderName(Buffer.from("pg1\n"))).toBe("pg1");
    expect(leaderName("")).toBeUndefined();
    expect(leaderName("../x")).toBeUndefined();
  });
});

describe("PatroniLocator", () => {
  const locators: PatroniLocator[] = [];
  const make = (dcs: MemoryDcs, waitMs = 5000) => {
    const l = new PatroniLocator({ dcs, namespace: `${NS}/`, log: silentLogger(), waitMs, retryMs: 5 });
    locators.push(l);
    return l;
  };
  afterEach(async () => {
    for (const l of locators.splice(0)) await l.close();
  });

  it("finds the leader member's conn_url", async () => {
    const dcs = new MemoryDcs();
    setCluster(dcs, "shard0", "pg0", { pg0: member(1000), pg1: member(1001, "replica") });
    expect(await make(dcs).primaryUrl("shard0")).toBe("postgres://127.0.0.1:1000/postgres");
  });

  it("waits while there is no leader, then resolves when one appears", async () => {
    const dcs = new MemoryDcs();
    const loc = make(dcs);
    const p = loc.primaryUrl("global");
    await waitUntil(() => dcs.armedWatches() > 0);
    setCluster(dcs, "global", "pg1", { pg1: member(2001) });
    expect(await p).toBe("postgres://127.0.0.1:2001/postgres");
  });

  it("gives up with DEPENDENCY_UNAVAILABLE after the bounded wait", async () => {
    const dcs = new MemoryDcs();
    const err = await make(dcs, 30).primaryUrl("shard9").catch((e: unknown) => e);
    expect(isRiftError(err, "DEPENDENCY_UNAVAILABLE")).toBe(true);
  });

  it("does not route to a new leader until its member reports a primary role", async () => {
    const dcs = new MemoryDcs();
    setCluster(dcs, "shard0", "pg0", { pg0: member(1000), pg1: member(1001, "replica") });
    const loc = make(dcs);
    const changes: string[] = [];
    loc.onChange((scope, url) => changes.push(`${scope} ${url}`));
    await loc.primaryUrl("shard0");
    // Switchover: pg1 takes the leader key while still a replica, then promotes.
    dcs.set(`${NS}/shard0/members/pg0`, member(1000, "replica"));
    dcs.set(`${NS}/shard0/leader`, "pg1");
    await waitUntil(() => loc.current("shard0") === undefined);
    dcs.set(`${NS}/shard0/members/pg1`, member(1001, "master"));
    await waitUntil(() => loc.current("shard0") === "postgres://127.0.0.1:1001/postgres");
    expect(changes).toEqual(["shard0 postgres://127.0.0.1:1000/postgres", "shard0 postgres://127.0.0.1:1001/postgres"]);
  });

  it("follows leader deletion and re-election without announcing the same primary twice", async () => {
    const dcs = new MemoryDcs();
    setCluster(dcs, "shard0", "pg0", { pg0: member(1000) });
    const loc = make(dcs);
    const changes: string[] = [];
    loc.onChange((_s, url) => changes.push(url));
    await loc.primaryUrl("shard0");
    dcs.remove(`${NS}/shard0/leader`);
    await waitUntil(() => loc.current("shard0") === undefined);
    dcs.set(`${NS}/shard0/leader`, "pg0");
    await waitUntil(() => loc.current("shard0") !== undefined);
    expect(changes).toEqual(["postgres://127.0.0.1:1000/postgres"]);
  });

  it("keeps at most one pending watch per znode however often members change", async () => {
    const dcs = new MemoryDcs();
    setCluster(dcs, "shard0", "pg0", { pg0: member(1000) });
    const loc = make(dcs);
    await loc.primaryUrl("shard0");
    for (let i = 0; i < 50; i++) dcs.set(`${NS}/shard0/members/pg0`, JSON.stringify({ ...JSON.parse(member(1000)), xlog_location: i }));
    await waitUntil(() => dcs.armedWatches() === 2);
    expect(dcs.armedWatches()).toBe(2);
    expect(dcs.reads).toBeLessThanOrEqual(2 + 2 * 50);
  });

  it("re-reads every scope after a session expiry (watches were lost)", async () => {
    const dcs = new MemoryDcs();
    setCluster(dcs, "shard0", "pg0", { pg0: member(1000), pg1: member(1001) });
    const loc = make(dcs);
    await loc.primaryUrl("shard0");
    dcs.dropWatches();
    dcs.set(`${NS}/shard0/leader`, "pg1"); // nobody is watching: the locator cannot know yet
    await Promise.resolve();
    expect(loc.current("shard0")).toBe("postgres://127.0.0.1:1000/postgres");
    dcs.expireSession();
    await waitUntil(() => loc.current("shard0") === "postgres://127.0.0.1:1001/postgres");
  });

  it("retries after DCS read errors", async () => {
    const dcs = new MemoryDcs();
    setCluster(dcs, "shard0", "pg0", { pg0: member(1000) });
    dcs.failReads(3);
    expect(await make(dcs).primaryUrl("shard0")).toBe("postgres://127.0.0.1:1000/postgres");
  });

  it("rejects waiting callers when closed", async () => {
    const dcs = new MemoryDcs();
    const loc = make(dcs);
    const p = loc.primaryUrl("nothing").catch((e: unknown) => e);
    await loc.close();
    expect(isRiftError(await p, "DEPENDENCY_UNAVAILABLE")).toBe(true);
  });

  it("routes to a new leader as soon as its REST API says primary, before its znode does (promotion probe)", async () => {
    const dcs = new MemoryDcs();
    setCluster(dcs, "s", "pg0", { pg0: member(1000), pg1: member(1001, "replica") });
    let answers = 0;
    let primaryNow = false;
    const loc = new PatroniLocator({
      dcs,
      namespace: NS,
      log: silentLogger(),
      retryMs: 5,
      promotionProbeMs: 5,
      probePrimary: async (api) => {
        expect(api).toBe("http://127.0.0.1:1/patroni");
        answers++;
        return primaryNow;
      },
    });
    locators.push(loc);
    expect(await loc.primaryUrl("s")).toBe("postgres://127.0.0.1:1000/postgres");
    // failover: the leader key names pg1, whose znode still says replica
    setCluster(dcs, "s", "pg1", { pg1: member(1001, "replica") });
    await waitUntil(() => answers >= 2, "the probe asking pg1");
    expect(loc.current("s")).toBeUndefined();
    primaryNow = true;
    await waitUntil(() => loc.current("s") === "postgres://127.0.0.1:1001/postgres", "routing to pg1 on the probe's answer");
    // the znode catches up: same URL, no new announcement needed
    setCluster(dcs, "s", "pg1", { pg1: member(1001, "master") });
    await waitUntil(() => dcs.armedWatches() > 0);
    expect(loc.current("s")).toBe("postgres://127.0.0.1:1001/postgres");
  });

  it("stops probing when the leader changes again", async () => {
    const dcs = new MemoryDcs();
    setCluster(dcs, "s", "pg1", { pg1: member(1001, "replica") });
    let asked = 0;
    let yes = false;
    const loc = new PatroniLocator({ dcs, namespace: NS, log: silentLogger(), retryMs: 5, promotionProbeMs: 5, probePrimary: async () => (asked++, yes) });
    locators.push(loc);
    const announced: string[] = [];
    loc.onChange((_s, url) => announced.push(url));
    loc.track("s");
    await waitUntil(() => asked >= 1, "a probe of pg1");
    dcs.remove(`${NS}/s/leader`); // pg1 lost the race: its probe must stop
    await waitUntil(() => dcs.armedWatches() > 0);
    yes = true; // a late "yes" about pg1 must not route there
    setCluster(dcs, "s", "pg2", { pg2: member(1002, "master") });
    await waitUntil(() => loc.current("s") === "postgres://127.0.0.1:1002/postgres", "routing to pg2");
    expect(announced).toEqual(["postgres://127.0.0.1:1002/postgres"]);
  });
});

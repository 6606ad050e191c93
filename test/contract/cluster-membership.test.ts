/**
 * Membership / MemberView / ZonePlacement contract, run against the in-memory double AND the
 * ZooKeeper implementation (real ZooKeeper of the test infra, unique root per file):
 * register → visible; session gone → gone and listeners notified; update → new load;
 * placement picks the right member and follows membership. ZooKeeper-only cases: session
 * expiry re-creates the node, a stale node of an older session is replaced, bad data ignored.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { MemoryCluster } from "../../src/core/cluster/memory.js";
import { ZkMemberView } from "../../src/core/cluster/member-view.js";
import { ZkMembership } from "../../src/core/cluster/membership.js";
import { MembershipZonePlacement, placeZone } from "../../src/core/cluster/placement.js";
import { memberPath, roleMembersPath } from "../../src/core/cluster/paths.js";
import type { MemberInfo, Membership, MemberView } from "../../src/core/cluster/types.js";
import { CreateMode, expireSessionForTest, Zk } from "../../src/core/cluster/zk.js";
import { getInfra } from "../helpers/infra.js";
import { zkRoot, type ZkRoot } from "../helpers/isolation.js";
import { waitFor } from "../helpers/processes.js";

function info(id: string, over: Partial<MemberInfo> = {}): MemberInfo {
  return { role: "field", id, host: "127.0.0.1", opsPort: 1000, linkPorts: [2000], zones: [], colour: "blue", version: "1", load: 0, startedAt: 1, ...over };
}

/** A "process": its own session (membership) — closing it ends the session. */
interface Harness {
  name: string;
  /** Fresh member process. */
  process(): Promise<{ membership: Membership; end(): Promise<void> }>;
  view(): Promise<MemberView>;
  setup?(): Promise<void>;
  teardown?(): Promise<void>;
}

const until = <T>(what: string, cond: () => T | undefined | false) => waitFor(cond, { timeoutMs: 10_000, intervalMs: 20, what });

function memoryHarness(): Harness {
  const cluster = new MemoryCluster();
  return {
    name: "memory",
    process: async () => {
      const membership = cluster.membership();
      return { membership, end: () => membership.deregister() };
    },
    view: async () => cluster.view(),
  };
}

type ZkHarness = Harness & {
  root: () => string;
  connect: () => string;
  sessions: Zk[];
  session(): Promise<Zk>;
  setup(): Promise<void>;
  teardown(): Promise<void>;
};

function zkHarness(): ZkHarness {
  let root: ZkRoot;
  const sessions: Zk[] = [];
  const h: ZkHarness = {
    name: "zookeeper",
    sessions,
    root: () => root.path,
    connect: () => getInfra().zookeeper.connect,
    setup: async () => {
      root = await zkRoot(getInfra());
    },
    teardown: async () => {
      for (const s of sessions) await s.close();
      await root?.dispose();
    },
    session: async () => {
      const zk = await Zk.connect({ connect: getInfra().zookeeper.connect, sessionTimeoutMs: 4000 });
      sessions.push(zk);
      return zk;
    },
    process: async () => {
      const zk = await h.session();
      return { membership: new ZkMembership(zk, { root: root.path, minUpdateIntervalMs: 200 }), end: () => zk.close() };
    },
    view: async () => new ZkMemberView(await h.session(), { root: root.path, retryMs: 50 }),
  };
  return h;
}

for (const make of [memoryHarness, zkHarness]) {
  const h = make();
  describe(`cluster contract (${h.name})`, () => {
    beforeAll(async () => h.setup?.());
    afterAll(async () => h.teardown?.());

    test("a registered member is visible to a view, and listeners are told", async () => {
      const view = await h.view();
      await view.ready();
      const changes: MemberInfo[][] = [];
      view.onChange((m) => changes.push(m));
      const p = await h.process();
      await p.membership.register(info("reg-1", { role: "gateway", clientPort: 7000 }));
      const m = await until("reg-1 visible", () => view.members("gateway").find((x) => x.id === "reg-1"));
      expect(m).toMatchObject({ role: "gateway", id: "reg-1", clientPort: 7000 });
      expect(view.members("field").find((x) => x.id === "reg-1")).toBeUndefined();
      expect(changes.length).toBeGreaterThan(0);
      expect(changes.at(-1)?.some((x) => x.id === "reg-1")).toBe(true);
      await p.end();
      await view.close();
    });

    test("ending the session removes the member and notifies the view", async () => {
      const view = await h.view();
      const p = await h.process();
      await p.membership.register(info("gone-1"));
      await until("gone-1 visible", () => view.members().some((x) => x.id === "gone-1"));
      const removed = new Promise<void>((resolve) => view.onChange((m) => !m.some((x) => x.id === "gone-1") && resolve()));
      await p.end();
      await removed;
      expect(view.members().some((x) => x.id === "gone-1")).toBe(false);
      await view.close();
    });

    test("update is seen by views (the last of quick updates wins)", async () => {
      const view = await h.view();
      const p = await h.process();
      await p.membership.register(info("load-1"));
      await Promise.all([p.membership.update({ load: 5 }), p.membership.update({ load: 42 })]);
      await until("load 42", () => view.members().find((x) => x.id === "load-1" && x.load === 42));
      await p.end();
      await view.close();
    });

    test("placement: the member listing the zone, smallest id on ties; follows membership", async () => {
      const view = await h.view();
      const placement = new MembershipZonePlacement(view);
      let placementChanges = 0;
      placement.onChange(() => placementChanges++);
      const b = await h.process();
      const a = await h.process();
      const c = await h.process();
      await b.membership.register(info("pl-b", { zones: ["pz1", "pz2"] }));
      await a.membership.register(info("pl-a", { zones: ["pz1"] }));
      await c.membership.register(info("pl-c", { zones: ["pz3"], role: "dungeon" }));
      await until("pz1 → pl-a", () => placement.serverForZone("pz1")?.id === "pl-a");
      expect(placement.serverForZone("pz2")?.id).toBe("pl-b");
      expect(placement.serverForZone("pz3")).toBeUndefined(); // dungeons do not own field zones
      const before = placementChanges;
      await a.end();
      await until("pz1 → pl-b", () => placement.serverForZone("pz1")?.id === "pl-b");
      expect(placementChanges).toBeGreaterThan(before);
      // a load update alone does not count as a placement change
      const settled = placementChanges;
      await b.membership.update({ load: 99 });
      await until("load seen", () => view.members().find((x) => x.id === "pl-b" && x.load === 99));
      expect(placementChanges).toBe(settled);
      await b.end();
      await until("pz1 unowned", () => placement.serverForZone("pz1") === undefined || undefined);
      await c.end();
      placement.close();
      await view.close();
    });
  });
}

describe("placeZone (pure)", () => {
  test("role filter, zone membership, smallest id", () => {
    const ms = [info("f2", { zones: ["a"] }), info("f10", { zones: ["a", "b"] }), info("g1", { role: "gateway", zones: ["a"] })];
    expect(placeZone(ms, "a")?.id).toBe("f10"); // string order: "f10" < "f2"
    expect(placeZone(ms, "b")?.id).toBe("f10");
    expect(placeZone(ms, "c")).toBeUndefined();
    expect(placeZone(ms, "a", "gateway")?.id).toBe("g1");
  });
});

describe("ZooKeeper-specific membership behaviour", () => {
  const h = zkHarness();
  beforeAll(async () => h.setup());
  afterAll(async () => h.teardown());

  test("after a session expiry the node is re-created under a new session with the latest info", async () => {
    const view = await h.view();
    const zk = await h.session();
    const m = new ZkMembership(zk, { root: h.root(), minUpdateIntervalMs: 100 });
    await m.register(info("exp-1"));
    await until("exp-1 visible", () => view.members().some((x) => x.id === "exp-1"));
    const events: string[] = [];
    zk.onSession((e) => events.push(e));
    const oldSession = zk.sessionId;
    await expireSessionForTest(zk, h.connect());
    await until("session renewed", () => events.includes("renewed"));
    expect(events).toContain("expired");
    expect(zk.sessionId).not.toBe(oldSession);
    await m.update({ load: 7 });
    await until("exp-1 back with load 7", () => view.members().find((x) => x.id === "exp-1" && x.load === 7));
    const stat = await zk.exists(memberPath(h.root(), "field", "exp-1"));
    expect(stat && Buffer.compare(stat.ephemeralOwner, zk.client.getSessionId())).toBe(0);
    await m.deregister();
    await until("exp-1 gone", () => !view.members().some((x) => x.id === "exp-1"));
    await view.close();
  });

  test("registering over a stale node of an older session replaces it", async () => {
    const old = await h.session();
    await old.mkdirp(roleMembersPath(h.root(), "field"));
    await old.create(memberPath(h.root(), "field", "stale-1"), Buffer.from(JSON.stringify(info("stale-1", { load: 1 }))), CreateMode.EPHEMERAL);
    const fresh = await h.session();
    await new ZkMembership(fresh, { root: h.root() }).register(info("stale-1", { load: 2 }));
    const { data, stat } = await fresh.getData(memberPath(h.root(), "field", "stale-1"));
    expect(JSON.parse(data!.toString()).load).toBe(2);
    expect(Buffer.compare(stat.ephemeralOwner, fresh.client.getSessionId())).toBe(0);
  });

  test("the view ignores nodes whose data is not a valid MemberInfo", async () => {
    const view = await h.view();
    const zk = await h.session();
    await zk.mkdirp(roleMembersPath(h.root(), "chat"));
    await zk.create(memberPath(h.root(), "chat", "junk-1"), Buffer.from("{not json"), CreateMode.EPHEMERAL);
    await zk.create(memberPath(h.root(), "chat", "junk-2"), Buffer.from(JSON.stringify({ role: "chat" })), CreateMode.EPHEMERAL);
    await new ZkMembership(zk, { root: h.root() }).register(info("ok-1", { role: "chat" }));
    await until("ok-1 visible", () => view.members("chat").some((x) => x.id === "ok-1"));
    expect(view.members("chat").map((x) => x.id)).toEqual(["ok-1"]);
    await view.close();
  });

  test("connecting to nothing fails within the deadline with DEPENDENCY_UNAVAILABLE", async () => {
    await expect(Zk.connect({ connect: "127.0.0.1:1", sessionTimeoutMs: 2000, connectTimeoutMs: 500 })).rejects.toMatchObject({
      key: "DEPENDENCY_UNAVAILABLE",
    });
  });
});

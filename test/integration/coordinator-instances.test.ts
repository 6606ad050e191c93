/**
 * Dungeon instance placement by a REAL coordinator process on the shared ZooKeeper (issue #7).
 * The dungeon servers are fake: ZkMembership registrations of role `dungeon` made by the test,
 * each on its own ZooKeeper session (closing it = the server crashed).
 * - with no dungeon server a request stays unplaced (the coordinator counts it, places nothing);
 * - once dungeon servers join, the waiting request is placed on the less loaded one;
 * - removing the request node (the dungeon destroyed the instance) removes the key;
 * - when the dungeon server of an instance leaves, the key leaves the placement and the leader
 *   deletes its request node (never re-placed: the party went back to the field).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { instancesPath, readInstanceRequest, removeInstance, requestInstance, type InstanceRequest } from "../../src/core/cluster/instances.js";
import { ZkMembership } from "../../src/core/cluster/membership.js";
import type { PlacementDoc } from "../../src/core/cluster/placement-doc.js";
import type { MemberInfo } from "../../src/core/cluster/types.js";
import { zkJoin, Zk } from "../../src/core/cluster/zk.js";
import { infraEnv } from "../../src/tools/infra/infra.js";
import { readPlacement, startCoordinator } from "../helpers/coordinator.js";
import { getInfra } from "../helpers/infra.js";
import { isolated, uniqueId, type Isolated } from "../helpers/isolation.js";
import { stopAll, waitFor, type ManagedProcess } from "../helpers/processes.js";

function dungeonInfo(id: string, load: number): MemberInfo {
  return { role: "dungeon", id, host: "127.0.0.1", opsPort: 1, linkPorts: [1], colour: "blue", version: "t", load, startedAt: Date.now() };
}

const REQUEST: InstanceRequest = { kind: "crypt", home: "z1", party: [{ user: 7001, x: 10, y: 20 }], requestedBy: "field-it", requestedAt: Date.now() };

describe("coordinator places dungeon instances (real coordinator, real ZooKeeper)", { timeout: 120_000 }, () => {
  let scope: Isolated;
  let coordinator: ManagedProcess;
  let opsPort: number;
  let zk: Zk;
  let root: string;
  const sessions: Zk[] = [];
  const heavyId = `dg-heavy-${uniqueId()}`;
  const lightId = `dg-light-${uniqueId()}`;
  let lightZk: Zk;
  let waiting: string;

  async function placement(): Promise<PlacementDoc | undefined> {
    return readPlacement(zk, root);
  }

  async function events(event: string): Promise<number> {
    const text = await (await fetch(`http://127.0.0.1:${opsPort}/metrics`)).text();
    // one sample line per label set (default labels such as role/node come with it)
    const line = text.split("\n").find((l) => l.startsWith("rift_coordinator_instance_events_total{") && l.includes(`event="${event}"`));
    return line ? Number(line.slice(line.lastIndexOf(" ") + 1)) : 0;
  }

  async function registerDungeon(id: string, load: number): Promise<Zk> {
    const s = await Zk.connect({ connect: getInfra().zookeeper.connect, sessionTimeoutMs: 5000 });
    sessions.push(s);
    await new ZkMembership(s, { root }).register(dungeonInfo(id, load));
    return s;
  }

  async function requestExists(key: string): Promise<boolean> {
    return (await zk.exists(zkJoin(instancesPath(root), key.slice(0, key.indexOf("@"))))) !== null;
  }

  beforeAll(async () => {
    const infra = getInfra();
    scope = await isolated(infra);
    root = scope.zk.path;
    const env = {
      ...infraEnv(infra),
      RIFT__CLUSTER__ZOOKEEPER__ROOT: root,
      RIFT__CLUSTER__REDIS__KEYPREFIX: JSON.stringify(scope.redis.prefix), // env values are YAML: quote the colons
      RIFT__DB__DATABASE: scope.dbs.name,
      RIFT__OPS__PORT: "0",
      RIFT__LOG__LEVEL: "info",
    };
    coordinator = await startCoordinator(env);
    opsPort = (JSON.parse(coordinator.lines.find((l) => l.includes("coordinator listening"))!) as { opsPort: number }).opsPort;
    zk = await Zk.connect({ connect: infra.zookeeper.connect, sessionTimeoutMs: 5000 });
  });

  afterAll(async () => {
    await stopAll();
    for (const s of sessions) await s.close().catch(() => {});
    await zk?.close();
    await scope?.dispose();
  });

  it("with no dungeon server a request stays unplaced", async () => {
    waiting = await requestInstance(zk, root, REQUEST);
    expect(waiting).toMatch(/^d\d+@z1$/);
    // the leader saw the request and could not place it
    await waitFor(async () => (await events("unplaced")) >= 1, { timeoutMs: 30_000, intervalMs: 100, what: "unplaced instance event" });
    const doc = await waitFor(placement, { timeoutMs: 10_000, what: "a placement document" });
    expect(doc.zones[waiting]).toBeUndefined();
    expect(await readInstanceRequest(zk, root, waiting)).toEqual(REQUEST); // still a request
  });

  it("places a waiting request on the less loaded dungeon server once dungeon servers join", async () => {
    lightZk = await registerDungeon(lightId, 5);
    await registerDungeon(heavyId, 50);
    const doc = await waitFor(async () => ((await placement())?.zones[waiting] ? placement() : undefined), { timeoutMs: 30_000, intervalMs: 50, what: `placement of ${waiting}` });
    expect(doc.zones[waiting]!.server).toBe(lightId); // alone, or 5 < 50
    expect(await events("placed")).toBeGreaterThanOrEqual(1);
    expect(await requestExists(waiting)).toBe(true);
  });

  it("a new request goes to the less loaded member; removing its request node removes it", async () => {
    // the coordinator sees both dungeon servers before the request
    await waitFor(
      async () => {
        const body = (await (await fetch(`http://127.0.0.1:${opsPort}/cluster`)).json()) as { members: MemberInfo[] };
        const ids = body.members.filter((m) => m.role === "dungeon").map((m) => m.id);
        return ids.includes(lightId) && ids.includes(heavyId);
      },
      { timeoutMs: 30_000, intervalMs: 50, what: "both dungeon servers in the coordinator's view" },
    );
    const key = await requestInstance(zk, root, { ...REQUEST, home: "z2" });
    expect(key).toMatch(/^d\d+@z2$/);
    const doc = await waitFor(async () => ((await placement())?.zones[key] ? placement() : undefined), { timeoutMs: 30_000, intervalMs: 50, what: `placement of ${key}` });
    expect(doc.zones[key]!.server).toBe(lightId); // 5 + 4 × (≤ 1) < 50
    const destroyedBefore = await events("destroyed");

    await removeInstance(zk, root, key);
    await waitFor(async () => (await placement())?.zones[key] === undefined, { timeoutMs: 30_000, intervalMs: 50, what: `${key} to leave the placement` });
    await waitFor(async () => (await events("destroyed")) > destroyedBefore, { timeoutMs: 10_000, intervalMs: 100, what: "destroyed instance event" });
  });

  it("when an instance's dungeon server leaves, the key leaves the placement and its request node is deleted", async () => {
    const key = await requestInstance(zk, root, { ...REQUEST, home: "z3" });
    const doc = await waitFor(async () => ((await placement())?.zones[key] ? placement() : undefined), { timeoutMs: 30_000, intervalMs: 50, what: `placement of ${key}` });
    expect(doc.zones[key]!.server).toBe(lightId);
    const onHeavy = Object.keys(doc.zones).filter((k) => doc.zones[k]!.server === heavyId);
    const goneBefore = await events("server-gone");

    await lightZk.close(); // the light dungeon server's session ends: its ephemeral member node goes at once
    await waitFor(async () => (await placement())?.zones[key] === undefined, { timeoutMs: 30_000, intervalMs: 50, what: `${key} to leave the placement` });
    await waitFor(async () => !(await requestExists(key)), { timeoutMs: 30_000, intervalMs: 50, what: `request node of ${key} deleted` });
    expect(await events("server-gone")).toBeGreaterThan(goneBefore);

    // not re-placed on the surviving member, and instances of the survivor stay where they are
    const after = (await placement())!;
    expect(after.zones[key]).toBeUndefined();
    for (const k of onHeavy) expect(after.zones[k]?.server).toBe(heavyId);
    expect(Object.values(after.zones).some((p) => p.server === lightId)).toBe(false);
  });
});

/**
 * The vertical slice with real processes: `rift --role field` + `rift --role gateway` on the
 * test infra (ZooKeeper membership, Patroni Postgres), driven by the SDK. Players see each
 * other's moves through the real link; a gateway going away detaches its users (the field
 * server flushes them) and a second gateway serves them again from the saved state.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { RiftClient } from "../../src/client/rift-client.js";
import { ZkMemberView } from "../../src/core/cluster/member-view.js";
import type { MemberInfo } from "../../src/core/cluster/types.js";
import { Zk } from "../../src/core/cluster/zk.js";
import { getInfra } from "../helpers/infra.js";
import { freshDatabases, uniqueId, zkRoot, type FreshDatabases, type ZkRoot } from "../helpers/isolation.js";
import { startCoordinator, waitForPlacement } from "../helpers/coordinator.js";
import { startRift, stopAll, waitFor, type ManagedProcess } from "../helpers/processes.js";

describe("gateway + field server processes", () => {
  let root: ZkRoot;
  let dbs: FreshDatabases;
  let zk: Zk;
  let view: ZkMemberView;
  let env: NodeJS.ProcessEnv;
  const clients: RiftClient[] = [];

  const startGateway = async (id: string): Promise<{ proc: ManagedProcess; member: MemberInfo }> => {
    const proc = await startRift(["--role", "gateway"], { env: { ...env, RIFT__NODE__ID: id }, readyWhen: /gateway listening/, timeoutMs: 60_000, name: id });
    const member = await waitFor(() => view.members("gateway").find((m) => m.id === id), { timeoutMs: 10_000, what: `${id} registered` });
    return { proc, member };
  };
  const play = async (gw: MemberInfo, login: (c: RiftClient) => Promise<unknown>) => {
    const c = await RiftClient.connect(`ws://${gw.host}:${gw.clientPort}`);
    clients.push(c);
    await c.hello();
    await login(c);
    await c.waitForEnter();
    return c;
  };

  beforeAll(async () => {
    const infra = getInfra();
    [root, dbs] = await Promise.all([zkRoot(infra), freshDatabases(infra)]);
    zk = await Zk.connect({ connect: infra.zookeeper.connect, sessionTimeoutMs: 4000 });
    view = new ZkMemberView(zk, { root: root.path });
    env = {
      RIFT__CLUSTER__ZOOKEEPER__CONNECT: infra.zookeeper.connect,
      RIFT__CLUSTER__ZOOKEEPER__ROOT: root.path,
      RIFT__CLUSTER__REDIS__URL: infra.redis.url,
      RIFT__DB__PATRONINAMESPACE: infra.patroni.namespace,
      RIFT__DB__SHARDSCOPES: `[${dbs.shards.map((s) => s.scope).join(",")}]`,
      RIFT__DB__DATABASE: dbs.name,
      RIFT__GATEWAY__PORT: "0",
      RIFT__FIELD__LINKPORT: "0",
      RIFT__OPS__PORT: "0",
      RIFT__FIELD__ZONES: "[z1]",
    };
    await startCoordinator(env);
    await startRift(["--role", "field"], { env: { ...env, RIFT__NODE__ID: `field-${uniqueId()}` }, readyWhen: /field server listening/, timeoutMs: 60_000 });
    await waitForPlacement(infra.zookeeper.connect, root.path, ["z1"]);
  });
  afterAll(async () => {
    for (const c of clients) await c.close().catch(() => undefined);
    await stopAll();
    await view?.close();
    await zk?.close();
    await dbs?.dispose();
    await root?.dispose();
  });

  test("players see each other; state survives a gateway going away", async () => {
    const gw1 = await startGateway(`gw1-${uniqueId()}`);
    const alice = await play(gw1.member, async (c) => {
      await c.register("alice", "password1");
      await c.login("alice", "password1");
    });
    const bob = await play(gw1.member, async (c) => {
      await c.register("bob", "password1");
      await c.login("bob", "password1");
    });
    const start = alice.self!;
    const seq = alice.move(start.x + 3, start.y);
    await waitFor(() => (alice.self?.seq ?? 0) >= seq, { timeoutMs: 10_000, intervalMs: 20, what: "alice's move confirmed" });
    await waitFor(() => bob.entity(start.id)?.seq === seq, { timeoutMs: 10_000, intervalMs: 20, what: "bob sees alice's move" });
    expect(bob.entity(start.id)?.x).toBeCloseTo(start.x + 3, 3);

    // a second gateway; the first one stops: its clients are told, their users detached (flushed)
    const gw2 = await startGateway(`gw2-${uniqueId()}`);
    const token = alice.session!.token;
    await gw1.proc.stop();
    expect(gw1.proc.exitInfo()?.code).toBe(0);
    expect((await alice.waitClosed()).error?.key).toBe("SHUTTING_DOWN");
    expect((await bob.waitClosed()).error?.key).toBe("SHUTTING_DOWN");

    // alice comes back through the other gateway with her token, where she left off
    const again = await play(gw2.member, (c) => c.login({ token }));
    expect(again.self?.id).toBe(start.id);
    expect(again.self?.x).toBeCloseTo(start.x + 3, 3);
    expect(again.self?.seq).toBeGreaterThanOrEqual(0);
    const next = again.move(again.self!.x + 2, again.self!.y);
    await waitFor(() => (again.self?.seq ?? 0) >= next, { timeoutMs: 10_000, intervalMs: 20, what: "move after coming back" });
  });
});

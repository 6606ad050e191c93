/**
 * The real gateway binary (`rift --role gateway`, src/gateway/main.ts) against the test
 * infra: it registers its client port in ZooKeeper, authenticates against the real Postgres
 * data layer, attaches users to a (fake) field server found through membership, exports its
 * metrics, and on SIGTERM closes clients with SHUTTING_DOWN, detaches users and deregisters.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { RiftClient } from "../../src/client/rift-client.js";
import { ZkMemberView } from "../../src/core/cluster/member-view.js";
import { Zk } from "../../src/core/cluster/zk.js";
import { getInfra } from "../helpers/infra.js";
import { freshDatabases, uniqueId, zkRoot, type FreshDatabases, type ZkRoot } from "../helpers/isolation.js";
import { startCoordinator, waitForPlacement } from "../helpers/coordinator.js";
import { startRift, stopAll, waitFor, type ManagedProcess } from "../helpers/processes.js";
import { FakeField } from "./gateway-fake-field.js";

describe("gateway process", () => {
  let root: ZkRoot;
  let dbs: FreshDatabases;
  let zk: Zk;
  let view: ZkMemberView;
  let field: FakeField;
  let gw: ManagedProcess;
  const nodeId = `gw-${uniqueId()}`;

  beforeAll(async () => {
    const infra = getInfra();
    [root, dbs] = await Promise.all([zkRoot(infra), freshDatabases(infra)]);
    zk = await Zk.connect({ connect: infra.zookeeper.connect, sessionTimeoutMs: 4000 });
    view = new ZkMemberView(zk, { root: root.path });
    field = await new FakeField({ id: "f1", zones: ["z1"], zkConnect: infra.zookeeper.connect, root: root.path }).start();
    const env = {
      RIFT__CLUSTER__ZOOKEEPER__CONNECT: infra.zookeeper.connect,
      RIFT__CLUSTER__ZOOKEEPER__ROOT: root.path,
      RIFT__CLUSTER__REDIS__URL: infra.redis.url,
      RIFT__DB__PATRONINAMESPACE: infra.patroni.namespace,
      RIFT__DB__SHARDSCOPES: `[${dbs.shards.map((s) => s.scope).join(",")}]`,
      RIFT__DB__DATABASE: dbs.name,
      RIFT__OPS__PORT: "0",
      RIFT__LOG__LEVEL: "info",
    };
    await startCoordinator(env); // places z1 on the fake field (it registers like a field server)
    await waitForPlacement(infra.zookeeper.connect, root.path, ["z1"], { server: "f1" });
    gw = await startRift(["--role", "gateway"], {
      env: { ...env, RIFT__NODE__ID: nodeId, RIFT__GATEWAY__PORT: "0", RIFT__FIELD__ZONES: "[z1]" },
      readyWhen: /gateway listening/,
      timeoutMs: 60_000,
    });
  });
  afterAll(async () => {
    await stopAll();
    await field?.stop();
    await view?.close();
    await zk?.close();
    await dbs?.dispose();
    await root?.dispose();
  });

  test("registers, serves a player end to end, and shuts down gracefully", async () => {
    const me = await waitFor(() => view.members("gateway").find((m) => m.id === nodeId), { timeoutMs: 10_000, what: "gateway in membership" });
    expect(me.clientPort).toBeGreaterThan(0);
    expect(me.opsPort).toBeGreaterThan(0);

    const c = await RiftClient.connect(`ws://${me.host}:${me.clientPort}`);
    await c.hello();
    await c.register("proc_user", "password1");
    const session = await c.login("proc_user", "password1");
    const enter = await c.waitForEnter();
    expect(enter).toMatchObject({ zone: "z1", server: "f1" });
    expect(enter.self.id).toBe(session.userId);
    const seq = c.move(160, 160);
    await waitFor(() => (c.self?.seq ?? 0) >= seq, { timeoutMs: 10_000, intervalMs: 20, what: "own move confirmed" });

    const metrics = await (await fetch(`http://${me.host}:${me.opsPort}/metrics`)).text();
    expect(metrics).toMatch(/rift_gateway_connections\{[^}]*\} 1/);
    expect(metrics).toMatch(/rift_gateway_messages_in_total\{[^}]*type="move"[^}]*\} 1/);

    await gw.stop();
    expect(gw.exitInfo()?.code).toBe(0);
    expect((await c.waitClosed()).error?.key).toBe("SHUTTING_DOWN");
    expect(field.opsOf("detach").map((o) => (o[1] as { user: number }).user)).toEqual([session.userId]);
    await waitFor(() => !view.members("gateway").some((m) => m.id === nodeId), { timeoutMs: 10_000, what: "gateway deregistered" });
  });
});

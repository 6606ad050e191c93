/**
 * Contract: the shared ZooKeeper behaves as the cluster layer relies on — an ephemeral node
 * disappears when its session closes, and a watch set by another session fires for it; a
 * chrooted connect string (test isolation) sees only its subtree.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import zookeeper from "node-zookeeper-client";
import { withTimeout } from "../../src/tools/infra/wait.js";
import { CreateMode, connectZk, zkCreate, zkExists, zkGet, type ZkClient } from "../../src/tools/infra/zk.js";
import { getInfra } from "../helpers/infra.js";
import { zkRoot, type ZkRoot } from "../helpers/isolation.js";

describe("ZooKeeper contract", () => {
  const infra = getInfra();
  let root: ZkRoot;
  const clients: ZkClient[] = [];
  const client = async (connect = infra.zookeeper.connect) => {
    const c = await connectZk(connect);
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    root = await zkRoot(infra);
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await root?.dispose();
  });

  test("an ephemeral node vanishes when its session closes and another session's watch fires", async () => {
    const owner = await client();
    const observer = await client();
    const path = `${root.path}/member-1`;
    await zkCreate(owner, path, "127.0.0.1:7000", CreateMode.EPHEMERAL);

    let onEvent!: (e: zookeeper.Event) => void;
    const fired = new Promise<zookeeper.Event>((res) => (onEvent = res));
    expect(await zkExists(observer, path, (e) => onEvent(e))).toBe(true);
    expect((await zkGet(observer, path))?.toString()).toBe("127.0.0.1:7000");

    owner.close();
    const event = await withTimeout(fired, 10_000, `a watch event for ${path}`);
    expect(event.getType()).toBe(zookeeper.Event.NODE_DELETED);
    expect(event.getPath()).toBe(path);
    expect(await zkExists(observer, path)).toBe(false);
  });

  test("a chrooted connect string sees the test's subtree as /", async () => {
    const chrooted = await client(root.connect);
    await zkCreate(chrooted, "/inside", "x");
    const plain = await client();
    expect((await zkGet(plain, `${root.path}/inside`))?.toString()).toBe("x");
  });
});

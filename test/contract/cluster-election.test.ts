/**
 * ZkLeaderElection on the real ZooKeeper of the test infra: the shared LeaderElection
 * contract (test/contract/election-contract.ts, also run on the in-memory double), then
 * ZooKeeper-only behaviour: fenced multi-ops (`Zk.commitFenced`) and a candidate whose node
 * is deleted under it.
 *
 * Every candidate has its own session, connected through its own TCP proxy so a test can cut
 * the connection (session survives → `suspended`) without touching the shared ZooKeeper.
 * Session expiry uses `expireSessionForTest` (a twin client closes the session). Each test
 * uses its own election root under this file's `zkRoot`.
 */
import net from "node:net";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { ZkLeaderElection } from "../../src/core/cluster/election.js";
import { electionPath } from "../../src/core/cluster/paths.js";
import type { ElectionState } from "../../src/core/cluster/types.js";
import { CreateMode, expireSessionForTest, isZkError, Zk, zkJoin, type ZkError } from "../../src/core/cluster/zk.js";
import { getInfra } from "../helpers/infra.js";
import { uniqueId, zkRoot, type ZkRoot } from "../helpers/isolation.js";
import { waitFor } from "../helpers/processes.js";
import { describeElectionContract, type ElectionHarness } from "./election-contract.js";

/** A TCP pass-through to ZooKeeper that can cut every connection and refuse new ones. */
class CuttableProxy {
  private readonly sockets = new Set<net.Socket>();
  private blocked = false;
  private readonly server: net.Server;
  port = 0;

  private constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {
    this.server = net.createServer((client) => this.accept(client));
  }

  static async start(targetHost: string, targetPort: number): Promise<CuttableProxy> {
    const proxy = new CuttableProxy(targetHost, targetPort);
    await new Promise<void>((resolve, reject) => {
      proxy.server.once("error", reject);
      proxy.server.listen(0, "127.0.0.1", () => resolve());
    });
    proxy.port = (proxy.server.address() as net.AddressInfo).port;
    return proxy;
  }

  private accept(client: net.Socket): void {
    if (this.blocked) {
      client.destroy();
      return;
    }
    const upstream = net.connect(this.targetPort, this.targetHost);
    for (const s of [client, upstream]) {
      this.sockets.add(s);
      s.on("error", () => {});
      s.on("close", () => {
        this.sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  }

  get connect(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Cut all connections and refuse new ones. */
  cut(): void {
    this.blocked = true;
    for (const s of [...this.sockets]) s.destroy();
  }

  restore(): void {
    this.blocked = false;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

const until = <T>(what: string, cond: () => T | undefined | null | false, timeoutMs = 10_000) =>
  waitFor(cond, { timeoutMs, intervalMs: 10, what });

/** Sessions, proxies and the file's root, released in afterAll. */
function zkResources() {
  let root: ZkRoot | undefined;
  const sessions: Zk[] = [];
  const proxies: CuttableProxy[] = [];
  const elections: ZkLeaderElection[] = [];
  const direct = () => getInfra().zookeeper.connect;
  return {
    direct,
    root: () => root!.path,
    async setup() {
      root = await zkRoot(getInfra());
    },
    /** A session through its own cuttable proxy. */
    async session(): Promise<{ zk: Zk; proxy: CuttableProxy }> {
      const [host, port] = direct().split(",")[0]!.split(":");
      const proxy = await CuttableProxy.start(host!, Number(port));
      proxies.push(proxy);
      const zk = await Zk.connect({ connect: proxy.connect, sessionTimeoutMs: 4000 });
      sessions.push(zk);
      return { zk, proxy };
    },
    election(zk: Zk, groupRoot: string, id: string): ZkLeaderElection {
      const e = new ZkLeaderElection(zk, { root: groupRoot, id, retryMs: 50 });
      elections.push(e);
      return e;
    },
    async teardown() {
      for (const e of elections) await e.close();
      for (const s of sessions) await s.close();
      for (const p of proxies) await p.close();
      await root?.dispose();
    },
  };
}

describeElectionContract("ZooKeeper", async (): Promise<ElectionHarness> => {
  const r = zkResources();
  await r.setup();
  return {
    group: async () => {
      const groupRoot = zkJoin(r.root(), uniqueId());
      return {
        candidate: async (id) => {
          const { zk, proxy } = await r.session();
          const election = r.election(zk, groupRoot, id);
          let disconnects = 0;
          zk.onSession((e) => {
            if (e === "disconnected") disconnects++;
          });
          return {
            election,
            expire: () => expireSessionForTest(zk, r.direct()),
            suspend: async () => {
              const before = disconnects;
              proxy.cut();
              await until(`${id} noticed the connection loss`, () => disconnects > before);
            },
            resume: async () => proxy.restore(),
          };
        },
      };
    },
    close: () => r.teardown(),
  };
});

describe("ZooKeeper-only: fenced multi-ops and lost nodes", { timeout: 30_000 }, () => {
  const r = zkResources();
  beforeAll(async () => r.setup());
  afterAll(async () => r.teardown());

  async function rejection(p: Promise<unknown>): Promise<ZkError> {
    const err = await p.then(
      () => undefined,
      (e: unknown) => e,
    );
    if (!isZkError(err)) throw new Error(`expected a ZkError, got ${String(err)}`);
    return err;
  }

  async function dataOf(zk: Zk, path: string): Promise<string | undefined> {
    const stat = await zk.exists(path);
    if (!stat) return undefined;
    return (await zk.getData(path)).data?.toString() ?? "";
  }

  test("commitFenced applies every op while the fence node exists, nothing once it is gone", async () => {
    const base = zkJoin(r.root(), uniqueId());
    const { zk } = await r.session();
    const leader = r.election(zk, base, "f1");
    await leader.start();
    expect(leader.state).toBe("leader");
    const fence = leader.nodePath()!;
    const d = zkJoin(base, "data");
    await zk.mkdirp(d);
    await zk.create(zkJoin(d, "y"), Buffer.from("y0"));
    await zk.create(zkJoin(d, "z"), Buffer.from("z0"));

    // version 0 is exact (the library would turn it into "any version" if not pinned)
    await zk.commitFenced(fence, [
      { op: "create", path: zkJoin(d, "x"), data: Buffer.from("x1") },
      { op: "setData", path: zkJoin(d, "y"), data: Buffer.from("y1"), version: 0 },
      { op: "remove", path: zkJoin(d, "z"), version: 0 },
      { op: "create", path: zkJoin(d, "e"), data: null, mode: CreateMode.PERSISTENT },
    ]);
    expect(await dataOf(zk, zkJoin(d, "x"))).toBe("x1");
    expect(await dataOf(zk, zkJoin(d, "y"))).toBe("y1");
    expect(await dataOf(zk, zkJoin(d, "z"))).toBeUndefined();
    expect(await dataOf(zk, zkJoin(d, "e"))).toBe("");

    // The fence goes with the candidacy: a deposed leader's write changes nothing.
    await leader.close();
    const err = await rejection(
      zk.commitFenced(fence, [
        { op: "create", path: zkJoin(d, "w"), data: Buffer.from("w") },
        { op: "setData", path: zkJoin(d, "y"), data: Buffer.from("y2"), version: -1 },
      ]),
    );
    expect(isZkError(err, "NO_NODE")).toBe(true);
    expect(err.path).toBe(fence);
    expect(await dataOf(zk, zkJoin(d, "w"))).toBeUndefined();
    expect(await dataOf(zk, zkJoin(d, "y"))).toBe("y1");
  });

  test("a version mismatch fails with BAD_VERSION naming the op's path, and nothing is applied", async () => {
    const base = zkJoin(r.root(), uniqueId());
    const { zk } = await r.session();
    const leader = r.election(zk, base, "v1");
    await leader.start();
    const fence = leader.nodePath()!;
    const d = zkJoin(base, "data");
    await zk.mkdirp(d);
    const y = zkJoin(d, "y");
    await zk.create(y, Buffer.from("y0"));
    await zk.setData(y, Buffer.from("y1")); // now at version 1

    const stale = await rejection(
      zk.commitFenced(fence, [
        { op: "create", path: zkJoin(d, "v"), data: Buffer.from("v") },
        { op: "setData", path: y, data: Buffer.from("lost"), version: 0 },
      ]),
    );
    expect(isZkError(stale, "BAD_VERSION")).toBe(true);
    expect(stale.path).toBe(y);
    expect(await dataOf(zk, zkJoin(d, "v"))).toBeUndefined();
    expect(await dataOf(zk, y)).toBe("y1");

    const badRemove = await rejection(zk.commitFenced(fence, [{ op: "remove", path: y, version: 7 }]));
    expect(isZkError(badRemove, "BAD_VERSION")).toBe(true);
    expect(await dataOf(zk, y)).toBe("y1");

    // A create over an existing node: NODE_EXISTS, and the setData before it is undone too.
    const exists = await rejection(
      zk.commitFenced(fence, [
        { op: "setData", path: y, data: Buffer.from("y2"), version: 1 },
        { op: "create", path: y, data: Buffer.from("again") },
      ]),
    );
    expect(isZkError(exists, "NODE_EXISTS")).toBe(true);
    expect(exists.path).toBe(y);
    expect((await zk.getData(y)).stat.version).toBe(1);

    // With the right version it goes through.
    await zk.commitFenced(fence, [{ op: "setData", path: y, data: Buffer.from("y2"), version: 1 }]);
    expect(await dataOf(zk, y)).toBe("y2");
  });

  test("a leader whose node is deleted under it stops leading at once and re-joins at the back", async () => {
    const base = zkJoin(r.root(), uniqueId());
    const a = r.election((await r.session()).zk, base, "na");
    const b = r.election((await r.session()).zk, base, "nb");
    const logA: ElectionState[] = [];
    a.onChange((s) => logA.push(s));
    await a.start();
    await b.start();
    const old = a.nodePath()!;
    const { zk: ops } = await r.session();
    await ops.remove(old);
    await until("nb leads", () => b.state === "leader");
    await until("na re-joined behind nb", () => a.nodePath() !== undefined && a.nodePath() !== old && a.leaderId() === "nb");
    expect(a.state).toBe("follower");
    expect(logA).toEqual(["leader", "follower"]);
    const line = (await ops.getChildren(electionPath(base))).map((n) => zkJoin(electionPath(base), n));
    expect(line).toEqual([b.nodePath(), a.nodePath()]);
  });

  test("a suspended leader re-checks on reconnect: its node vanished meanwhile, so it follows", async () => {
    const base = zkJoin(r.root(), uniqueId());
    const sa = await r.session();
    const a = r.election(sa.zk, base, "ra");
    const b = r.election((await r.session()).zk, base, "rb");
    const logA: ElectionState[] = [];
    a.onChange((s) => logA.push(s));
    await a.start();
    await b.start();
    const old = a.nodePath()!;
    sa.proxy.cut();
    await until("ra suspended", () => a.state === "suspended");
    const { zk: ops } = await r.session();
    await ops.remove(old); // e.g. an operator, while ra cannot see it
    await until("rb leads", () => b.state === "leader");
    sa.proxy.restore();
    await until("ra re-joined behind rb", () => a.nodePath() !== undefined && a.nodePath() !== old && a.leaderId() === "rb");
    expect(a.state).toBe("follower");
    expect(logA).toEqual(["leader", "suspended", "follower"]);
  });

  test("commitFenced rejects an invalid path without sending anything", async () => {
    const { zk } = await r.session();
    const err = await rejection(zk.commitFenced("no-slash", []));
    expect(err.path).toBe("no-slash");
  });
});

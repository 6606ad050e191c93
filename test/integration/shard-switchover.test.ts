/**
 * The locator and router follow a real Patroni switchover, and the ZooKeeper reader survives a
 * real session expiry. Uses a PRIVATE 2-node Patroni cluster (its own scope, registered in
 * the shared test ZooKeeper) so switching it over cannot disturb other test files.
 */
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { forceSessionExpiry } from "../../src/core/cluster/zk.js";
import { silentLogger } from "../../src/core/log.js";
import { ZkDcsReader } from "../../src/shard/dcs.js";
import { PatroniLocator } from "../../src/shard/patroni-locator.js";
import { ShardRouter } from "../../src/shard/router.js";
import { findPrimary, startPatroniCluster, stopPatroniCluster, type PatroniClusterState } from "../../src/tools/infra/infra.js";
import { FatalWaitError, waitFor } from "../../src/tools/infra/wait.js";
import { getInfra } from "../helpers/infra.js";
import { uniqueId } from "../helpers/isolation.js";

/** POST /switchover; false while Patroni refuses for now (e.g. 412: the sync standby is not registered yet). */
async function trySwitchover(restPort: number, leader: string, candidate: string): Promise<boolean> {
  const res = await fetch(`http://127.0.0.1:${restPort}/switchover`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ leader, candidate }),
    signal: AbortSignal.timeout(30_000),
  });
  const body = await res.text();
  if (res.status === 200) return true;
  if (res.status === 412 || res.status === 503) throw new Error(`switchover refused for now: ${res.status} ${body}`);
  throw new FatalWaitError(`switchover failed: ${res.status} ${body}`);
}

describe("PatroniLocator + ShardRouter on a real Patroni cluster", { timeout: 120_000 }, () => {
  const log = silentLogger();
  const scope = `sw_${uniqueId()}`;
  let dir: string;
  let cluster: PatroniClusterState | undefined;
  let dcs: ZkDcsReader;
  let locator: PatroniLocator;
  let router: ShardRouter;

  beforeAll(async () => {
    const infra = getInfra();
    dir = mkdtempSync(join(tmpdir(), "rift-shard-sw-"));
    chmodSync(dir, 0o755); // Postgres (uid postgres) must traverse it
    cluster = await startPatroniCluster({ dir, scope, zkConnect: infra.zookeeper.connect, profile: "test", databases: ["rift"] });
    dcs = new ZkDcsReader({ connect: infra.zookeeper.connect, sessionTimeoutMs: 5000, log });
    locator = new PatroniLocator({ dcs, namespace: infra.patroni.namespace, log, waitMs: 30_000 });
    router = new ShardRouter({ locator, database: "rift", user: "postgres", poolSize: 4, log, retryDeadlineMs: 30_000 });
  }, 120_000);

  afterAll(async () => {
    await router?.close();
    await locator?.close();
    if (cluster) await stopPatroniCluster(cluster, { zk: getInfra().zookeeper.connect, namespace: getInfra().patroni.namespace });
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("re-arms its watches after a ZooKeeper session expiry and follows a switchover without losing acknowledged writes", async () => {
    const infra = getInfra();
    const first = await locator.primaryUrl(scope);
    const changes: string[] = [];
    locator.onChange((s, url) => {
      if (s === scope) changes.push(url);
    });
    await router.query(scope, "CREATE TABLE ticks (id int PRIMARY KEY)");

    // 1. A real session expiry: the reader must build a new session and re-read.
    const oldSession = dcs.session().id.toString("hex");
    const renewed = () => dcs.session().id.toString("hex") !== oldSession && dcs.session().id.readBigUInt64BE() !== 0n;
    await forceSessionExpiry(infra.zookeeper.connect, {
      credentials: () => ({ sessionId: dcs.session().id, sessionPassword: dcs.session().password, sessionTimeoutMs: 5000 }),
      expired: renewed,
    });
    await waitFor(renewed, { timeoutMs: 20_000, intervalMs: 50, what: "a new ZooKeeper session" });

    // 2. Writers keep going (idempotent upserts) while Patroni switches the primary over.
    let stop = false;
    let writeError: unknown;
    const acked: number[] = [];
    const writer = (async () => {
      for (let i = 1; !stop; i++) {
        await router.query(scope, "INSERT INTO ticks (id) VALUES ($1) ON CONFLICT DO NOTHING", [i], { idempotent: true });
        acked.push(i);
      }
    })().catch((e: unknown) => {
      writeError = e;
    });
    let second: string;
    try {
      await waitFor(() => acked.length >= 5, { timeoutMs: 10_000, intervalMs: 20, what: "writes before the switchover" });
      const leader = await findPrimary(infra.zookeeper.connect, scope, infra.patroni.namespace);
      const candidate = cluster!.members.find((m) => m.name !== leader.member)!;
      const leaderMember = cluster!.members.find((m) => m.name === leader.member)!;
      await waitFor(() => trySwitchover(leaderMember.restPort, leader.member, candidate.name), {
        timeoutMs: 30_000,
        intervalMs: 500,
        what: "Patroni to accept the switchover",
      });
      second = await waitFor(() => (locator.current(scope) !== first ? locator.current(scope) : undefined), {
        timeoutMs: 30_000,
        intervalMs: 50,
        what: "the locator to report the new primary",
      });
      expect(second).toContain(`:${candidate.pgPort}/`);
      const afterSwitch = acked.length;
      await waitFor(() => acked.length >= afterSwitch + 5 || writeError !== undefined, { timeoutMs: 30_000, intervalMs: 20, what: "writes after the switchover" });
    } finally {
      stop = true;
      await writer;
    }
    expect(writeError).toBeUndefined(); // no write failed across the switchover
    expect(changes).toContain(second);
    const { rows } = await router.query<{ recovery: boolean; n: string }>(scope, "SELECT pg_is_in_recovery() AS recovery, count(*) AS n FROM ticks", [], { idempotent: true });
    expect(rows[0]!.recovery).toBe(false);
    expect(Number(rows[0]!.n)).toBeGreaterThanOrEqual(acked.length);
  });
});

/**
 * Failover while playing (issue "Sharded Postgres", item 3): kill -9 a shard primary host
 * (Patroni + postmaster + backends) five times in a row while players walk and write-behind
 * flushes.
 *
 * A PRIVATE 2-member Patroni cluster (profile test: ttl 5, synchronous mode, its own scope in
 * the shared test ZooKeeper) is the cluster's only player shard; the global database stays on
 * the shared `global` cluster. A real game runs on it (coordinator + field server + gateway,
 * N SDK clients wandering, write-behind every 200 ms), and the test process itself writes
 * through a ShardRouter: idempotent inserts into `acks`, an id recorded only after its commit
 * returned ("acknowledged").
 *
 * Each round: wait until the standby streams AND is the synchronous standby (`sync` znode and
 * pg_stat_replication agree), kill the primary host, then measure
 *  - failover_s:     kill → the locator reports the standby as primary and an insert commits there
 *  - writer_stall_s: the longest gap between two acknowledged inserts of the direct writer
 *  - wb_stall_s:     the highest `rift_field_flush_lag_seconds` seen (age of the oldest unsaved change)
 *  - acked / present / lost: every acknowledged id so far must be on the new primary
 *  - disconnects:    SDK clients closed (must stay 0: the lag bound was never reached)
 * and restart the killed member, which must come back as a streaming replica (pg_rewind when
 * its WAL diverged). At the end every player walks to a fresh target and the DB must hold it
 * (write-behind caught up).
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  killMemberHard,
  patroniRest,
  pgUrl,
  replicationRows,
  startPatroniCluster,
  startPatroniMember,
  stopPatroniCluster,
  withPg,
  type PatroniClusterState,
  type PatroniMemberState,
} from "../../src/tools/infra/infra.js";
import { connectZk, zkGet, type ZkClient } from "../../src/tools/infra/zk.js";
import { metricValue, TestCluster } from "../helpers/cluster.js";
import { getInfra } from "../helpers/infra.js";
import { uniqueId } from "../helpers/isolation.js";
import { waitFor } from "../helpers/processes.js";
import { flushedRows, seedPlayers, settle, wanderNear, type Players } from "./support.js";

const N = 150;
const WORLD = 1000;
/** Kills in a row (env RIFT_FO_ROUNDS for a quicker look while debugging). */
const ROUNDS = Number(process.env.RIFT_FO_ROUNDS ?? 5);
const WRITERS = 4;

/** Direct writer: WRITERS loops of idempotent inserts; an id counts as acked only after its commit returned. */
class AckWriter {
  readonly acked: number[] = [];
  /** performance.now() at each ack, in completion order. */
  readonly ackTimes: number[] = [];
  readonly errors: unknown[] = [];
  private next = 1;
  private stopped = false;
  private loops: Promise<void>[] = [];

  constructor(private readonly insert: (id: number) => Promise<unknown>) {}

  start(): void {
    this.loops = Array.from({ length: WRITERS }, () => this.loop());
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      const id = this.next++;
      try {
        await this.insert(id);
        this.acked.push(id);
        this.ackTimes.push(performance.now());
      } catch (err) {
        this.errors.push(err);
      }
      // pace each writer (~50 inserts/s): enough resolution for the stall, little CPU
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.loops);
  }

  /** Longest gap (ms) between consecutive acks completed within [from, to]. */
  longestGap(from: number, to: number): number {
    let gap = 0;
    let prev = from;
    for (const t of this.ackTimes) {
      if (t < from) continue;
      if (t > to) break;
      gap = Math.max(gap, t - prev);
      prev = t;
    }
    return Math.max(gap, to - prev);
  }
}

/** Polls `read` every `periodMs` and keeps the maximum until stopped. */
function maxPoller(read: () => Promise<number>, periodMs = 200): { stop(): Promise<number> } {
  let max = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      const v = await read().catch(() => 0);
      if (v > max) max = v;
      await new Promise((r) => setTimeout(r, periodMs));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return max;
    },
  };
}

interface Round {
  round: number;
  failoverS: number;
  writerStallS: number;
  wbStallS: number;
  acked: number;
  present: number;
  lost: number;
  disconnects: number;
  rejoinS: number;
  rewind: boolean;
}

const secs = (ms: number) => (ms / 1000).toFixed(2);

describe("kill -9 of a shard primary while playing, 5 times in a row", { timeout: 200_000 }, () => {
  const scope = `fo_${uniqueId()}`;
  let dir: string | undefined;
  let pat: PatroniClusterState | undefined;
  let zk: ZkClient | undefined;
  let cluster: TestCluster | undefined;
  let players: Players;
  let writer: AckWriter | undefined;
  let stopWander: (() => void) | undefined;
  let poller: { stop(): Promise<number> } | undefined;

  beforeAll(async () => {
    const infra = getInfra();
    dir = mkdtempSync(join(tmpdir(), "rift-fo-"));
    chmodSync(dir, 0o755); // Postgres (uid postgres) must traverse it
    pat = await startPatroniCluster({ dir, scope, zkConnect: infra.zookeeper.connect, profile: "test" });
    zk = await connectZk(infra.zookeeper.connect);
    cluster = await TestCluster.start({
      shardScopes: [scope],
      coordinators: 1,
      gateways: 1,
      fields: [{ zones: ["z1"] }],
      startZone: "z1",
      env: {
        RIFT__FIELD__FLUSHINTERVALMS: "200",
        RIFT__FIELD__WORLDSIZE: String(WORLD),
        RIFT__FIELD__MAXATTACHESINFLIGHT: "512",
      },
    });
    await cluster.data.router.query(scope, "CREATE TABLE IF NOT EXISTS acks (id bigint PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp())");
    players = await seedPlayers(cluster, N, { zone: "z1", worldSize: WORLD, prefix: "sf" });
  }, 150_000);

  afterAll(async () => {
    stopWander?.();
    await poller?.stop();
    await writer?.stop().catch(() => undefined);
    try {
      await cluster?.stop();
    } finally {
      zk?.close();
      if (pat) await stopPatroniCluster(pat, { zk: getInfra().zookeeper.connect, namespace: getInfra().patroni.namespace });
      if (dir) rmSync(dir, { recursive: true, force: true });
    }
  });

  it("promotes the standby within 30 s each time: 0 acked writes lost, 0 players disconnected, old primary back as standby", async () => {
    const c = cluster!;
    const ns = getInfra().patroni.namespace;
    const field = c.fields[0]!;
    const db = c.scope.dbs.name;
    const members = pat!.members;
    const other = (m: PatroniMemberState) => members.find((x) => x !== m)!;
    const memberNamed = (name: string) => members.find((m) => m.name === name);

    // every player lives on the private shard
    expect(new Set(await Promise.all(players.ids.map((id) => c.data.shardMap.shardOf(id))))).toEqual(new Set([scope]));

    const switches: { url: string; at: number }[] = [];
    c.data.locator.onChange((s, url) => {
      if (s === scope) switches.push({ url, at: performance.now() });
    });
    const closed = () => players.clients.filter((cl) => cl.closed !== undefined).length;
    const lag = async () => metricValue(await c.metrics(field), "rift_field_flush_lag_seconds");

    writer = new AckWriter((id) => c.data.router.query(scope, "INSERT INTO acks (id) VALUES ($1) ON CONFLICT DO NOTHING", [id], { idempotent: true }));
    writer.start();
    stopWander = wanderNear(players.clients, players.home, 7);
    const loopDelay = monitorEventLoopDelay({ resolution: 10 });
    loopDelay.enable();
    const w = writer;

    const rounds: Round[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      // 1. The standby streams and is THE synchronous standby (Patroni promotes only that one).
      const { primary, standby } = await waitFor(
        async () => {
          const leader = (await zkGet(zk!, `${ns}/${scope}/leader`))?.toString("utf8");
          const p = leader ? memberNamed(leader) : undefined;
          if (!p) return null;
          const s = other(p);
          const sync = JSON.parse((await zkGet(zk!, `${ns}/${scope}/sync`))?.toString("utf8") ?? "{}") as { leader?: string; sync_standby?: string };
          if (sync.leader !== p.name || sync.sync_standby !== s.name) return null;
          const rows = await replicationRows(p.pgPort);
          if (!rows.some((r) => r.application_name === s.name && r.state === "streaming" && r.sync_state === "sync")) return null;
          return { primary: p, standby: s };
        },
        { timeoutMs: 60_000, intervalMs: 200, what: `round ${round}: a primary with a streaming synchronous standby` },
      );
      // ... and both kinds of writers are making progress on it
      const ackBase = w.acked.length;
      const rowsBase = await flushedRows(c, field);
      await waitFor(async () => c.data.locator.current(scope)?.includes(`:${primary.pgPort}/`) && w.acked.length >= ackBase + 20 && (await flushedRows(c, field)) >= rowsBase + N, {
        timeoutMs: 30_000,
        intervalMs: 100,
        what: `round ${round}: writes and flushes on ${primary.name}`,
      });
      // A checkpoint, as checkpoint_timeout would have made in a longer-lived cluster: the old
      // primary's crash recovery and pg_rewind then start from a recent common checkpoint
      // instead of replaying / copying everything since bootstrap (or the last promotion).
      await withPg(pgUrl(primary.pgPort), (pg) => pg.query("CHECKPOINT"));
      const kicksBefore = metricValue(await c.metrics(field), "rift_field_kicks_total");
      const failuresBefore = metricValue(await c.metrics(field), "rift_field_flush_failures_total");
      const closedBefore = closed();
      const errorsBefore = w.errors.length;

      // 2. Host death of the primary.
      const lagPoll = (poller = maxPoller(lag));
      const t0 = performance.now();
      await killMemberHard(primary);
      const dead = performance.now();
      // when Postgres itself leaves recovery on the standby (to tell Patroni's part from ours)
      const promoted = waitFor(
        async () => ((await withPg(pgUrl(standby.pgPort), async (pg) => (await pg.query<{ r: boolean }>("SELECT pg_is_in_recovery() AS r")).rows[0]!.r)) ? false : performance.now()),
        { timeoutMs: 30_000, intervalMs: 50, what: `round ${round}: ${standby.name} to leave recovery` },
      ).catch(() => NaN);

      // 3. The locator follows and an insert commits on the new primary.
      const sw = await waitFor(() => switches.find((s) => s.at > t0 && s.url.includes(`:${standby.pgPort}/`)), {
        timeoutMs: 30_000,
        intervalMs: 20,
        what: `round ${round}: the locator to report ${standby.name} as primary`,
      });
      const firstAck = await waitFor(() => w.ackTimes.find((t) => t > Math.max(sw.at, dead)), {
        timeoutMs: 30_000,
        intervalMs: 20,
        what: `round ${round}: an insert to commit on ${standby.name}`,
      });
      const failoverMs = firstAck - t0;
      const locateMs = sw.at - t0;
      const promotedMs = (await promoted) - t0;

      // 4. Every acknowledged id is on the new primary (asked directly, not through the router).
      const acked = w.acked.slice();
      const present = await withPg(pgUrl(standby.pgPort, db), async (pg) => {
        const { rows } = await pg.query<{ n: number }>("SELECT count(*)::int AS n FROM acks WHERE id = ANY($1::bigint[])", [acked]);
        return rows[0]!.n;
      });

      // 5. Write-behind catches up: flushes land on the new primary and the lag is back to normal.
      const rowsAfterKill = await flushedRows(c, field);
      await waitFor(async () => (await flushedRows(c, field)) >= rowsAfterKill + N && (await lag()) < 1, {
        timeoutMs: 30_000,
        intervalMs: 100,
        what: `round ${round}: write-behind to catch up`,
      });
      const wbStall = await lagPoll.stop();
      const end = performance.now();
      const writerStallMs = w.longestGap(t0, end);

      // 6. The old primary comes back as a streaming replica (pg_rewind if its WAL diverged).
      const logBefore = readFileSync(primary.logFile, "utf8").length;
      const r0 = performance.now();
      await startPatroniMember(primary);
      await waitFor(
        async () => {
          if ((await patroniRest(primary.restPort, "/replica")).status !== 200) return false;
          const rows = await replicationRows(standby.pgPort);
          return rows.some((r) => r.application_name === primary.name && r.state === "streaming");
        },
        { timeoutMs: 60_000, intervalMs: 200, what: `round ${round}: ${primary.name} back as a streaming replica` },
      );
      const rejoinMs = performance.now() - r0;
      const rewind = /running pg_rewind from/.test(readFileSync(primary.logFile, "utf8").slice(logBefore));
      // players and write-behind over the whole round, rejoin included
      const disconnects = closed() - closedBefore;
      const metricsText = await c.metrics(field);
      const kicks = metricValue(metricsText, "rift_field_kicks_total") - kicksBefore;
      const flushFailures = metricValue(metricsText, "rift_field_flush_failures_total") - failuresBefore;

      const r: Round = {
        round,
        failoverS: failoverMs / 1000,
        writerStallS: writerStallMs / 1000,
        wbStallS: wbStall,
        acked: acked.length,
        present,
        lost: acked.length - present,
        disconnects,
        rejoinS: rejoinMs / 1000,
        rewind,
      };
      rounds.push(r);
      console.log(
        `RESULT shard-failover round=${round} killed=${primary.name} new_primary=${standby.name} failover_s=${secs(failoverMs)} promoted_s=${secs(promotedMs)} locate_s=${secs(locateMs)} writer_stall_s=${secs(writerStallMs)} ` +
          `wb_stall_s=${wbStall.toFixed(2)} acked=${r.acked} present=${present} lost=${r.lost} disconnects=${disconnects} kicks=${kicks} ` +
          `wb_flush_failures=${flushFailures} writer_errors=${w.errors.length - errorsBefore} rejoin_s=${secs(rejoinMs)} rewind=${rewind ? "yes" : "no"}`,
      );
      expect(failoverMs).toBeLessThan(30_000);
      expect(r.lost).toBe(0);
      expect(disconnects).toBe(0);
      expect(kicks).toBe(0);
      expect(w.errors.length - errorsBefore).toBe(0);
    }

    // The end: stop playing; every confirmed position reaches the DB (write-behind caught up).
    stopWander();
    stopWander = undefined;
    await w.stop();
    await settle(c, players, 99);
    expect(closed()).toBe(0);
    const finalPresent = await c.data.router.query<{ n: number }>(scope, "SELECT count(*)::int AS n FROM acks WHERE id = ANY($1::bigint[])", [w.acked], { idempotent: true });
    expect(finalPresent.rows[0]!.n).toBe(w.acked.length);
    const max = (k: keyof Round) => Math.max(...rounds.map((r) => r[k] as number));
    console.log(
      `RESULT shard-failover summary rounds=${rounds.length} players=${N} failover_s_max=${max("failoverS").toFixed(2)} ` +
        `failover_s=[${rounds.map((r) => r.failoverS.toFixed(2)).join(",")}] writer_stall_s_max=${max("writerStallS").toFixed(2)} wb_stall_s_max=${max("wbStallS").toFixed(2)} ` +
        `acked=${w.acked.length} present=${finalPresent.rows[0]!.n} lost=${w.acked.length - finalPresent.rows[0]!.n} disconnects=${closed()} rejoin_s_max=${max("rejoinS").toFixed(2)} ` +
        `test_loop_delay_ms_p99=${(loopDelay.percentile(99) / 1e6).toFixed(0)} test_loop_delay_ms_max=${(loopDelay.max / 1e6).toFixed(0)}`,
    );
    loopDelay.disable();
  });
});

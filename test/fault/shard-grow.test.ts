/**
 * Growing the database while 1,000 players play (issue #6 "done when"):
 * 1. move all 1,000 online users between the two shards (shard0 ↔ shard1 swap) while they
 *    wander: 0 disconnects, 0 skipped, every position confirmed afterwards flushed to the
 *    user's NEW shard, exactly one row per user on the shard its mapping names, empty move
 *    journal, every field server's cache consistent with the mapping;
 * 2. add a third shard at runtime (a new Patroni cluster, registered with `opsctl shard add`):
 *    new users are assigned to it; `opsctl shard rebalance --to <it> --fraction 0.333` moves a
 *    third of the users online while they wander, with a progress bar; same checks.
 * Prints RESULT lines (users moved per second) for the closing note.
 */
import { spawn } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Zk } from "../../src/core/cluster/zk.js";
import { loadConfig } from "../../src/core/config.js";
import { silentLogger } from "../../src/core/log.js";
import { openShardTools, type ShardTools } from "../../src/tools/opsctl/shard-tools.js";
import { startPatroniCluster, stopPatroniCluster, type PatroniClusterState } from "../../src/tools/infra/infra.js";
import { TestCluster } from "../helpers/cluster.js";
import { runOpsctl } from "../helpers/processes.js";
import { getInfra } from "../helpers/infra.js";
import { uniqueId } from "../helpers/isolation.js";
import { seedPlayers, settle, wanderNear, type Players } from "./support.js";

const N = 1000;
const WORLD = 6000;

const opsctl = (env: Record<string, string>, args: string[]) => runOpsctl(env, args, 180000);

describe("online moves of 1,000 playing users, and a shard added at runtime", { timeout: 420_000 }, () => {
  let cluster: TestCluster | undefined;
  let zk: Zk | undefined;
  let tools: ShardTools | undefined;
  let players: Players;
  let extraDir: string | undefined;
  let extra: PatroniClusterState | undefined;

  beforeAll(async () => {
    cluster = await TestCluster.start({
      gateways: 2,
      fields: [{ zones: ["z1"] }, { zones: ["z2"] }],
      env: { RIFT__FIELD__WORLDSIZE: String(WORLD), RIFT__FIELD__FLUSHINTERVALMS: "300", RIFT__FIELD__MAXATTACHESINFLIGHT: "512" },
    });
    const a = await seedPlayers(cluster, N / 2, { zone: "z1", worldSize: WORLD, prefix: "ga", seed: 5 });
    const b = await seedPlayers(cluster, N / 2, { zone: "z2", worldSize: WORLD, prefix: "gb", seed: 6 });
    players = { names: [...a.names, ...b.names], ids: [...a.ids, ...b.ids], clients: [...a.clients, ...b.clients], home: [...a.home, ...b.home] };
    const config = loadConfig({ env: { ...cluster.env } });
    zk = await Zk.connect({ connect: config.cluster.zookeeper.connect, sessionTimeoutMs: 5000, connectTimeoutMs: 10_000 });
    tools = openShardTools({ config, zk, log: silentLogger() });
  }, 300_000);

  afterAll(async () => {
    await tools?.close();
    await zk?.close();
    await cluster?.stop();
    const infra = getInfra();
    if (extra) await stopPatroniCluster(extra, { zk: infra.zookeeper.connect, namespace: infra.patroni.namespace });
    if (extraDir) rmSync(extraDir, { recursive: true, force: true });
  });

  /** Mapping, rows, journal and caches agree for every player; positions flushed. */
  async function checkConsistent(label: string): Promise<Map<number, string>> {
    const c = cluster!;
    const t = tools!;
    await settle(c, players, label.length * 7 + 1); // walks everyone, waits until the DB (via fresh mappings) holds it
    expect(players.clients.filter((cl) => cl.closed !== undefined).length).toBe(0);
    const mapping = await t.data.shardMap.readMappings(players.ids);
    expect(mapping.size).toBe(N);
    for (const shard of await t.data.shardMap.shards()) {
      const { rows } = await t.data.router.query<{ user_id: string }>(shard, "SELECT user_id FROM players WHERE user_id = ANY($1::bigint[])", [players.ids], { idempotent: true });
      for (const r of rows) expect(mapping.get(Number(r.user_id)), `${label}: user ${r.user_id} has a row on ${shard}`).toBe(shard);
      expect(rows.length).toBe([...mapping.values()].filter((s) => s === shard).length);
    }
    const journal = await t.data.router.query<{ n: string }>(c.env.RIFT__DB__GLOBALSCOPE ?? "global", "SELECT count(*) AS n FROM shard_moves", [], { idempotent: true });
    expect(Number(journal.rows[0]!.n)).toBe(0);
    for (const f of c.fields) {
      const view = (await (await fetch(`http://127.0.0.1:${f.opsPort}/shard/cache?users=${players.ids.join(",")}`)).json()) as Record<string, string | null>;
      const stale = players.ids.filter((id) => view[String(id)] !== null && view[String(id)] !== mapping.get(id));
      expect(stale, `${label}: stale cache entries on ${f.id}`).toEqual([]);
    }
    return mapping;
  }

  it("moves all 1,000 online users between the two shards while they play", async () => {
    const t = tools!;
    const before = await t.data.shardMap.readMappings(players.ids);
    const shards = [...new Set(before.values())].sort();
    expect(shards.length).toBe(2);
    const stop = wanderNear(players.clients, players.home, 9, { periodMs: 200 }); // near home: long runs must not drift to the world's edge
    let seconds = 0;
    try {
      const [r0, r1] = await Promise.all(
        shards.map((from) => {
          const to = shards.find((s) => s !== from)!;
          return t.mover.moveUsers(players.ids.filter((id) => before.get(id) === from), to);
        }),
      );
      expect([...r0!.skipped, ...r1!.skipped]).toEqual([]);
      expect(r0!.moved.length + r1!.moved.length).toBe(N);
      seconds = Math.max(r0!.seconds, r1!.seconds);
    } finally {
      stop();
    }
    process.stderr.write(`RESULT shard-move users=${N} seconds=${seconds.toFixed(2)} users_per_s=${(N / seconds).toFixed(0)} disconnects=${players.clients.filter((c) => c.closed).length}\n`);
    const after = await checkConsistent("swap");
    for (const id of players.ids) expect(after.get(id)).not.toBe(before.get(id));
  });

  it("adds a third shard at runtime, gives it new users, and rebalances a third of the users onto it while they play", async () => {
    const c = cluster!;
    const t = tools!;
    const infra = getInfra();
    const scope = `grow_${uniqueId()}`;
    extraDir = mkdtempSync(join(tmpdir(), "rift-shard-grow-"));
    chmodSync(extraDir, 0o755);
    extra = await startPatroniCluster({ dir: extraDir, scope, zkConnect: infra.zookeeper.connect, profile: "test", databases: ["rift"] });

    const env = { ...c.env } as Record<string, string>;
    const added = await opsctl(env, ["shard", "add", scope, "--json"]);
    expect(added.code, added.stderr).toBe(0);
    expect(JSON.parse(added.stdout)).toMatchObject({ name: scope, state: "active", weight: 2 });

    // new users registering through a gateway (which heard of the shard on the mapping bus):
    // half of them (weight 2 of 4) land on the new shard
    const freshIds: number[] = [];
    const registerOne = async (i: number) => {
      const reg = await c.connect(i % c.gateways.length);
      await reg.hello();
      freshIds.push((await reg.register(`new${i}_${c.uid}`, "password1")).userId);
      await reg.close();
    };
    for (let i = 0; i < 40; i += 8) await Promise.all([0, 1, 2, 3, 4, 5, 6, 7].map((k) => registerOne(i + k)));
    const freshMap = await t.data.shardMap.readMappings(freshIds);
    const onNew = [...freshMap.values()].filter((s) => s === scope).length;
    expect(onNew).toBeGreaterThan(5);
    expect(onNew).toBeLessThan(35);

    const stop = wanderNear(players.clients, players.home, 13, { periodMs: 200 });
    let reb: { code: number | null; stdout: string; stderr: string };
    try {
      reb = await opsctl(env, ["shard", "rebalance", "--to", scope, "--fraction", "0.333", "--json"]);
    } finally {
      stop();
    }
    expect(reb.code, reb.stderr).toBe(0);
    const out = JSON.parse(reb.stdout) as { moved: number; skipped: unknown[]; seconds: number; plan: { from: string; count: number }[] };
    expect(out.skipped).toEqual([]);
    const planned = out.plan.reduce((n, s) => n + s.count, 0);
    expect(out.moved).toBe(planned);
    expect(reb.stderr).toMatch(/rebalance → .*100%/); // the progress bar reached the end
    process.stderr.write(`RESULT shard-rebalance moved=${out.moved} seconds=${out.seconds} users_per_s=${(out.moved / out.seconds).toFixed(0)}\n`);

    const mapping = await checkConsistent("rebalance");
    const ours = players.ids.filter((id) => mapping.get(id) === scope).length;
    // a third of the 1,000 players (plus a third of the earlier fresh users, not counted here)
    expect(ours).toBeGreaterThan(N * 0.25);
    expect(ours).toBeLessThan(N * 0.42);
  });
});

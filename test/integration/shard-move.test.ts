/**
 * Online user moves between shards on a real cluster (coordinator, 2 field servers, 2
 * gateways, the shared Patroni shards): users keep playing while the mover holds their
 * writes at the owning field server, copies the rows, flips the mapping and releases them.
 * Checks: no client is disconnected, every change made during the move reaches the DB on
 * the new shard, the source keeps no row, the journal is empty, and every process's cache
 * agrees. Also drives `opsctl shard list | move-user` as a subprocess.
 */
import { spawn } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Zk } from "../../src/core/cluster/zk.js";
import { loadConfig } from "../../src/core/config.js";
import { silentLogger } from "../../src/core/log.js";
import { inventoryOn, PgItemRepository } from "../../src/shard/items.js";
import { UserMover, type MoveReport, type OwnerControl } from "../../src/shard/mover.js";
import { HttpOwnerControl } from "../../src/shard/owner-control.js";
import { openShardTools, type ShardTools } from "../../src/tools/opsctl/shard-tools.js";
import { TestCluster } from "../helpers/cluster.js";
import { waitFor, runOpsctl } from "../helpers/processes.js";
import { prng, walkAll } from "../e2e/support.js";
import { seedPlayers, wanderNear, type Players } from "../fault/support.js";

const WORLD = 2000;

const opsctl = (env: Record<string, string>, args: string[]) => runOpsctl(env, args, 90000);

describe("online user move between shards", { timeout: 240_000 }, () => {
  let cluster: TestCluster | undefined;
  let zk: Zk | undefined;
  let tools: ShardTools | undefined;
  let players: Players;

  beforeAll(async () => {
    cluster = await TestCluster.start({
      gateways: 2,
      fields: [{ zones: ["z1"] }, { zones: ["z2"] }],
      env: { RIFT__FIELD__WORLDSIZE: String(WORLD), RIFT__FIELD__FLUSHINTERVALMS: "200" },
    });
    const a = await seedPlayers(cluster, 20, { zone: "z1", worldSize: WORLD, prefix: "mva", seed: 3 });
    const b = await seedPlayers(cluster, 20, { zone: "z2", worldSize: WORLD, prefix: "mvb", seed: 4 });
    players = { names: [...a.names, ...b.names], ids: [...a.ids, ...b.ids], clients: [...a.clients, ...b.clients], home: [...a.home, ...b.home] };
    const config = loadConfig({ env: { ...cluster.env } });
    zk = await Zk.connect({ connect: config.cluster.zookeeper.connect, sessionTimeoutMs: 5000, connectTimeoutMs: 10_000 });
    tools = openShardTools({ config, zk, log: silentLogger(), batchSize: 8 });
  }, 180_000);

  afterAll(async () => {
    await tools?.close();
    await zk?.close();
    await cluster?.stop();
  });

  it("moves online users in bulk while they walk: nothing lost, nobody disconnected, caches consistent", async () => {
    const c = cluster!;
    const t = tools!;
    const mapping = await t.data.shardMap.readMappings(players.ids);
    const shards = [...new Set(mapping.values())].sort();
    expect(shards.length).toBeGreaterThan(0);
    // move everyone off the shard holding the most of them
    const counts = new Map<string, number>();
    for (const s of mapping.values()) counts.set(s, (counts.get(s) ?? 0) + 1);
    const source = [...counts].sort((x, y) => y[1] - x[1])[0]![0];
    const all = (await t.data.shardMap.shards()).sort();
    const target = all.find((s) => s !== source)!;
    const moving = players.ids.filter((id) => mapping.get(id) === source);
    expect(moving.length).toBeGreaterThan(4);

    // Everyone wanders during the move; besides, right after a batch's hold succeeded (its
    // state is in the DB, its writes held) its users walk to exact targets and the server
    // confirms them — these last changes exist only in memory while held, so the final DB
    // check proves held writes are not lost and land on the new shard under the new epoch.
    const rnd = prng(77);
    const targets = new Map<number, { x: number; y: number }>();
    const clientOf = new Map(players.ids.map((id, i) => [id, players.clients[i]!]));
    const http = new HttpOwnerControl({
      resolve: async (owner) => {
        const f = c.fields.find((x) => x.id === owner);
        return f ? { host: "127.0.0.1", opsPort: f.opsPort } : undefined;
      },
    });
    let holds = 0;
    const owners: OwnerControl = {
      hold: async (owner, moveId, users) => {
        const r = await http.hold(owner, moveId, users);
        holds += r.held.length;
        const held = r.held.map((h) => h.userId);
        const cls = held.map((u) => clientOf.get(u)!);
        const goals = cls.map((cl) => ({ x: Math.round(cl.self!.x) + Math.floor(rnd() * 21) - 10, y: Math.round(cl.self!.y) + Math.floor(rnd() * 21) - 10 }));
        held.forEach((u, i) => targets.set(u, goals[i]!));
        await walkAll(cls, goals, { timeoutMs: 30_000 });
        return r;
      },
      release: (owner, moveId, users) => http.release(owner, moveId, users),
    };
    const mover = new UserMover({ router: t.data.router, shardMap: t.data.shardMap, globalScope: c.env.RIFT__DB__GLOBALSCOPE ?? "global", owners, bus: t.data.bus, log: silentLogger(), batchSize: 8 });
    const idx = players.clients.map((_, i) => i).filter((i) => !moving.includes(players.ids[i]!));
    const stopWander = wanderNear(idx.map((i) => players.clients[i]!), idx.map((i) => players.home[i]!), 21);
    let report: MoveReport;
    try {
      report = await mover.moveUsers(moving, target);
    } finally {
      stopWander();
    }
    expect(holds).toBe(moving.length);
    for (const id of moving) expect(targets.has(id)).toBe(true);

    expect(report!.skipped).toEqual([]);
    expect([...report!.moved].sort()).toEqual([...moving].sort());
    // the DB (found through the fresh mapping) holds exactly the positions confirmed while held
    await waitFor(
      async () => {
        const rows = await Promise.all(moving.map((id) => c.data.players.load(id)));
        return rows.every((r, i) => r !== undefined && r.state.x === targets.get(moving[i]!)!.x && r.state.y === targets.get(moving[i]!)!.y);
      },
      { timeoutMs: 30_000, intervalMs: 200, what: "every position confirmed during the hold to be flushed to the new shard" },
    );
    for (const cl of players.clients) expect(cl.closed).toBeUndefined();

    const after = await t.data.shardMap.readMappings(moving);
    for (const id of moving) expect(after.get(id)).toBe(target);
    const onSource = await t.data.router.query<{ n: string }>(source, "SELECT count(*) AS n FROM players WHERE user_id = ANY($1::bigint[])", [moving], { idempotent: true });
    expect(Number(onSource.rows[0]!.n)).toBe(0);
    const onTarget = await t.data.router.query<{ n: string }>(target, "SELECT count(*) AS n FROM players WHERE user_id = ANY($1::bigint[])", [moving], { idempotent: true });
    expect(Number(onTarget.rows[0]!.n)).toBe(moving.length);
    const journal = await t.data.router.query<{ n: string }>(c.env.RIFT__DB__GLOBALSCOPE ?? "global", "SELECT count(*) AS n FROM shard_moves", [], { idempotent: true });
    expect(Number(journal.rows[0]!.n)).toBe(0);
    // every field server's cache: no entry, or the new shard (the bus delivered the change)
    for (const f of c.fields) {
      const res = await fetch(`http://127.0.0.1:${f.opsPort}/shard/cache?users=${moving.join(",")}`);
      const view = (await res.json()) as Record<string, string | null>;
      for (const id of moving) expect([null, target]).toContain(view[String(id)]);
    }
  });

  it("opsctl shard list and move-user work against the running cluster", async () => {
    const c = cluster!;
    const env = { ...c.env } as Record<string, string>;
    const list = await opsctl(env, ["shard", "list", "--json"]);
    expect(list.stderr).toBe("");
    expect(list.code).toBe(0);
    const shards = (JSON.parse(list.stdout) as { shards: { name: string; users: number; primary: string | null }[] }).shards;
    expect(shards.reduce((n, s) => n + s.users, 0)).toBeGreaterThanOrEqual(players.ids.length);
    for (const s of shards) expect(s.primary).toMatch(/^127\.0\.0\.1:\d+$/);

    const user = players.ids[0]!;
    const from = (await tools!.data.shardMap.readMappings([user])).get(user)!;
    // items and currency move with the user (every table of SHARD_USER_TABLES)
    const items = new PgItemRepository({ router: c.data.router, shardMap: c.data.shardMap, globalScope: c.env.RIFT__DB__GLOBALSCOPE ?? "global" });
    const itemIds = await items.grantItems(user, [{ kind: "sword", qty: 1 }, { kind: "potion", qty: 3 }]);
    await items.grantCurrency(user, 250);
    const to = shards.map((s) => s.name).find((s) => s !== from)!;
    const moved = await opsctl(env, ["shard", "move-user", String(user), to, "--json"]);
    expect(moved.code, moved.stderr).toBe(0);
    expect(JSON.parse(moved.stdout)).toMatchObject({ user, to, moved: 1, skipped: [] });
    expect((await tools!.data.shardMap.readMappings([user])).get(user)).toBe(to);
    expect((await inventoryOn(c.data.router, to, [user])).map((i) => i.itemId).sort()).toEqual([...itemIds].sort());
    expect(await inventoryOn(c.data.router, from, [user])).toEqual([]);
    const wallets = async (shard: string) => (await c.data.router.query<{ currency: string }>(shard, "SELECT currency FROM wallets WHERE user_id = $1", [user], { idempotent: true })).rows.map((r) => Number(r.currency));
    expect([await wallets(from), await wallets(to)]).toEqual([[], [250]]);
    // the user keeps playing on its new shard
    const cl = players.clients[0]!;
    const goal = { x: Math.round(cl.self!.x) + 3, y: Math.round(cl.self!.y) - 2 };
    await walkAll([cl], [goal], { timeoutMs: 30_000 });
    await waitFor(async () => (await c.data.players.load(user))?.state.x === goal.x, { timeoutMs: 20_000, intervalMs: 100, what: "the moved user's new position in the DB" });
    expect(cl.closed).toBeUndefined();

    const unknown = await opsctl(env, ["shard", "move-user", String(user), "no_such_shard"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("RIFT_SHARD_UNKNOWN");
  });

  it("recover() rolls back a move that died before the flip and finishes one that died after it", async () => {
    const c = cluster!;
    const t = tools!;
    const g = c.env.RIFT__DB__GLOBALSCOPE ?? "global";
    const [a, b] = await c.seedAccounts([`rca_${c.uid}`, `rcb_${c.uid}`]);
    for (const u of [a!, b!]) await c.data.players.ensure({ userId: u.userId, name: u.name, zone: "z1", x: 5, y: 6, hp: 100 });
    const m = await t.data.shardMap.readMappings([a!.userId, b!.userId]);
    const other = async (s: string) => (await t.data.shardMap.shards()).find((x) => x !== s)!;
    const copyRow = (from: string, to: string, id: number) =>
      t.data.router.query(from, "SELECT row_to_json(p) AS r FROM players p WHERE user_id = $1", [id], { idempotent: true }).then((res) =>
        t.data.router.query(to, "INSERT INTO players SELECT * FROM json_populate_record(NULL::players, $1::json)", [JSON.stringify(res.rows[0].r)]),
      );
    const count = async (shard: string, id: number) => Number((await t.data.router.query<{ n: string }>(shard, "SELECT count(*) AS n FROM players WHERE user_id = $1", [id], { idempotent: true })).rows[0]!.n);
    // a: the mover died after copying (journal 'copying', mapping unchanged)
    const aFrom = m.get(a!.userId)!;
    const aTo = await other(aFrom);
    await copyRow(aFrom, aTo, a!.userId);
    await t.data.router.query(g, "INSERT INTO shard_moves (user_id, from_shard, to_shard, state, move_id) VALUES ($1, $2, $3, 'copying', 'dead-mover')", [a!.userId, aFrom, aTo]);
    // b: the mover died after the flip (journal 'flipped', source row still there)
    const bFrom = m.get(b!.userId)!;
    const bTo = await other(bFrom);
    await copyRow(bFrom, bTo, b!.userId);
    await t.data.router.transaction(g, async (tx) => {
      await tx.query("UPDATE shard_map SET shard = $2 WHERE user_id = $1", [b!.userId, bTo]);
      await tx.query("INSERT INTO shard_moves (user_id, from_shard, to_shard, state, move_id) VALUES ($1, $2, $3, 'flipped', 'dead-mover')", [b!.userId, bFrom, bTo]);
    });
    expect(await t.mover.recover(0)).toEqual({ completed: 1, rolledBack: 1 });
    expect([await count(aFrom, a!.userId), await count(aTo, a!.userId)]).toEqual([1, 0]);
    expect([await count(bFrom, b!.userId), await count(bTo, b!.userId)]).toEqual([0, 1]);
    const after = await t.data.shardMap.readMappings([a!.userId, b!.userId]);
    expect([after.get(a!.userId), after.get(b!.userId)]).toEqual([aFrom, bTo]);
    const journal = await t.data.router.query<{ n: string }>(g, "SELECT count(*) AS n FROM shard_moves", [], { idempotent: true });
    expect(Number(journal.rows[0]!.n)).toBe(0);
  });
});

/**
 * Shared pieces of the fault tests: a private ZooKeeper ensemble per test file (these tests
 * kill and pause ZooKeeper, so they never touch the shared one), players seeded at spread-out
 * positions (so 200 SDK clients in the test process do not all see each other), and a
 * "settle" step that walks every client to an exact integer target and waits until the
 * server confirmed it and write-behind flushed it — the acknowledged state the tests then
 * check is never lost.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { RiftClient } from "../../src/client/rift-client.js";
import { startZooKeeper, stopZooKeeper, zkMode, type ZooKeeperState, type ZkNodeState } from "../../src/tools/infra/infra.js";
import { metricValue, type FieldNode, type TestCluster } from "../helpers/cluster.js";
import { waitFor } from "../helpers/processes.js";
import { prng, walkAll, type Point } from "../e2e/support.js";

export interface PrivateZk {
  state: ZooKeeperState;
  connect: string;
  stop(): Promise<void>;
}

/** Start a private ZooKeeper (3 nodes by default) in its own temp dir; `stop()` removes it. */
export async function privateZooKeeper(nodes: 1 | 3 = 3): Promise<PrivateZk> {
  const dir = mkdtempSync(join(tmpdir(), "rift-fault-zk-"));
  const state = await startZooKeeper({ dir, nodes });
  return {
    state,
    connect: state.connect,
    stop: async () => {
      await stopZooKeeper(state).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The node that is the ensemble's leader now. */
export async function zkLeader(zk: PrivateZk): Promise<ZkNodeState> {
  return waitFor(
    async () => {
      for (const n of zk.state.nodes) if ((await zkMode(n.clientPort).catch(() => "")) === "leader") return n;
      return undefined;
    },
    { timeoutMs: 20_000, intervalMs: 100, what: "a ZooKeeper leader" },
  );
}

export interface Players {
  names: string[];
  ids: number[];
  clients: RiftClient[];
  /** Spawn position of each player (seeded into its row before the first login). */
  home: Point[];
}

/**
 * Register `n` accounts, seed their rows in `zone` at spread-out integer positions, log each
 * in through gateway `i % gateways` and wait for its `enter`.
 */
export async function seedPlayers(cluster: TestCluster, n: number, opts: { zone: string; worldSize: number; prefix: string; seed?: number }): Promise<Players> {
  const names = Array.from({ length: n }, (_, i) => `${opts.prefix}${i}_${cluster.uid}`);
  const accounts = await cluster.seedAccounts(names);
  const rnd = prng(opts.seed ?? 11);
  const margin = 30;
  const home = accounts.map(() => ({ x: margin + Math.floor(rnd() * (opts.worldSize - 2 * margin)), y: margin + Math.floor(rnd() * (opts.worldSize - 2 * margin)) }));
  for (let i = 0; i < accounts.length; i += 16) {
    await Promise.all(
      accounts.slice(i, i + 16).map((a, k) => cluster.data.players.ensure({ userId: a.userId, name: a.name, zone: opts.zone, x: home[i + k]!.x, y: home[i + k]!.y, hp: 100 })),
    );
  }
  const clients: RiftClient[] = [];
  for (let i = 0; i < names.length; i += 20) {
    clients.push(
      ...(await Promise.all(names.slice(i, i + 20).map((name, k) => cluster.player(name, { gateway: (i + k) % cluster.gateways.length, client: { requestTimeoutMs: 120_000 } })))),
    );
  }
  return { names, ids: accounts.map((a) => a.userId), clients, home };
}

/**
 * Walk every client a few units to a fresh integer target, wait until the server confirmed
 * each position and the DB holds it (flushed = acknowledged). Returns the targets.
 */
export async function settle(cluster: TestCluster, p: Players, seed: number): Promise<Point[]> {
  const rnd = prng(seed);
  const targets = p.clients.map((c) => {
    const s = c.self!;
    const dx = Math.floor(rnd() * 21) - 10;
    const dy = Math.floor(rnd() * 21) - 10;
    return { x: Math.round(s.x) + dx, y: Math.round(s.y) + dy };
  });
  await walkAll(p.clients, targets, { timeoutMs: 60_000 });
  await waitFor(
    async () => {
      const rows = await Promise.all(p.ids.map((id) => cluster.data.players.load(id)));
      return rows.every((r, i) => r !== undefined && r.state.x === targets[i]!.x && r.state.y === targets[i]!.y);
    },
    { timeoutMs: 30_000, intervalMs: 200, what: "every confirmed position to be flushed" },
  );
  return targets;
}

/** Keep every client walking randomly (small steps) until the returned stop function is called. */
export function wander(clients: readonly RiftClient[], seed: number, periodMs = 150): () => void {
  const rnd = prng(seed);
  const timer = setInterval(() => {
    for (const c of clients) {
      const s = c.self;
      if (!s || c.closed) continue;
      c.move(s.x + (rnd() * 8 - 4), s.y + (rnd() * 8 - 4));
    }
  }, periodMs);
  return () => clearInterval(timer);
}

/** Player rows a field server has written so far (`rift_field_flush_rows_total`). */
export async function flushedRows(cluster: TestCluster, node: FieldNode): Promise<number> {
  return metricValue(await cluster.metrics(node), "rift_field_flush_rows_total");
}

/**
 * Like `wander`, but each client stays within `radius` of its `home` (a step from outside the
 * radius heads back toward home), so long runs never drift to the world's edge — where
 * `settle`'s targets would be clamped and never reached.
 */
export function wanderNear(clients: readonly RiftClient[], home: readonly Point[], seed: number, opts: { radius?: number; periodMs?: number } = {}): () => void {
  const rnd = prng(seed);
  const radius = opts.radius ?? 15;
  const timer = setInterval(() => {
    clients.forEach((c, i) => {
      const s = c.self;
      const h = home[i];
      if (!s || !h || c.closed) return;
      let dx = rnd() * 8 - 4;
      let dy = rnd() * 8 - 4;
      if (Math.abs(s.x - h.x) > radius) dx = Math.sign(h.x - s.x) * Math.abs(dx);
      if (Math.abs(s.y - h.y) > radius) dy = Math.sign(h.y - s.y) * Math.abs(dy);
      c.move(s.x + dx, s.y + dy);
    });
  }, opts.periodMs ?? 150);
  return () => clearInterval(timer);
}

/**
 * `npm run infra -- add-shard` on a private infra (its own run dir, ZooKeeper, Redis, global +
 * 1 shard, profile test — the shared test infra is not touched): up → add-shard (the real CLI)
 * → the new cluster is healthy in `status`, writable, listed in state.json and infraEnv → `up`
 * with the original shard count reuses the grown infra → `down` leaves no process alive.
 */
import { execFile } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  findPrimary,
  infraDown,
  infraEnv,
  infraUp,
  patroniPid,
  postmasterPid,
  readState,
  withDatabase,
  withPg,
  type ComponentStatus,
  type InfraState,
  type PatroniClusterState,
} from "../../src/tools/infra/infra.js";
import { descendants, isOwnedAlive } from "../../src/tools/infra/proc.js";
import { tsxCommand } from "../helpers/processes.js";

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const CLI = "src/tools/infra/cli.ts";

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

function infraCli(args: string[], timeoutMs = 150_000): Promise<Run> {
  const [cmd, argv] = tsxCommand(CLI, args);
  const t0 = Date.now();
  return new Promise((res) => {
    execFile(cmd, argv, { cwd: REPO_ROOT, timeout: timeoutMs, killSignal: "SIGKILL", maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : null) : 0;
      res({ code, stdout, stderr, ms: Date.now() - t0 });
    });
  });
}

/** Every PID of a running infra: ZooKeeper, Redis, Patroni, postmasters and their children. */
function allPids(s: InfraState): number[] {
  const pids = new Set<number>([...s.zookeeper.nodes.map((n) => n.pid), s.redis.pid]);
  for (const m of s.patroni.clusters.flatMap((c) => c.members)) {
    const pat = patroniPid(m);
    const pm = postmasterPid(m);
    for (const p of [pat, pm, ...(pm ? descendants(pm) : [])]) if (p) pids.add(p);
  }
  return [...pids];
}

describe("infra add-shard", { timeout: 300_000 }, () => {
  let base: string;
  let runDir: string;
  let before: InfraState;

  beforeAll(async () => {
    base = mkdtempSync(join(tmpdir(), "rift-addshard-"));
    chmodSync(base, 0o755); // Postgres (uid postgres) must traverse it
    runDir = join(base, "run");
    before = await infraUp({ runDir, shards: 1, zk: 1, profile: "test", log: () => {} });
  }, 240_000);

  afterAll(async () => {
    // Normally `down` in the test already removed it; this is the safety net (by PID).
    if (runDir && existsSync(runDir)) await infraDown(runDir, { log: () => {} });
    if (base) rmSync(base, { recursive: true, force: true });
  });

  it("starts a ready shard cluster, records it, keeps it across `up`, and `down` stops all of it", async () => {
    expect(before.patroni.clusters.map((c) => c.scope)).toEqual(["global", "shard0"]);
    const pidsBefore = allPids(before);

    // 1. add-shard through the real CLI: the next free name, one JSON document on stdout.
    const add = await infraCli(["add-shard", "--run-dir", runDir, "--json"]);
    expect(add.code, add.stderr).toBe(0);
    const cluster = JSON.parse(add.stdout) as PatroniClusterState;
    expect(cluster.scope).toBe("shard1");
    expect(cluster.members.map((m) => m.name)).toEqual(["pg0", "pg1"]);
    expect(add.stderr).toMatch(/^\[infra\] added shard1 in /m);
    process.stderr.write(`[add-shard test] add-shard CLI took ${(add.ms / 1000).toFixed(1)}s (${/added shard1 in ([\d.]+s)/.exec(add.stderr)?.[1]} for the cluster)\n`);

    // 2. state.json lists it (after the original clusters); processes see it through infraEnv.
    const after = readState(runDir)!;
    expect(after.patroni.clusters.map((c) => c.scope)).toEqual(["global", "shard0", "shard1"]);
    expect(after.patroni.clusters[2]).toEqual(cluster);
    expect(after.startedAt).toBe(before.startedAt);
    expect(infraEnv(after).RIFT__DB__SHARDSCOPES).toBe("[shard0,shard1]");

    // 3. status: everything healthy, the new cluster with a primary and a sync standby.
    const st = await infraCli(["status", "--run-dir", runDir, "--json"]);
    expect(st.code, st.stdout + st.stderr).toBe(0);
    const statuses = JSON.parse(st.stdout) as ComponentStatus[];
    expect(statuses.map((s) => s.component)).toEqual(["zk1", "redis", "global", "shard0", "shard1"]);
    const s1 = statuses.find((s) => s.component === "shard1")!;
    expect(s1.healthy, s1.detail).toBe(true);
    expect(s1.detail).toMatch(/primary .*streaming-standby\(sync\)/);

    // 4. A write on the new primary (found through ZooKeeper, as the shard router does) in `rift`.
    const primary = await findPrimary(after.zookeeper.connect, "shard1", after.patroni.namespace);
    const rows = await withPg(withDatabase(primary.connUrl, "rift"), async (c) => {
      await c.query("CREATE TABLE add_shard_probe (id int PRIMARY KEY, note text NOT NULL)");
      await c.query("INSERT INTO add_shard_probe VALUES (1, 'hello shard1')");
      return (await c.query<{ note: string }>("SELECT note FROM add_shard_probe WHERE id = 1")).rows;
    });
    expect(rows).toEqual([{ note: "hello shard1" }]);

    // 5. The name is taken now: refused with exit 1 and a catalog code; nothing changes.
    const again = await infraCli(["add-shard", "--run-dir", runDir, "--name", "shard1"]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/RIFT_INFRA_CLUSTER_EXISTS/);
    expect(readState(runDir)).toEqual(after);

    // 6. `up` with the original (smaller) shard count — what `npm start` does — reuses the grown infra.
    const reused = await infraUp({ runDir, shards: 1, zk: 1, profile: "test", log: () => {} });
    expect(reused).toEqual(after);
    for (const p of pidsBefore) expect(isOwnedAlive(p, runDir), `pid ${p} still alive after the reusing up`).toBe(true);

    // 7. down stops every process of the grown infra and removes the run dir.
    const pids = allPids(after);
    expect(pids.length).toBeGreaterThan(pidsBefore.length);
    expect(pids.filter((p) => !isOwnedAlive(p, runDir))).toEqual([]);
    const down = await infraCli(["down", "--run-dir", runDir]);
    expect(down.code, down.stderr).toBe(0);
    expect(down.stderr).toMatch(/stopped 6 Patroni member\(s\)/);
    // (identity by working directory under the run dir, so a recycled PID cannot fail this)
    expect(pids.filter((p) => isOwnedAlive(p, runDir))).toEqual([]);
    expect(existsSync(runDir)).toBe(false);
  });
});

/**
 * The whole local infrastructure of a Rift cluster, as one unit: ZooKeeper (1 or 3 nodes),
 * Redis, the Patroni cluster of the global database (scope "global") and N shard clusters
 * (scopes shard0..N-1), each a primary + synchronous standby, every cluster with a database
 * named `rift`. Used by `npm run infra`, the test globalSetup and `npm start`.
 *
 * Run dir layout (everything lives here; `down` removes it):
 *   .rift-infra  state.json  zookeeper/zk<i>/  redis/  global/pg<i>/  shard<k>/pg<i>/
 *
 * - infraUp: idempotent. A healthy infra of the requested shape is reused; a partially dead
 *   or differently shaped one is torn down and started fresh. ZooKeeper first, then Redis and
 *   all Patroni clusters concurrently. On any failure: names the component, prints the tail of
 *   its log, tears down everything, rethrows.
 * - infraDown: stops every process found through the PID files in the run dir (so it also
 *   works when state.json is missing, stale, or `up` died half-way), waits until the PIDs are
 *   gone and the ports free, removes the run dir unless `keep`.
 * - infraStatus: health per component (see status.ts).
 * - addShard: starts one more shard cluster (`<runDir>/<name>/pg<i>/`) on a running, healthy
 *   infra and appends it to state.json; on failure removes only that cluster.
 *
 * The building blocks (startZooKeeper, startRedis, startPatroniCluster, killMemberHard, ...)
 * are re-exported for fault tests that need private infra they can break.
 */
import { existsSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { RiftError } from "../../core/errors.js";
import { makeDirs } from "./dirs.js";
import { InfraComponentError } from "./errors.js";
import { ensurePackages } from "./install.js";
import { withRunDirLock } from "./lock.js";
import { patroniPid, postmasterPid, stopPatroniCluster, stopPatroniMember, startPatroniCluster, type MemberRef, type Profile } from "./patroni.js";
import { isPortFree } from "./ports.js";
import { descendants, isOwnedAlive, readPidFile, signal, stopPid, tailFile } from "./proc.js";
import { startRedis } from "./redis.js";
import { clusterNameSyntaxProblem, nextShardName, reuseDecision, shapeOf, shardNameProblem, withAddedCluster } from "./shards.js";
import { MARKER_FILE, readState, stateFile, writeState, type InfraState, type PatroniClusterState } from "./state.js";
import { componentStatuses, type ComponentStatus } from "./status.js";
import { errorText, since, waitFor } from "./wait.js";
import { withZk, zkChildren } from "./zk.js";
import { startZooKeeper } from "./zookeeper.js";

export type { InfraState, PatroniClusterState, PatroniMemberState, RedisState, ZooKeeperState, ZkNodeState } from "./state.js";
export type { ComponentStatus } from "./status.js";
export { formatStatusLines, patroniClusterStatus } from "./status.js";
export { nextShardName, reuseDecision, shardClusters, shardNameProblem, withAddedCluster } from "./shards.js";
export { readState } from "./state.js";
export { startZooKeeper, startZooKeeperNode, stopZooKeeper, zkMode } from "./zookeeper.js";
export { startRedis, stopRedis, redisPing } from "./redis.js";
export {
  PROFILES,
  PATRONI_NAMESPACE,
  findPrimary,
  killMemberHard,
  patroniRest,
  patroniPid,
  postmasterPid,
  replicationRows,
  startPatroniCluster,
  startPatroniMember,
  stopPatroniCluster,
  stopPatroniMember,
  type PrimaryInfo,
  type Profile,
} from "./patroni.js";
export { pgUrl, withDatabase, withPg } from "./pg.js";
export { InfraComponentError } from "./errors.js";

/** Name of the database created on every cluster. */
export const RIFT_DATABASE = "rift";
export const GLOBAL_SCOPE = "global";

export interface InfraOptions {
  runDir: string;
  shards: number;
  zk: 1 | 3;
  profile: Profile;
  /** Progress lines (default: stderr with an "[infra] " prefix). */
  log?: (line: string) => void;
  /** Aborting stops the start-up and tears down what was started. */
  signal?: AbortSignal;
}

export function defaultLog(line: string): void {
  process.stderr.write(`[infra] ${line}\n`);
}

export function shardScopes(shards: number): string[] {
  return Array.from({ length: shards }, (_, i) => `shard${i}`);
}

export async function infraUp(opts: InfraOptions): Promise<InfraState> {
  if (!Number.isInteger(opts.shards) || opts.shards < 1) throw new RiftError("USAGE", `--shards must be a positive integer (got ${opts.shards})`);
  const runDir = resolve(opts.runDir);
  const log = opts.log ?? defaultLog;
  return withRunDirLock(runDir, log, () => up(runDir, opts, log));
}

async function up(runDir: string, opts: InfraOptions, log: (l: string) => void): Promise<InfraState> {
  opts.signal?.throwIfAborted();
  const reused = await reuseOrClear(runDir, opts, log);
  if (reused) return reused;
  const t0 = Date.now();

  await ensurePackages(log);
  makeDirs(runDir, 0o755);
  writeFileSync(join(runDir, MARKER_FILE), "Rift infra run dir: remove with `npm run infra -- down`\n");
  log(`starting in ${runDir}: zookeeper ×${opts.zk}, redis, clusters ${[GLOBAL_SCOPE, ...shardScopes(opts.shards)].join(", ")} (profile ${opts.profile})`);

  const abort = new AbortController();
  const onOuterAbort = () => abort.abort(opts.signal!.reason);
  opts.signal?.addEventListener("abort", onOuterAbort, { once: true });
  try {
    const zookeeper = await startZooKeeper({ dir: join(runDir, "zookeeper"), nodes: opts.zk, log, signal: abort.signal });
    // Everything else concurrently; the first failure aborts the others' waits.
    const failFast = <T>(p: Promise<T>) =>
      p.catch((e: unknown) => {
        abort.abort(e);
        throw e;
      });
    const scopes = [GLOBAL_SCOPE, ...shardScopes(opts.shards)];
    const redisP = failFast(startRedis({ dir: join(runDir, "redis"), log, signal: abort.signal }));
    const clusterPs = scopes.map((scope) =>
      failFast(
        startPatroniCluster({
          dir: join(runDir, scope),
          scope,
          zkConnect: zookeeper.connect,
          profile: opts.profile,
          databases: [RIFT_DATABASE],
          log,
          signal: abort.signal,
        }),
      ),
    );
    const settled = await Promise.allSettled([redisP, ...clusterPs]);
    const failed = settled.filter((s): s is PromiseRejectedResult => s.status === "rejected").map((s) => s.reason as unknown);
    if (failed.length > 0) throw failed.find((e) => e instanceof InfraComponentError) ?? failed[0];
    const redis = await redisP;
    const clusters = await Promise.all(clusterPs);
    const state: InfraState = {
      runDir,
      profile: opts.profile,
      startedAt: new Date().toISOString(),
      zookeeper,
      redis,
      patroni: { namespace: "/service", clusters },
    };
    writeState(runDir, state);
    log(`up in ${since(t0)}: zookeeper ${zookeeper.connect}, redis ${redis.url}, ${clusters.length} Patroni clusters with database '${RIFT_DATABASE}'; state ${stateFile(runDir)}`);
    return state;
  } catch (e) {
    reportFailure(e, log);
    log("tearing down what was started");
    await down(runDir, false, log).catch((d: unknown) => log(`teardown failed too: ${errorText(d)}`));
    throw e;
  } finally {
    opts.signal?.removeEventListener("abort", onOuterAbort);
  }
}

/**
 * Returns the running infra if it is healthy and of the requested shape (see reuseDecision:
 * at least the requested shards, since shards may have been added at runtime); otherwise
 * clears the run dir.
 */
async function reuseOrClear(runDir: string, opts: InfraOptions, log: (l: string) => void): Promise<InfraState | null> {
  if (!existsSync(runDir)) return null;
  if (!existsSync(join(runDir, MARKER_FILE))) {
    if (readdirSync(runDir).length === 0) return null;
    throw new RiftError("INFRA_START_FAILED", `${runDir} exists, is not empty and is not a Rift infra run dir (no ${MARKER_FILE}); refusing to use it`);
  }
  let state: InfraState | null = null;
  try {
    state = readState(runDir);
  } catch (e) {
    log(`ignoring unreadable state: ${errorText(e)}`);
  }
  if (!state) {
    log("run dir has leftovers but no state (an earlier start did not finish): cleaning up");
    await down(runDir, false, log);
    return null;
  }
  const statuses = await componentStatuses(state);
  const bad = statuses.filter((s) => !s.healthy);
  const verdict = reuseDecision(shapeOf(state), { zk: opts.zk, shards: opts.shards, profile: opts.profile });
  if (bad.length === 0 && verdict.reuse) {
    log(`already running and healthy (${verdict.reason}, started ${state.startedAt}): reusing ${stateFile(runDir)}`);
    return state;
  }
  if (bad.length > 0) log(`running infra is partially dead (${bad.map((s) => `${s.component}: ${s.detail}`).join("; ")}): restarting cleanly`);
  else log(`${verdict.reason}: restarting`);
  await down(runDir, false, log);
  return null;
}

function reportFailure(e: unknown, log: (l: string) => void): void {
  if (e instanceof InfraComponentError) {
    log(`FAILED ${e.component}: ${e.reason}`);
    if (e.logFile) {
      const tail = tailFile(e.logFile, 30);
      log(`---- last lines of ${e.logFile} ----`);
      for (const l of tail.split("\n")) log(`  ${l}`);
      log("---- end ----");
    }
  } else {
    log(`FAILED: ${errorText(e)}`);
  }
}

export interface AddShardOptions {
  /** Cluster name = Patroni scope = directory in the run dir; default: the next free `shard<k>` (see nextShardName). */
  name?: string;
  /** Progress lines (default: stderr with an "[infra] " prefix). */
  log?: (line: string) => void;
  /** Aborting stops the start-up and removes the new cluster. */
  signal?: AbortSignal;
  /** Deadline for the new cluster to become ready (default 120 s). */
  timeoutMs?: number;
}

export interface AddShardResult {
  /** The new cluster (as appended to state.json). */
  cluster: PatroniClusterState;
  /** The whole updated state (as written to state.json). */
  state: InfraState;
  /** Milliseconds from the start of the cluster to "ready". */
  startMs: number;
}

/**
 * Adds a shard cluster at runtime: on the running, healthy infra in `runDir`, starts one more
 * Patroni cluster (primary + synchronous standby, the infra's profile, its ZooKeeper, database
 * `rift`), waits for the same readiness as `up` (primary writable, standby streaming and sync),
 * then appends it to state.json (atomic write). Holds the run-dir lock throughout, so a
 * concurrent `up`, `down` or `add-shard` waits for it.
 *
 * Refuses with INFRA_NOT_RUNNING (no state, or anything unhealthy), INFRA_CLUSTER_EXISTS (the
 * name is a cluster of this infra, an entry of the run dir, or a live scope in its ZooKeeper)
 * or USAGE (invalid name). If the start fails, only the new cluster is stopped and removed
 * (processes, znodes, directory); the rest keeps running and state.json is unchanged.
 * Registering the shard with the cluster (shard map) is opsctl's job, not this one.
 */
export async function addShard(runDir: string, opts: AddShardOptions = {}): Promise<AddShardResult> {
  const dir = resolve(runDir);
  const log = opts.log ?? defaultLog;
  const syntax = opts.name === undefined ? null : clusterNameSyntaxProblem(opts.name);
  if (syntax) throw new RiftError("USAGE", syntax);
  return withRunDirLock(dir, log, () => addShardLocked(dir, opts, log));
}

async function addShardLocked(runDir: string, opts: AddShardOptions, log: (l: string) => void): Promise<AddShardResult> {
  opts.signal?.throwIfAborted();
  let state: InfraState | null;
  try {
    state = readState(runDir);
  } catch (e) {
    throw new RiftError("INFRA_NOT_RUNNING", errorText(e), { cause: e });
  }
  if (!state) throw new RiftError("INFRA_NOT_RUNNING", `nothing running in ${runDir} (no ${stateFile(runDir)}); start it with: npm run infra -- up`);
  const bad = (await componentStatuses(state)).filter((s) => !s.healthy);
  if (bad.length > 0) {
    throw new RiftError("INFRA_NOT_RUNNING", `the infra in ${runDir} is not healthy (${bad.map((s) => `${s.component}: ${s.detail}`).join("; ")}); repair it with \`npm run infra -- up\` first`);
  }
  const entries = readdirSync(runDir);
  const name = opts.name ?? nextShardName(state, entries);
  const problem = shardNameProblem(name, state, entries);
  if (problem) throw new RiftError(problem.kind === "exists" ? "INFRA_CLUSTER_EXISTS" : "USAGE", problem.message);
  const { connect } = state.zookeeper;
  const ns = state.patroni.namespace;
  // A live cluster of someone else with this scope in the same ZooKeeper must not be touched.
  const live = await withZk(connect, (c) => zkChildren(c, `${ns}/${name}/members`), { timeoutMs: 10_000 }).catch((e: unknown) => {
    throw new RiftError("INFRA_NOT_RUNNING", `cannot read ZooKeeper ${connect}: ${errorText(e)}`, { cause: e });
  });
  if (live && live.length > 0) throw new RiftError("INFRA_CLUSTER_EXISTS", `scope '${name}' is in use in ZooKeeper ${connect} (members ${live.join(", ")} under ${ns}/${name})`);

  const t0 = Date.now();
  const clusterDir = join(runDir, name);
  log(`adding shard cluster ${name} (profile ${state.profile}, zookeeper ${connect}) in ${clusterDir}`);
  let cluster: PatroniClusterState | null = null;
  try {
    cluster = await startPatroniCluster({
      dir: clusterDir,
      scope: name,
      zkConnect: connect,
      profile: state.profile,
      databases: [RIFT_DATABASE],
      log,
      signal: opts.signal,
      timeoutMs: opts.timeoutMs,
    });
    const startMs = Date.now() - t0;
    opts.signal?.throwIfAborted();
    const next = withAddedCluster(state, cluster);
    writeState(runDir, next);
    log(`added ${name} in ${since(t0)} with database '${RIFT_DATABASE}'; ${next.patroni.clusters.length - 1} shard clusters now in ${stateFile(runDir)}`);
    return { cluster, state: next, startMs };
  } catch (e) {
    reportFailure(e, log);
    log(`removing the new cluster ${name}; the rest of the infra keeps running`);
    await removeNewCluster(clusterDir, cluster, connect, ns).catch((d: unknown) => log(`removing ${name} failed too: ${errorText(d)}`));
    if (e instanceof RiftError) throw e;
    throw new RiftError("INFRA_START_FAILED", `${name}: ${errorText(e)}`, { cause: e });
  }
}

/**
 * Undoes a failed add-shard: stops every member found in the cluster dir (whatever got
 * started), deletes the scope's znodes if the cluster had come up (a failed
 * startPatroniCluster already deleted its own), and removes the directory.
 */
async function removeNewCluster(clusterDir: string, started: PatroniClusterState | null, zkConnect: string, namespace: string): Promise<void> {
  if (started) await stopPatroniCluster(started, { zk: zkConnect, namespace });
  await Promise.all(sweep(clusterDir).members.map((m) => stopPatroniMember(m)));
  rmSync(clusterDir, { recursive: true, force: true });
}

/**
 * Stops everything started in `runDir` (by PID, found through PID files), waits until the
 * processes are gone and the state's ports are free, then removes the run dir unless `keep`.
 */
export async function infraDown(runDir: string, opts: { keep?: boolean; log?: (l: string) => void } = {}): Promise<void> {
  const dir = resolve(runDir);
  const log = opts.log ?? defaultLog;
  await withRunDirLock(dir, log, () => down(dir, opts.keep ?? false, log));
}

async function down(dir: string, keep: boolean, log: (l: string) => void): Promise<void> {
  const t0 = Date.now();
  if (!existsSync(dir)) {
    log(`nothing to stop: ${dir} does not exist`);
    return;
  }
  if (!existsSync(join(dir, MARKER_FILE))) {
    throw new RiftError("INFRA_NOT_RUNNING", `${dir} is not a Rift infra run dir (no ${MARKER_FILE}); refusing to touch it`);
  }
  let state: InfraState | null = null;
  try {
    state = readState(dir);
  } catch (e) {
    log(`ignoring unreadable state: ${errorText(e)}`);
  }
  const found = sweep(dir);
  // Patroni first (so nothing restarts Postgres), ZooKeeper and Redis concurrently.
  await Promise.all([
    ...found.members.map((m) => stopPatroniMember(m)),
    ...found.daemons.map((d) => stopPid(d.pid, { signal: "SIGTERM", graceMs: 10_000, ownerDir: d.dir })),
  ]);
  const ports = state ? statePorts(state) : [];
  if (ports.length > 0) {
    try {
      await waitFor(async () => (await Promise.all(ports.map((p) => isPortFree(p)))).every(Boolean), {
        timeoutMs: 10_000,
        intervalMs: 100,
        what: `ports ${ports.join(", ")} to be free`,
      });
    } catch (e) {
      log(`warning: ${errorText(e)}`);
    }
  }
  const what = `${found.members.length} Patroni member(s), ${found.daemons.map((d) => d.name).join(", ") || "no other daemons"}`;
  if (keep) {
    log(`down in ${since(t0)}: stopped ${what}; kept ${dir}`);
  } else {
    rmSync(dir, { recursive: true, force: true });
    log(`down in ${since(t0)}: stopped ${what}; removed ${dir}`);
  }
}

/**
 * Last resort for exit handlers (synchronous, no waiting): SIGKILL every process found in
 * `runDir` — Patroni, postmasters and their children, ZooKeeper, Redis. Leaves the files.
 */
export function infraKillSync(runDir: string): number {
  const found = sweep(resolve(runDir));
  const pids = new Set<number>();
  for (const m of found.members) {
    for (const p of [patroniPid(m), postmasterPid(m)]) {
      if (p === null) continue;
      pids.add(p);
      for (const c of descendants(p)) pids.add(c);
    }
  }
  for (const d of found.daemons) if (isOwnedAlive(d.pid, d.dir)) pids.add(d.pid);
  for (const p of pids) signal(p, "SIGKILL");
  return pids.size;
}

/** Health of every component; [] if nothing was started in `runDir`. */
export async function infraStatus(runDir: string): Promise<ComponentStatus[]> {
  const state = readState(resolve(runDir));
  return state ? componentStatuses(state) : [];
}

/** Every port a state refers to. */
export function statePorts(s: InfraState): number[] {
  return [
    ...s.zookeeper.nodes.flatMap((n) => [n.clientPort, n.peerPort, n.electionPort].filter((p): p is number => p !== undefined)),
    s.redis.port,
    ...s.patroni.clusters.flatMap((c) => c.members.flatMap((m) => [m.pgPort, m.restPort])),
  ];
}

interface Found {
  members: MemberRef[];
  daemons: { name: string; pid: number; dir: string }[];
}

/** Finds Patroni member dirs (patroni.yml) and daemon PID files up to 3 levels below `dir`. */
function sweep(dir: string): Found {
  const out: Found = { members: [], daemons: [] };
  const walk = (d: string, depth: number) => {
    let names: string[];
    try {
      names = readdirSync(d);
    } catch {
      return;
    }
    if (names.includes("patroni.yml")) {
      out.members.push({ name: `${basename(resolve(d, ".."))}/${basename(d)}`, pid: readPidFile(join(d, "patroni.pid")) ?? 0, dir: d, dataDir: join(d, "data") });
      return;
    }
    for (const pidFile of ["zookeeper.pid", "redis.pid"]) {
      const pid = names.includes(pidFile) ? readPidFile(join(d, pidFile)) : null;
      if (pid) out.daemons.push({ name: basename(d), pid, dir: d });
    }
    if (depth >= 3) return;
    for (const n of names) if (n !== "data") walk(join(d, n), depth + 1);
  };
  walk(dir, 0);
  return out;
}

/**
 * Environment overrides (see src/core/config.ts) that point a Rift process at this infra:
 * ZooKeeper, Redis, and the Patroni scopes of the global DB and the shards.
 */
export function infraEnv(state: InfraState): Record<string, string> {
  const [global, ...shards] = state.patroni.clusters;
  return {
    RIFT__CLUSTER__ZOOKEEPER__CONNECT: state.zookeeper.connect,
    RIFT__CLUSTER__REDIS__URL: state.redis.url,
    RIFT__DB__PATRONINAMESPACE: state.patroni.namespace,
    RIFT__DB__GLOBALSCOPE: global?.scope ?? GLOBAL_SCOPE,
    RIFT__DB__SHARDSCOPES: `[${shards.map((c) => c.scope).join(",")}]`,
    RIFT__DB__DATABASE: RIFT_DATABASE,
  };
}

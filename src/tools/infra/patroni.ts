/**
 * One Patroni cluster = a Postgres 15 primary + synchronous standby managed by Patroni 3.0.2
 * with ZooKeeper as DCS (znodes under `<namespace>/<scope>/`). Recipe: /work/shared/PATRONI.md.
 *
 * Layout: `<dir>/` (0755) holds one directory per member, `<dir>/pg<i>/` (0700, owned by
 * postgres when we run as root) with `patroni.yml`, `patroni.log` (Patroni and Postgres
 * output), `patroni.pid`, `pgpass`, `sock/` and the data directory `data/`.
 *
 * Ready (see `startPatroniCluster`): the leader znode exists, REST `/primary` answers 200 on
 * it, an INSERT into a scratch table commits there, every standby streams under its member
 * name in `pg_stat_replication` with one of them `sync`, and a second INSERT (which now
 * waits for the synchronous standby) commits.
 *
 * Stopping follows the verified fast teardown: SIGKILL Patroni (so it cannot restart
 * Postgres), SIGQUIT the postmaster from `data/postmaster.pid` (Patroni's death does not
 * stop Postgres), SIGKILL whatever is left after a grace period.
 */
import { existsSync, writeFileSync, chownSync, unlinkSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { makeDirs, makeOwnedDir, traversalProblem } from "./dirs.js";
import { renderPatroniConfig, type Profile } from "./patroni-config.js";
import { InfraComponentError } from "./errors.js";
import { ensureDatabase, pgUrl, withPg } from "./pg.js";
import { allocatePorts } from "./ports.js";
import {
  descendants,
  describeExit,
  isAlive,
  isOwnedAlive,
  postgresAccount,
  readPidFile,
  signal,
  spawnDaemon,
  type Daemon,
  type UserIds,
} from "./proc.js";
import type { PatroniClusterState, PatroniMemberState } from "./state.js";
import { FatalWaitError, WaitTimeoutError, errorText, since, waitFor } from "./wait.js";
import { connectZk, zkChildren, zkGet, zkRemoveTree, type ZkClient } from "./zk.js";

export const PATRONI_NAMESPACE = "/service";

export type { PatroniClusterState, PatroniMemberState };
export { PROFILES, PG_BIN_DIR, renderPatroniConfig, type PatroniConfigInput, type Profile } from "./patroni-config.js";

/** What stopping/killing a member needs (also rebuilt from a member directory by `down`). */
export type MemberRef = Pick<PatroniMemberState, "name" | "pid" | "dir" | "dataDir">;

/** Roles a member's znode / REST API may report for the leader, depending on the Patroni version. */
export const PRIMARY_ROLES: ReadonlySet<string> = new Set(["master", "primary", "leader"]);

export interface StartPatroniClusterOptions {
  /** Cluster directory, e.g. `<runDir>/shard0` (created if missing). */
  dir: string;
  scope: string;
  zkConnect: string;
  profile: Profile;
  /** Members (default 2: primary + synchronous standby). */
  members?: number;
  namespace?: string;
  /** Databases to create once the cluster is ready (e.g. ["rift"]). */
  databases?: string[];
  log?: (line: string) => void;
  /** Deadline for the whole start (default 120 s). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/**
 * Starts a cluster and waits for real readiness. Refuses a scope that has live members in
 * ZooKeeper; removes a stale, member-less one. On failure it stops what it started and
 * throws an InfraComponentError naming the member to look at and its log file.
 */
export async function startPatroniCluster(o: StartPatroniClusterOptions): Promise<PatroniClusterState> {
  const t0 = Date.now();
  const log = o.log ?? (() => {});
  const ns = o.namespace ?? PATRONI_NAMESPACE;
  const count = o.members ?? 2;
  const account = postgresAccount();
  makeDirs(o.dir, 0o755);
  if (account) {
    const problem = traversalProblem(o.dir, account);
    if (problem) throw new InfraComponentError(o.scope, problem);
  }
  const ports = await allocatePorts(2 * count);
  const members = Array.from({ length: count }, (_, i): PatroniMemberState => {
    const dir = join(o.dir, `pg${i}`);
    return {
      name: `pg${i}`,
      pgPort: ports[2 * i]!,
      restPort: ports[2 * i + 1]!,
      pid: 0,
      dir,
      dataDir: join(dir, "data"),
      logFile: join(dir, "patroni.log"),
      configFile: join(dir, "patroni.yml"),
    };
  });
  for (const m of members) {
    if (existsSync(m.dataDir)) {
      throw new InfraComponentError(`${o.scope}/${m.name}`, `${m.dataDir} already exists (restart a member with startPatroniMember, or start in an empty dir)`);
    }
    const sockFile = join(m.dir, "sock", `.s.PGSQL.${m.pgPort}`);
    if (Buffer.byteLength(sockFile) > 107) {
      throw new InfraComponentError(`${o.scope}/${m.name}`, `unix socket path too long (${sockFile}); use a shorter run dir`);
    }
  }
  const zkHosts = o.zkConnect.split(",");
  for (const m of members) {
    makeOwnedDir(m.dir, account, 0o700);
    makeOwnedDir(join(m.dir, "sock"), account, 0o700);
    writeFileSync(m.configFile, renderPatroniConfig({ scope: o.scope, name: m.name, namespace: ns, zkHosts, restPort: m.restPort, pgPort: m.pgPort, memberDir: m.dir, profile: o.profile }));
    if (account) chownSync(m.configFile, account.uid, account.gid);
  }
  const cluster: PatroniClusterState = { scope: o.scope, members };

  const zk = await connectZk(o.zkConnect, { timeoutMs: 10_000 }).catch((e: unknown) => {
    throw new InfraComponentError(o.scope, `cannot reach ZooKeeper ${o.zkConnect}: ${errorText(e)}`, undefined, { cause: e });
  });
  try {
    await clearStaleScope(zk, ns, o.scope);
  } catch (e) {
    zk.close();
    throw new InfraComponentError(o.scope, errorText(e), undefined, { cause: e });
  }
  const daemons = new Map<string, Daemon>();
  let blame = cluster.members[0]!;
  try {
    for (const m of cluster.members) daemons.set(m.name, await startPatroniMember(m, account));
    const alive = () => {
      for (const m of cluster.members) {
        const d = daemons.get(m.name)!;
        const e = d.exit();
        if (e || !isAlive(d.pid)) {
          blame = m;
          throw new FatalWaitError(`patroni ${m.name} ${e ? describeExit(e) : "died"}`);
        }
      }
    };
    const deadline = t0 + (o.timeoutMs ?? 120_000);
    const wait = () => ({ timeoutMs: Math.max(1, deadline - Date.now()), signal: o.signal, intervalMs: 200 });

    // 1. A leader that is really primary and writable.
    const primary = await waitFor(
      async () => {
        alive();
        const leader = (await zkGet(zk, `${ns}/${o.scope}/leader`))?.toString("utf8");
        const m = cluster.members.find((x) => x.name === leader);
        if (!m) return null;
        blame = m;
        if ((await patroniRest(m.restPort, "/primary")).status !== 200) return null;
        await probeInsert(m.pgPort);
        return m;
      },
      { ...wait(), what: `${o.scope}: a writable primary` },
    );
    log(`${o.scope}: primary ${primary.name} writable (${since(t0)}) 127.0.0.1:${primary.pgPort}`);

    // 2. Every standby streaming under its own name (not pg_basebackup's stream), one of them sync.
    const standbys = cluster.members.filter((m) => m !== primary);
    if (standbys.length > 0) {
      await waitFor(
        async () => {
          alive();
          const rows = await replicationRows(primary.pgPort);
          for (const s of standbys) {
            blame = s;
            if (!rows.some((r) => r.application_name === s.name && r.state === "streaming")) return null;
          }
          return rows.some((r) => r.sync_state === "sync" && standbys.some((s) => s.name === r.application_name));
        },
        { ...wait(), what: `${o.scope}: standby ${standbys.map((s) => s.name).join(", ")} streaming (synchronous)` },
      );
      blame = primary;
      await probeInsert(primary.pgPort);
      log(`${o.scope}: standby ${standbys.map((s) => s.name).join(", ")} streaming, synchronous (${since(t0)})`);
    }

    for (const db of o.databases ?? []) await ensureDatabase(pgUrl(primary.pgPort), db);
    return cluster;
  } catch (e) {
    await stopPatroniCluster(cluster, { zk, namespace: ns }).catch(() => {});
    if (e instanceof FatalWaitError || e instanceof WaitTimeoutError) {
      throw new InfraComponentError(`${o.scope}/${blame.name}`, errorText(e), blame.logFile, { cause: e });
    }
    throw e;
  } finally {
    zk.close();
  }
}

/** Deletes `<ns>/<scope>` left by a dead cluster; refuses when members are registered (alive). */
async function clearStaleScope(zk: ZkClient, ns: string, scope: string): Promise<void> {
  const members = await zkChildren(zk, `${ns}/${scope}/members`);
  if (members && members.length > 0) {
    throw new Error(`scope ${scope} is in use in ZooKeeper (members ${members.join(", ")} under ${ns}/${scope})`);
  }
  await zkRemoveTree(zk, `${ns}/${scope}`);
}

/**
 * (Re)starts one member's Patroni from its existing directory; updates `member.pid`.
 * A leftover postmaster.pid whose process is gone (or a zombie) is removed first, since
 * Postgres would otherwise refuse to start ("lock file already exists").
 */
export async function startPatroniMember(member: PatroniMemberState, account: UserIds | null = postgresAccount()): Promise<Daemon> {
  const pmFile = join(member.dataDir, "postmaster.pid");
  const pm = readPidFile(pmFile);
  if (pm !== null && !isOwnedAlive(pm, member.dataDir) && existsSync(pmFile)) unlinkSync(pmFile);
  const d = await spawnDaemon({
    name: member.name,
    cmd: "/usr/bin/patroni",
    args: [member.configFile],
    cwd: member.dir,
    logFile: member.logFile,
    pidFile: join(member.dir, "patroni.pid"),
    env: {
      PATH: "/usr/bin:/bin",
      HOME: account?.home ?? process.env.HOME ?? "/",
      USER: account?.name ?? process.env.USER ?? "",
      LANG: "C.UTF-8",
      PYTHONUNBUFFERED: "1",
    },
    ...(account ? { uid: account.uid, gid: account.gid } : {}),
  });
  member.pid = d.pid;
  return d;
}

/** The postmaster's PID if it is running in this member's data dir, else null. */
export function postmasterPid(member: MemberRef): number | null {
  const pid = readPidFile(join(member.dataDir, "postmaster.pid"));
  return pid !== null && isOwnedAlive(pid, member.dataDir) ? pid : null;
}

/** The Patroni PID if it runs in the member dir: the state's PID, else the PID file's. */
export function patroniPid(member: MemberRef): number | null {
  for (const pid of [member.pid, readPidFile(join(member.dir, "patroni.pid"))]) {
    if (pid && isOwnedAlive(pid, member.dir)) return pid;
  }
  return null;
}

/**
 * Fast stop of one member: SIGKILL Patroni, SIGQUIT the postmaster (and anything else Patroni
 * had started, e.g. pg_basebackup), SIGKILL leftovers after `graceMs`. Waits until all are gone.
 */
export async function stopPatroniMember(member: MemberRef, graceMs = 5000): Promise<void> {
  const pat = patroniPid(member);
  const tree = pat ? descendants(pat) : [];
  if (pat) signal(pat, "SIGKILL");
  const pm = postmasterPid(member);
  const targets = new Set<number>(tree);
  if (pm) {
    targets.add(pm);
    for (const c of descendants(pm)) targets.add(c);
  }
  for (const pid of targets) signal(pid, "SIGQUIT");
  const all = [...targets, ...(pat ? [pat] : [])];
  try {
    await waitFor(() => all.every((p) => !isAlive(p)), { timeoutMs: graceMs, intervalMs: 50, what: `${member.name} to stop` });
  } catch {
    for (const p of all) if (isAlive(p)) signal(p, "SIGKILL");
    await waitFor(() => all.every((p) => !isAlive(p)), { timeoutMs: 10_000, intervalMs: 50, what: `${member.name} to die after SIGKILL` });
  }
}

export interface StopClusterOptions {
  /** Also delete `<namespace>/<scope>` from this ZooKeeper (connect string or client). */
  zk?: string | ZkClient;
  namespace?: string;
}

/** Stops all members (in parallel); optionally removes the cluster's znodes. */
export async function stopPatroniCluster(cluster: PatroniClusterState, opts: StopClusterOptions = {}): Promise<void> {
  await Promise.all(cluster.members.map((m) => stopPatroniMember(m)));
  if (opts.zk === undefined) return;
  const path = `${opts.namespace ?? PATRONI_NAMESPACE}/${cluster.scope}`;
  if (typeof opts.zk === "string") {
    const zk = await connectZk(opts.zk);
    try {
      await zkRemoveTree(zk, path);
    } finally {
      zk.close();
    }
  } else {
    await zkRemoveTree(opts.zk, path);
  }
}

/**
 * Simulates host death: SIGKILL Patroni, the postmaster and every Postgres child at once, and
 * waits until they are gone. Returns the PIDs killed. Restart with `startPatroniMember`.
 */
export async function killMemberHard(member: MemberRef): Promise<number[]> {
  const pids = new Set<number>();
  const pat = patroniPid(member);
  if (pat) {
    pids.add(pat);
    for (const p of descendants(pat)) pids.add(p);
  }
  const pm = postmasterPid(member);
  if (pm) {
    pids.add(pm);
    for (const p of descendants(pm)) pids.add(p);
  }
  for (const p of pids) signal(p, "SIGKILL");
  await waitFor(() => [...pids].every((p) => !isAlive(p)), { timeoutMs: 10_000, intervalMs: 20, what: `${member.name} to die` });
  return [...pids];
}

export interface PrimaryInfo {
  /** Member name from the leader znode, e.g. "pg1". */
  member: string;
  /** Patroni's conn_url, e.g. "postgres://127.0.0.1:25432/postgres" (no user: see pg.withDatabase). */
  connUrl: string;
  apiUrl?: string;
  role: string;
  timeline?: number;
}

/**
 * The current primary of `scope` according to ZooKeeper: `<ns>/<scope>/leader` names the
 * member, `<ns>/<scope>/members/<name>` holds its JSON. Throws if there is no leader or the
 * leader's member node does not (yet) say it is primary.
 */
export async function findPrimary(zk: string | ZkClient, scope: string, namespace = PATRONI_NAMESPACE): Promise<PrimaryInfo> {
  if (typeof zk === "string") {
    const c = await connectZk(zk);
    try {
      return await findPrimary(c, scope, namespace);
    } finally {
      c.close();
    }
  }
  const leader = await zkGet(zk, `${namespace}/${scope}/leader`);
  if (!leader) throw new Error(`${scope}: no leader znode at ${namespace}/${scope}/leader`);
  const name = leader.toString("utf8");
  const raw = await zkGet(zk, `${namespace}/${scope}/members/${name}`);
  if (!raw) throw new Error(`${scope}: leader ${name} has no member znode`);
  const info = JSON.parse(raw.toString("utf8")) as { conn_url?: string; api_url?: string; role?: string; timeline?: number };
  if (!info.conn_url) throw new Error(`${scope}: member ${name} has no conn_url`);
  if (!PRIMARY_ROLES.has(info.role ?? "")) throw new Error(`${scope}: leader znode names ${name} but its role is ${info.role}`);
  return { member: name, connUrl: info.conn_url, apiUrl: info.api_url, role: info.role!, timeline: info.timeline };
}

/** GET on a member's REST API (no keep-alive). Rejects on connection errors or after `timeoutMs`. */
export function patroniRest(restPort: number, path: string, timeoutMs = 2000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port: restPort, path, method: "GET", agent: false, timeout: timeoutMs, headers: { connection: "close" } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (b: Buffer) => chunks.push(b));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`GET 127.0.0.1:${restPort}${path}: no answer within ${timeoutMs} ms`)));
    req.on("error", reject);
    req.end();
  });
}

/** Inserts a row into a scratch table of the `postgres` database (commits or throws). */
async function probeInsert(pgPort: number): Promise<void> {
  await withPg(
    pgUrl(pgPort),
    async (c) => {
      await c.query("CREATE TABLE IF NOT EXISTS rift_infra_probe (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())");
      await c.query("INSERT INTO rift_infra_probe DEFAULT VALUES");
    },
    { queryTimeoutMs: 10_000 },
  );
}

export interface ReplicationRow {
  application_name: string;
  state: string;
  sync_state: string;
}

/** Rows of `pg_stat_replication` on a primary. */
export async function replicationRows(pgPort: number): Promise<ReplicationRow[]> {
  return withPg(pgUrl(pgPort), async (c) => (await c.query<ReplicationRow>("SELECT application_name, state, sync_state FROM pg_stat_replication")).rows);
}

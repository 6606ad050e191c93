/**
 * Health of each component of a running infra, from its state (one probe per process, all
 * in parallel; nothing here changes anything):
 * - ZooKeeper node: its JVM runs in its node dir and `srvr` reports a Mode; an ensemble
 *   also needs exactly one leader.
 * - Redis: process alive and PING answers PONG.
 * - Patroni cluster: every Patroni process alive; REST `/patroni` shows exactly one running
 *   primary, every other member a running replica that appears `streaming` in the primary's
 *   replication list.
 * `rssKb` sums the resident memory of the component's processes (for a Patroni cluster:
 * Patroni, the postmaster and all Postgres children of every member).
 */
import { descendants, isOwnedAlive, rssKb } from "./proc.js";
import { PRIMARY_ROLES, patroniPid, patroniRest, postmasterPid } from "./patroni.js";
import { redisPing } from "./redis.js";
import type { InfraState, PatroniClusterState, RedisState, ZkNodeState } from "./state.js";
import { errorText } from "./wait.js";
import { zkMode } from "./zookeeper.js";

export interface ComponentStatus {
  /** "zk1", "redis", "global", "shard0", ... */
  component: string;
  kind: "zookeeper" | "redis" | "patroni";
  /** host:port clients use (for a Patroni cluster: the primary's Postgres, "" if none). */
  endpoint: string;
  /** PIDs we manage (Patroni PIDs for a cluster). */
  pids: number[];
  healthy: boolean;
  /** e.g. "leader", "PONG", "pg0 primary 127.0.0.1:5432 | pg1 streaming-standby(sync) ...". */
  detail: string;
  rssKb: number;
}

export async function componentStatuses(state: InfraState): Promise<ComponentStatus[]> {
  const zk = await Promise.all(state.zookeeper.nodes.map(zkNodeStatus));
  if (zk.length > 1 && zk.filter((s) => s.detail === "leader").length !== 1) {
    for (const s of zk) if (s.healthy) Object.assign(s, { healthy: false, detail: `${s.detail} (ensemble has no single leader)` });
  }
  const rest = await Promise.all([redisStatus(state.redis), ...state.patroni.clusters.map(patroniClusterStatus)]);
  return [...zk, ...rest];
}

async function zkNodeStatus(n: ZkNodeState): Promise<ComponentStatus> {
  const base = { component: `zk${n.id}`, kind: "zookeeper" as const, endpoint: `127.0.0.1:${n.clientPort}`, pids: [n.pid] };
  if (!isOwnedAlive(n.pid, n.dir)) return { ...base, healthy: false, detail: "process not running", rssKb: 0 };
  try {
    return { ...base, healthy: true, detail: await zkMode(n.clientPort), rssKb: rssKb(n.pid) };
  } catch (e) {
    return { ...base, healthy: false, detail: errorText(e), rssKb: rssKb(n.pid) };
  }
}

async function redisStatus(r: RedisState): Promise<ComponentStatus> {
  const base = { component: "redis", kind: "redis" as const, endpoint: `127.0.0.1:${r.port}`, pids: [r.pid] };
  if (!isOwnedAlive(r.pid, r.dir)) return { ...base, healthy: false, detail: "process not running", rssKb: 0 };
  try {
    const reply = await redisPing(r.port);
    return { ...base, healthy: reply === "PONG", detail: reply, rssKb: rssKb(r.pid) };
  } catch (e) {
    return { ...base, healthy: false, detail: errorText(e), rssKb: rssKb(r.pid) };
  }
}

interface PatroniView {
  state?: string;
  role?: string;
  replication?: { application_name: string; state: string; sync_state: string }[];
}

/** Health of one Patroni cluster (also used by `add-shard` to print the new cluster). */
export async function patroniClusterStatus(c: PatroniClusterState): Promise<ComponentStatus> {
  const views = await Promise.all(
    c.members.map(async (m) => {
      const pid = patroniPid(m);
      if (pid === null) return { m, pid, view: null, error: "patroni not running" };
      try {
        const r = await patroniRest(m.restPort, "/patroni");
        return { m, pid, view: JSON.parse(r.body) as PatroniView, error: null };
      } catch (e) {
        return { m, pid, view: null, error: `REST: ${errorText(e)}` };
      }
    }),
  );
  const primaries = views.filter((v) => v.view && PRIMARY_ROLES.has(v.view.role ?? "") && v.view.state === "running");
  const primary = primaries.length === 1 ? primaries[0]! : null;
  let healthy = primary !== null;
  const ordered = primary ? [primary, ...views.filter((v) => v !== primary)] : views;
  const parts = ordered.map(({ m, pid, view, error }) => {
    const where = `127.0.0.1:${m.pgPort} pid ${pid ?? "-"}`;
    if (!view) {
      healthy = false;
      return `${m.name} DOWN (${error})`;
    }
    if (view === primary?.view) return `${m.name} primary ${where}`;
    const rep = primary?.view?.replication?.find((r) => r.application_name === m.name);
    if (view.role === "replica" && view.state === "running" && rep?.state === "streaming") {
      return `${m.name} streaming-standby${rep.sync_state === "sync" ? "(sync)" : `(${rep.sync_state})`} ${where}`;
    }
    healthy = false;
    return `${m.name} ${view.role ?? "?"}/${view.state ?? "?"}${rep ? ` replication ${rep.state}` : " not replicating"} ${where}`;
  });
  if (primaries.length > 1) parts.push(`SPLIT BRAIN: ${primaries.map((p) => p.m.name).join(", ")} all primary`);
  let rss = 0;
  for (const { m, pid } of views) {
    const pm = postmasterPid(m);
    for (const p of [pid, pm, ...(pm ? descendants(pm) : [])]) if (p) rss += rssKb(p);
  }
  return {
    component: c.scope,
    kind: "patroni",
    endpoint: primary ? `127.0.0.1:${primary.m.pgPort}` : "",
    pids: views.map((v) => v.pid ?? 0),
    healthy,
    detail: parts.join(" | "),
    rssKb: rss,
  };
}

/** One aligned line per component: `shard0  127.0.0.1:5432  ok  pg0 primary ... | pg1 ...  (61 MB)`. */
export function formatStatusLines(statuses: ComponentStatus[]): string[] {
  const w = Math.max(...statuses.map((s) => s.component.length), 5);
  return statuses.map((s) => {
    const pids = s.kind === "patroni" ? "" : ` pid ${s.pids.join(",")}`;
    return `${s.component.padEnd(w)}  ${(s.endpoint || "-").padEnd(15)}  ${s.healthy ? "ok  " : "FAIL"}  ${s.detail}${pids}  (${Math.round(s.rssKb / 1024)} MB)`;
  });
}

/**
 * Pure rules about the shape of an infra (no IO): which name `add-shard` gives a new shard
 * cluster, which names it refuses, how the state grows, and when `up` reuses a running infra.
 *
 * Shard clusters are every Patroni cluster in the state except the first (the `global` one);
 * their names are also Patroni scopes (`/service/<name>/` in ZooKeeper) and directory names in
 * the run dir (`<runDir>/<name>/pg<i>/`).
 */
import type { InfraState, PatroniClusterState } from "./state.js";

/** Names that are never a shard cluster: the global cluster and the run dir's other entries. */
export const RESERVED_NAMES: ReadonlySet<string> = new Set(["global", "zookeeper", "redis"]);

/** A scope must be a safe ZooKeeper node name and directory name. */
const NAME_RE = /^[a-z][a-z0-9_-]{0,31}$/;

/** The shard clusters of a state (all but the first cluster, which is `global`). */
export function shardClusters(state: InfraState): PatroniClusterState[] {
  return state.patroni.clusters.slice(1);
}

/**
 * The default name of the next shard: `shard<k>` with k = the number of shard clusters,
 * counting up past any name already used (a cluster scope in the state or an entry in
 * `taken`, e.g. the run dir's directory names).
 */
export function nextShardName(state: InfraState, taken: Iterable<string> = []): string {
  const used = new Set<string>([...state.patroni.clusters.map((c) => c.scope), ...taken]);
  for (let k = shardClusters(state).length; ; k++) {
    const name = `shard${k}`;
    if (!used.has(name)) return name;
  }
}

export type NameProblem = { kind: "invalid"; message: string } | { kind: "exists"; message: string };

/** Why `name` is not a well-formed cluster name (syntax and reserved names only), or null. */
export function clusterNameSyntaxProblem(name: string): string | null {
  if (!NAME_RE.test(name)) return `invalid cluster name '${name}' (expected a lower-case letter followed by up to 31 lower-case letters, digits, '_' or '-')`;
  if (RESERVED_NAMES.has(name)) return `'${name}' is reserved`;
  return null;
}

/** Why `name` cannot be the name of a new shard cluster, or null if it can. */
export function shardNameProblem(name: string, state: InfraState, taken: Iterable<string> = []): NameProblem | null {
  const syntax = clusterNameSyntaxProblem(name);
  if (syntax) return { kind: "invalid", message: syntax };
  if (state.patroni.clusters.some((c) => c.scope === name)) return { kind: "exists", message: `a cluster named '${name}' is already part of this infra` };
  if ([...taken].includes(name)) return { kind: "exists", message: `'${name}' already exists in the run dir ${state.runDir}` };
  return null;
}

/** The state with `cluster` appended as the last shard; throws if its scope is already there. */
export function withAddedCluster(state: InfraState, cluster: PatroniClusterState): InfraState {
  if (state.patroni.clusters.some((c) => c.scope === cluster.scope)) throw new Error(`cluster ${cluster.scope} is already in the state`);
  return { ...state, patroni: { ...state.patroni, clusters: [...state.patroni.clusters, cluster] } };
}

export interface InfraShape {
  zk: number;
  shards: number;
  profile: string;
}

export function shapeOf(state: InfraState): InfraShape {
  return { zk: state.zookeeper.nodes.length, shards: shardClusters(state).length, profile: state.profile };
}

export function describeShape(s: InfraShape): string {
  return `${s.zk} zk, ${s.shards} shard${s.shards === 1 ? "" : "s"}, profile ${s.profile}`;
}

/**
 * Whether `up` may reuse a healthy running infra of shape `have` when asked for `want`.
 * ZooKeeper size and profile must match exactly. Shards: the running infra must have AT LEAST
 * the requested number — shards may have been added at runtime (`infra -- add-shard`) and hold
 * player data, so `up --shards 2` (or `npm start`) on a 3-shard infra reuses it as it is. Fewer
 * shards than requested means a restart (as before; `add-shard` grows a running infra instead).
 */
export function reuseDecision(have: InfraShape, want: InfraShape): { reuse: boolean; reason: string } {
  const h = describeShape(have);
  const w = describeShape(want);
  if (have.zk !== want.zk) return { reuse: false, reason: `running infra has ${h}, requested ${w} (ZooKeeper size differs)` };
  if (have.profile !== want.profile) return { reuse: false, reason: `running infra has ${h}, requested ${w} (profile differs)` };
  if (have.shards < want.shards) return { reuse: false, reason: `running infra has ${h}, requested ${w} (too few shards)` };
  if (have.shards > want.shards) return { reuse: true, reason: `${h}, at least the ${want.shards} requested: the others were added at runtime` };
  return { reuse: true, reason: h };
}

/**
 * One-shot reads of the cluster state for opsctl (read-only: nothing here writes to
 * ZooKeeper, so a wrong `--root` never creates nodes).
 *
 * - `readMembers`: every `<root>/members/<role>/<id>` with valid MemberInfo, plus the paths of
 *   nodes holding invalid data. Nodes vanishing mid-read are simply left out.
 * - `readElection`: candidates of `<root>/election` in sequence order; the leader is the data
 *   (coordinator node id) of the lowest one. If the lowest vanishes while we read, the next
 *   one is tried.
 * - `readPlacement`: the document at `<root>/placement`: absent, invalid or the decoded doc.
 *
 * The reads are not one atomic snapshot (ZooKeeper has none across nodes): a member joining
 * while we read may be missed; callers that wait (drain) re-read on change.
 */
import { electionOrder } from "../../core/cluster/election.js";
import { decodeMemberInfo } from "../../core/cluster/member-info.js";
import { electionPath, membersPath, placementPath } from "../../core/cluster/paths.js";
import { decodePlacement, type PlacementDoc } from "../../core/cluster/placement-doc.js";
import type { MemberInfo } from "../../core/cluster/types.js";
import { isZkError, zkJoin, type Zk, type ZkWatcher } from "../../core/cluster/zk.js";

export interface MemberEntry {
  info: MemberInfo;
  /** The znode holding it. */
  path: string;
}

export interface MembersRead {
  members: MemberEntry[];
  /** Member znodes whose data is not a valid MemberInfo. */
  invalid: string[];
}

async function childrenOrEmpty(zk: Zk, path: string): Promise<string[]> {
  try {
    return await zk.getChildren(path);
  } catch (e) {
    if (isZkError(e, "NO_NODE")) return [];
    throw e;
  }
}

/** Data of a node, or undefined when it does not exist. */
export async function dataOrUndefined(zk: Zk, path: string, watcher?: ZkWatcher): Promise<Buffer | null | undefined> {
  try {
    return (await zk.getData(path, watcher)).data;
  } catch (e) {
    if (isZkError(e, "NO_NODE")) return undefined;
    throw e;
  }
}

export async function readMembers(zk: Zk, root: string): Promise<MembersRead> {
  const base = membersPath(root);
  const roles = await childrenOrEmpty(zk, base);
  const paths = (await Promise.all(roles.map(async (role) => (await childrenOrEmpty(zk, zkJoin(base, role))).map((id) => zkJoin(base, role, id))))).flat();
  const read = await Promise.all(paths.map(async (path) => ({ path, data: await dataOrUndefined(zk, path) })));
  const out: MembersRead = { members: [], invalid: [] };
  for (const { path, data } of read) {
    if (data === undefined) continue; // gone meanwhile
    const info = decodeMemberInfo(data);
    if (info) out.members.push({ info, path });
    else out.invalid.push(path);
  }
  return out;
}

export interface ElectionCandidate {
  /** Child name, e.g. "n_0000000003". */
  node: string;
  seq: number;
  /** Coordinator node id (node data). */
  id: string;
}

export interface ElectionRead {
  /** Node id of the leader (data of the lowest candidate), undefined when nobody runs. */
  leader: string | undefined;
  /** Candidates in line order (leader first). */
  candidates: ElectionCandidate[];
}

/**
 * Sequence number of an election candidate node ("n_0000000012" → 12); NaN for any other
 * name (the recipe in src/core/cluster/election.ts creates `n_<seq>` only).
 */
export function electionSeq(node: string): number {
  const m = /^n_(\d+)$/.exec(node);
  return m ? Number(m[1]) : Number.NaN;
}

/** Election children in line order (the election's own rule). */
export { electionOrder };

export async function readElection(zk: Zk, root: string): Promise<ElectionRead> {
  const base = electionPath(root);
  const order = electionOrder(await childrenOrEmpty(zk, base));
  const candidates: ElectionCandidate[] = [];
  for (const node of order) {
    const data = await dataOrUndefined(zk, zkJoin(base, node));
    if (data === undefined) continue; // left the election while we read
    candidates.push({ node, seq: electionSeq(node), id: data ? data.toString("utf8") : "" });
  }
  return { leader: candidates[0]?.id, candidates };
}

export type PlacementRead = { state: "absent" } | { state: "invalid" } | { state: "ok"; doc: PlacementDoc };

export async function readPlacement(zk: Zk, root: string, watcher?: ZkWatcher): Promise<PlacementRead> {
  const data = await dataOrUndefined(zk, placementPath(root), watcher);
  if (data === undefined) return { state: "absent" };
  const doc = decodePlacement(data);
  return doc ? { state: "ok", doc } : { state: "invalid" };
}

export function placementDoc(p: PlacementRead): PlacementDoc | undefined {
  return p.state === "ok" ? p.doc : undefined;
}

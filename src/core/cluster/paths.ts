/**
 * Znode layout of the cluster (all under `cluster.zookeeper.root`):
 *   <root>/members/<role>/<nodeId>   ephemeral, JSON MemberInfo (membership)
 * Other components (coordinator placement, leader election) add their own subtrees beside it.
 */
import type { Role } from "../config.js";
import { zkJoin } from "./zk.js";

export function membersPath(root: string): string {
  return zkJoin(root, "members");
}

export function roleMembersPath(root: string, role: Role): string {
  return zkJoin(root, "members", role);
}

export function memberPath(root: string, role: Role, nodeId: string): string {
  if (!/^[A-Za-z0-9_.:-]+$/.test(nodeId)) throw new Error(`node id '${nodeId}' is not a valid znode name`);
  return zkJoin(root, "members", role, nodeId);
}

/**
 * Znode layout of the cluster (all under `cluster.zookeeper.root`):
 *   <root>/members/<role>/<nodeId>   ephemeral, JSON MemberInfo (membership)
 *   <root>/election/n_<seq>          ephemeral sequential, data = coordinator node id (leader election:
 *                                    the lowest sequence number leads)
 *   <root>/placement                 persistent, JSON PlacementDoc, written only by the coordinator leader
 *                                    (fenced: a multi-op that checks the leader's election node)
 *   <root>/drain/<nodeId>            persistent, JSON DrainRequest: "move everything off this server, then
 *                                    let it exit"; created by `opsctl drain` or by the server itself on
 *                                    SIGTERM, removed by the leader once the member is gone
 */
import type { Role } from "../config.js";
import { zkJoin } from "./zk.js";

const NODE_ID = /^[A-Za-z0-9_.:-]+$/;

function checkNodeId(nodeId: string): void {
  if (!NODE_ID.test(nodeId)) throw new Error(`node id '${nodeId}' is not a valid znode name`);
}

export function membersPath(root: string): string {
  return zkJoin(root, "members");
}

export function roleMembersPath(root: string, role: Role): string {
  return zkJoin(root, "members", role);
}

export function memberPath(root: string, role: Role, nodeId: string): string {
  checkNodeId(nodeId);
  return zkJoin(root, "members", role, nodeId);
}

export function electionPath(root: string): string {
  return zkJoin(root, "election");
}

export function placementPath(root: string): string {
  return zkJoin(root, "placement");
}

export function drainPath(root: string): string {
  return zkJoin(root, "drain");
}

export function drainRequestPath(root: string, nodeId: string): string {
  checkNodeId(nodeId);
  return zkJoin(root, "drain", nodeId);
}

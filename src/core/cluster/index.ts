/** Cluster membership, election and placement: contracts (types.ts) and their implementations. */
export * from "./types.js";
export { Zk, ZkError, isZkError, zkJoin, CreateMode, ZkEventType, ZkCodes, type ZkOptions, type ZkSessionEvent, type ZkWatcher, type FencedOp } from "./zk.js";
export { ZkMembership, type ZkMembershipOptions } from "./membership.js";
export { ZkMemberView, type ZkMemberViewOptions } from "./member-view.js";
export { ZkLeaderElection } from "./election.js";
export { MemoryElectionGroup } from "./memory-election.js";
export { ZkPlacementView, type PlacementViewOptions } from "./placement-view.js";
export { MembershipZonePlacement, placeZone } from "./placement.js";
export { WatchedNode } from "./watched.js";
export { MemoryCluster } from "./memory.js";
export { membersPath, roleMembersPath, memberPath, electionPath, placementPath, drainPath, drainRequestPath } from "./paths.js";
export { encodeMemberInfo, decodeMemberInfo, MemberInfoSchema } from "./member-info.js";
export { decodePlacement, encodePlacement, emptyPlacement, PlacementDocSchema, type PlacementDoc, type DrainRequest } from "./placement-doc.js";

/** Cluster membership and placement: contracts (types.ts) and their implementations. */
export * from "./types.js";
export { Zk, ZkError, isZkError, zkJoin, CreateMode, ZkEventType, ZkCodes, type ZkOptions, type ZkSessionEvent, type ZkWatcher } from "./zk.js";
export { ZkMembership, type ZkMembershipOptions } from "./membership.js";
export { ZkMemberView, type ZkMemberViewOptions } from "./member-view.js";
export { MembershipZonePlacement, placeZone } from "./placement.js";
export { MemoryCluster } from "./memory.js";
export { membersPath, roleMembersPath, memberPath } from "./paths.js";
export { encodeMemberInfo, decodeMemberInfo, MemberInfoSchema } from "./member-info.js";

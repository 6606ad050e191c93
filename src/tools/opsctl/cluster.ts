/**
 * `opsctl cluster [--json]`: every registered member (role, id, address, ops port, load,
 * colour, version, uptime), the coordinator that leads marked LEADER, and a summary line.
 * Exit 0 (also for an empty cluster: that is an answer, not an error).
 */
import type { MemberInfo } from "../../core/cluster/types.js";
import type { OpsContext } from "./context.js";
import { clusterText, compareMembers, memberAddress } from "./format.js";
import { readElection, readMembers, type ElectionCandidate } from "./state.js";

export interface ClusterOptions {
  json?: boolean;
}

/** `--json` output (one object on stdout). */
export interface ClusterJson {
  root: string;
  /** Coordinator node id of the leader, null when no candidate runs. */
  leader: string | null;
  /** Election candidates in line order (leader first). */
  candidates: ElectionCandidate[];
  /** Members per role. */
  counts: Record<string, number>;
  members: (MemberInfo & { path: string; address: string; uptimeMs: number; leader: boolean })[];
  /** Member znodes with invalid data (skipped). */
  invalid: string[];
}

export async function runCluster(ctx: OpsContext, opts: ClusterOptions): Promise<number> {
  const [members, election] = await Promise.all([readMembers(ctx.zk, ctx.target.root), readElection(ctx.zk, ctx.target.root)]);
  const now = ctx.now();
  const sorted = [...members.members].sort((a, b) => compareMembers(a.info, b.info));
  if (opts.json) {
    const counts: Record<string, number> = {};
    for (const m of sorted) counts[m.info.role] = (counts[m.info.role] ?? 0) + 1;
    const json: ClusterJson = {
      root: ctx.target.root,
      leader: election.leader ?? null,
      candidates: election.candidates,
      counts,
      members: sorted.map((m) => ({
        ...m.info,
        path: m.path,
        address: memberAddress(m.info),
        uptimeMs: Math.max(0, now - m.info.startedAt),
        leader: m.info.role === "coordinator" && m.info.id === election.leader,
      })),
      invalid: members.invalid,
    };
    ctx.io.out(JSON.stringify(json));
    return 0;
  }
  for (const line of clusterText({ members: sorted.map((m) => m.info), leader: election.leader, invalid: members.invalid }, now)) ctx.io.out(line);
  return 0;
}

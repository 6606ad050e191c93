/**
 * `opsctl placement [--json]`: the coordinator leader's placement document — zone → server
 * (live member or MISSING), since when, generation, writer, current leader, draining list.
 *
 * Exit 0 with a document; exit 1 when there is none yet ("no placement yet: is a coordinator
 * running?", JSON `{"placement":null}`) or when the node holds an invalid document.
 */
import { placementPath } from "../../core/cluster/paths.js";
import type { PlacementDoc } from "../../core/cluster/placement-doc.js";
import type { OpsContext } from "./context.js";
import { NO_PLACEMENT, placementRows, placementText, type PlacementRow } from "./format.js";
import { readElection, readMembers, readPlacement } from "./state.js";

export interface PlacementOptions {
  json?: boolean;
}

/** `--json` output. `placement` is null when there is no (valid) document. */
export interface PlacementJson {
  root: string;
  placement: PlacementDoc | null;
  /** Set when the node exists but does not hold a valid document. */
  invalid?: true;
  /** Current coordinator leader (may differ from `placement.leader`, the writer). */
  currentLeader?: string | null;
  zones?: (PlacementRow & { ageMs: number })[];
}

export async function runPlacement(ctx: OpsContext, opts: PlacementOptions): Promise<number> {
  const root = ctx.target.root;
  const [placement, members, election] = await Promise.all([readPlacement(ctx.zk, root), readMembers(ctx.zk, root), readElection(ctx.zk, root)]);
  if (placement.state !== "ok") {
    const why = placement.state === "absent" ? NO_PLACEMENT : `${placementPath(root)} holds an invalid placement document (was it written by a coordinator of another version?)`;
    if (opts.json) ctx.io.out(JSON.stringify({ root, placement: null, ...(placement.state === "invalid" ? { invalid: true } : {}) } satisfies PlacementJson));
    else ctx.io.err(why);
    return 1;
  }
  const now = ctx.now();
  const ids = new Set(members.members.map((m) => m.info.id));
  if (opts.json) {
    const json: PlacementJson = {
      root,
      placement: placement.doc,
      currentLeader: election.leader ?? null,
      zones: placementRows(placement.doc, ids).map((r) => ({ ...r, ageMs: Math.max(0, now - r.since) })),
    };
    ctx.io.out(JSON.stringify(json));
    return 0;
  }
  for (const line of placementText(placement.doc, ids, election.leader, now)) ctx.io.out(line);
  return 0;
}

/**
 * `opsctl drain <id> [--timeout SEC] [--no-wait] [--json]`: ask the coordinator leader to move
 * everything off member <id> and let it exit, and (by default) wait until it has.
 *
 * 1. <id> must be a registered member (any role): otherwise RiftError(USAGE) → exit 2.
 * 2. Creates the persistent drain request `<root>/drain/<id>` (JSON DrainRequest, by
 *    "opsctl@<host>"); an existing request is kept as it is (idempotent; reported).
 * 3. Unless --no-wait: prints a progress line whenever the member's zones in the placement,
 *    its load or its presence in the placement's `draining` list change, until its member
 *    node is gone (exit 0, elapsed time) or --timeout passes (exit 1, what is still there;
 *    the request stays — the coordinator keeps draining).
 *
 * Waiting uses ZooKeeper watches on the member node and the placement node (a change wakes
 * the loop at once) plus a re-read every second, so lost watches or transient connection
 * errors only delay the next line. With --json the progress goes to stderr and stdout gets
 * one final `DrainJson` object.
 */
import { hostname } from "node:os";
import { decodeMemberInfo } from "../../core/cluster/member-info.js";
import { drainPath, drainRequestPath, membersPath, placementPath } from "../../core/cluster/paths.js";
import { decodeDrainRequest, encodeDrainRequest, type DrainRequest } from "../../core/cluster/placement-doc.js";
import { CreateMode, isZkError } from "../../core/cluster/zk.js";
import { RiftError } from "../../core/errors.js";
import { errorText, withTimeout } from "../infra/wait.js";
import type { OpsContext } from "./context.js";
import { drainStateChanged, drainStateText, formatAge, formatElapsed, zonesOf, type DrainState } from "./format.js";
import { dataOrUndefined, placementDoc, readElection, readMembers, readPlacement, type MemberEntry } from "./state.js";

export const DEFAULT_DRAIN_TIMEOUT_SEC = 120;
export const MAX_DRAIN_TIMEOUT_SEC = 86_400;
/** Re-read period while waiting, in case a watch is lost. */
const POLL_MS = 1000;

export interface DrainOptions {
  /** Seconds to wait for the member to go. */
  timeout: number;
  /** false with --no-wait. */
  wait: boolean;
  json?: boolean;
}

export interface DrainJson {
  root: string;
  id: string;
  role: string;
  /** The member's znode. */
  member: string;
  /** The drain request znode. */
  request: string;
  /** The request existed before this run (it was left as it was). */
  alreadyRequested: boolean;
  requestedAt: number | null;
  by: string | null;
  /** Current coordinator leader (null: nobody will act on the request until one runs). */
  leader: string | null;
  /** requested: --no-wait; gone: the member left; timeout: still there at the deadline. */
  result: "requested" | "gone" | "timeout";
  elapsedMs: number;
  /** With result "timeout": what was still there. */
  remaining?: DrainState;
  /** With result "timeout": the last read error, if the last read failed. */
  lastError?: string;
}

function checkTimeout(sec: number): void {
  if (!Number.isFinite(sec) || sec <= 0 || sec > MAX_DRAIN_TIMEOUT_SEC) {
    throw new RiftError("USAGE", `--timeout must be a number of seconds in (0, ${MAX_DRAIN_TIMEOUT_SEC}] (got ${String(sec)})`);
  }
}

/** Create the request; returns the request in force and whether it already existed. */
async function request(ctx: OpsContext, path: string): Promise<{ existed: boolean; req: DrainRequest | undefined }> {
  const req: DrainRequest = { requestedAt: ctx.now(), by: `opsctl@${hostname()}` };
  await ctx.zk.mkdirp(drainPath(ctx.target.root));
  try {
    await ctx.zk.create(path, encodeDrainRequest(req), CreateMode.PERSISTENT);
    return { existed: false, req };
  } catch (e) {
    if (!isZkError(e, "NODE_EXISTS")) throw e;
  }
  const data = await dataOrUndefined(ctx.zk, path);
  return { existed: true, req: decodeDrainRequest(data) };
}

async function readState(ctx: OpsContext, entry: MemberEntry, watcher: () => void): Promise<DrainState> {
  const root = ctx.target.root;
  const [data, placement] = await Promise.all([dataOrUndefined(ctx.zk, entry.path, watcher), readPlacement(ctx.zk, root, watcher)]);
  // getData on a missing node sets no watch: watch for its creation instead.
  if (placement.state === "absent") await ctx.zk.exists(placementPath(root), watcher);
  const doc = placementDoc(placement);
  const id = entry.info.id;
  if (data === undefined) return { present: false, zones: zonesOf(doc, id), load: undefined, draining: doc?.draining.includes(id) ?? false };
  return { present: true, zones: zonesOf(doc, id), load: decodeMemberInfo(data)?.load, draining: doc?.draining.includes(id) ?? false };
}

export async function runDrain(ctx: OpsContext, id: string, opts: DrainOptions): Promise<number> {
  checkTimeout(opts.timeout);
  const root = ctx.target.root;
  let requestPath: string;
  try {
    requestPath = drainRequestPath(root, id);
  } catch {
    throw new RiftError("USAGE", `'${id}' is not a valid node id (letters, digits, _ . : -)`);
  }
  const [members, election] = await Promise.all([readMembers(ctx.zk, root), readElection(ctx.zk, root)]);
  const entry = members.members.find((m) => m.info.id === id);
  if (!entry) throw new RiftError("USAGE", `no member '${id}' is registered under ${membersPath(root)} (see 'opsctl cluster')`);
  const say = (line: string) => (opts.json ? ctx.io.err(line) : ctx.io.out(line));
  const started = ctx.now();

  const { existed, req } = await request(ctx, requestPath);
  const reqText = req ? ` ${formatAge(started - req.requestedAt)} ago by ${req.by}` : "";
  say(existed ? `drain of ${entry.info.role} ${id} already requested${reqText}: left as it is` : `drain requested: ${entry.info.role} ${id} (${requestPath})`);
  if (election.leader === undefined) ctx.io.err("warning: no coordinator leader is running: nobody acts on the request until one is elected");

  const result = (r: DrainJson["result"], extra: Partial<DrainJson> = {}): DrainJson => ({
    root,
    id,
    role: entry.info.role,
    member: entry.path,
    request: requestPath,
    alreadyRequested: existed,
    requestedAt: req?.requestedAt ?? null,
    by: req?.by ?? null,
    leader: election.leader ?? null,
    result: r,
    elapsedMs: Math.max(0, ctx.now() - started),
    ...extra,
  });

  if (!opts.wait) {
    if (opts.json) ctx.io.out(JSON.stringify(result("requested")));
    return 0;
  }

  const deadline = started + opts.timeout * 1000;
  let wake: () => void = () => {};
  const watcher = () => wake();
  let prev: DrainState | undefined;
  let lastError: unknown;
  for (;;) {
    const woken = new Promise<void>((r) => (wake = r));
    try {
      // a read hung on a lost connection must not stretch the deadline
      const state = await withTimeout(readState(ctx, entry, watcher), Math.max(500, Math.min(deadline - ctx.now(), 5000)), "ZooKeeper reads");
      lastError = undefined;
      if (!state.present) {
        const done = result("gone");
        if (opts.json) ctx.io.out(JSON.stringify(done));
        else say(`${id} is drained: its member node is gone after ${formatElapsed(done.elapsedMs)}`);
        return 0;
      }
      if (drainStateChanged(prev, state)) say(drainStateText(id, state));
      prev = state;
    } catch (e) {
      lastError = e;
    }
    const left = deadline - ctx.now();
    if (left <= 0) break;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([woken, new Promise<void>((r) => (timer = setTimeout(r, Math.min(left, POLL_MS))))]);
    clearTimeout(timer);
  }

  const still = prev ? drainStateText(id, prev).replace(`${id}: `, "") : "state unknown";
  const err = lastError === undefined ? "" : ` (last read failed: ${errorText(lastError)})`;
  if (opts.json) {
    ctx.io.out(JSON.stringify(result("timeout", { ...(prev ? { remaining: prev } : {}), ...(lastError !== undefined ? { lastError: errorText(lastError) } : {}) })));
  } else {
    say(`timed out after ${formatElapsed(ctx.now() - started)}: ${id} is still registered (${still})${err}; the drain request stays at ${requestPath}`);
  }
  return 1;
}

/**
 * `opsctl shard …` — the database shards (issue #6):
 *
 *   shard list [--json]                                 shards: weight, state, users, primary
 *   shard add <name> [--weight N] [--json]              register a running Patroni cluster as a shard
 *                                                       (after `npm run infra -- add-shard`)
 *   shard weight <name> <weight> [--state S]            share of NEW users (0 = none), state
 *   shard move-user <id> <shard> [--json]               move one user online
 *   shard rebalance [--to S] [--fraction F] [--batch N] [--dry-run] [--json]
 *                                                       move users online, with a progress bar
 *   shard recover [--min-age SEC] [--json]              finish/roll back moves of a mover that died
 *
 * Exit status: 0 done; 1 when some users could not be moved (listed) or a move failed;
 * 2 for usage errors and unknown shards. Progress and warnings go to stderr.
 */
import type { Config } from "../../core/config.js";
import { RiftError } from "../../core/errors.js";
import { createLogger } from "../../core/log.js";
import { planRebalance, type RebalanceStep } from "../../shard/rebalance.js";
import type { MoveReport } from "../../shard/mover.js";
import type { OpsContext } from "./context.js";
import { progressBar, type ProgressSink } from "./progress.js";
import { openShardTools, type ShardTools } from "./shard-tools.js";

export interface ShardJsonOption {
  json?: boolean;
}

export interface ShardCommandDeps {
  ctx: OpsContext;
  config: Config;
  /** Where the progress bar draws (default stderr). */
  progress?: ProgressSink;
}

async function withTools<T>(deps: ShardCommandDeps, fn: (t: ShardTools) => Promise<T>, batchSize?: number): Promise<T> {
  const log = createLogger({ level: "warn", role: "opsctl" });
  const tools = openShardTools({ config: deps.config, zk: deps.ctx.zk, log, ...(batchSize ? { batchSize } : {}) });
  try {
    return await fn(tools);
  } finally {
    await tools.close();
  }
}

async function userCounts(t: ShardTools, globalScope: string): Promise<Map<string, number>> {
  const { rows } = await t.data.router.query<{ shard: string; n: string }>(globalScope, "SELECT shard, count(*) AS n FROM shard_map GROUP BY shard", [], { idempotent: true });
  return new Map(rows.map((r) => [r.shard, Number(r.n)]));
}

export async function runShardList(deps: ShardCommandDeps, o: ShardJsonOption): Promise<number> {
  return withTools(deps, async (t) => {
    const [shards, counts] = await Promise.all([t.data.shardMap.listShards(), userCounts(t, deps.config.db.globalScope)]);
    const rows = await Promise.all(
      shards.map(async (s) => ({
        ...s,
        users: counts.get(s.name) ?? 0,
        primary: await t.data.locator.primaryUrl(s.name).then(
          (u) => new URL(u).host,
          () => null,
        ),
      })),
    );
    if (o.json) deps.ctx.io.out(JSON.stringify({ shards: rows }));
    else {
      deps.ctx.io.out(`${"SHARD".padEnd(16)} ${"STATE".padEnd(9)} ${"WEIGHT".padStart(6)} ${"USERS".padStart(9)}  PRIMARY`);
      for (const r of rows) deps.ctx.io.out(`${r.name.padEnd(16)} ${r.state.padEnd(9)} ${String(r.weight).padStart(6)} ${String(r.users).padStart(9)}  ${r.primary ?? "(none)"}`);
      deps.ctx.io.out(`${rows.length} shard(s), ${rows.reduce((n, r) => n + r.users, 0)} user(s)`);
    }
    return 0;
  });
}

export async function runShardAdd(deps: ShardCommandDeps, name: string, o: ShardJsonOption & { weight?: number }): Promise<number> {
  if (!/^[A-Za-z0-9_\-]{1,64}$/.test(name)) throw new RiftError("USAGE", `shard name ${JSON.stringify(name)}: expected 1-64 of [A-Za-z0-9_-] (the Patroni scope)`);
  return withTools(deps, async (t) => {
    const existing = await t.data.shardMap.listShards();
    if (existing.some((s) => s.name === name)) throw new RiftError("USAGE", `shard '${name}' is already registered (use \`shard weight\` to change it)`);
    let primary: string;
    try {
      primary = await t.data.locator.primaryUrl(name);
    } catch (e) {
      throw new RiftError("SHARD_UNKNOWN", `no Patroni cluster '${name}' with a primary under ${deps.config.db.patroniNamespace} (start it first: npm run infra -- add-shard)`, { cause: e });
    }
    deps.ctx.io.err(`shard ${name}: primary ${new URL(primary).host}; applying migrations`);
    await t.data.migrateShard(name);
    // weighted toward the new shard: by default it takes as many new users as all others together
    const active = existing.filter((s) => s.state === "active" && s.weight > 0);
    const weight = o.weight ?? Math.max(1, active.reduce((n, s) => n + s.weight, 0));
    await t.data.shardMap.setShard({ name, weight, state: "active" });
    await t.data.bus?.publish({ kind: "shards" }).catch((e: unknown) => deps.ctx.io.err(`warning: could not announce the new shard on Redis (${String(e)}); processes pick it up within 5 s anyway`));
    if (o.json) deps.ctx.io.out(JSON.stringify({ name, weight, state: "active", primary: new URL(primary).host }));
    else deps.ctx.io.out(`shard ${name} added (weight ${weight}, active): it now receives new users; move existing ones with \`opsctl shard rebalance --to ${name}\``);
    return 0;
  });
}

export async function runShardWeight(deps: ShardCommandDeps, name: string, weight: number, o: { state?: string }): Promise<number> {
  return withTools(deps, async (t) => {
    const s = (await t.data.shardMap.listShards()).find((x) => x.name === name);
    if (!s) throw new RiftError("SHARD_UNKNOWN", `'${name}'`);
    await t.data.shardMap.setShard({ name, weight, state: o.state ?? s.state });
    await t.data.bus?.publish({ kind: "shards" }).catch(() => undefined);
    deps.ctx.io.out(`shard ${name}: weight ${weight}, state ${o.state ?? s.state}`);
    return 0;
  });
}

function reportMove(deps: ShardCommandDeps, r: MoveReport, json: boolean, extra: Record<string, unknown> = {}): number {
  if (json) deps.ctx.io.out(JSON.stringify({ ...extra, moveId: r.moveId, moved: r.moved.length, skipped: r.skipped, seconds: Number(r.seconds.toFixed(3)) }));
  else {
    deps.ctx.io.out(`moved ${r.moved.length} user(s) in ${r.seconds.toFixed(1)}s; skipped ${r.skipped.length}`);
    for (const s of r.skipped.slice(0, 20)) deps.ctx.io.out(`  skipped user ${s.userId}: ${s.reason}`);
    if (r.skipped.length > 20) deps.ctx.io.out(`  … and ${r.skipped.length - 20} more`);
  }
  return r.skipped.some((s) => !s.reason.startsWith("already on")) ? 1 : 0;
}

export async function runShardMoveUser(deps: ShardCommandDeps, userId: number, shard: string, o: ShardJsonOption): Promise<number> {
  return withTools(deps, async (t) => reportMove(deps, await t.mover.moveUsers([userId], shard), o.json ?? false, { user: userId, to: shard }));
}

export interface RebalanceOptions extends ShardJsonOption {
  to?: string;
  fraction?: number;
  batch?: number;
  dryRun?: boolean;
}

export async function runShardRebalance(deps: ShardCommandDeps, o: RebalanceOptions): Promise<number> {
  return withTools(deps, async (t) => {
    const g = deps.config.db.globalScope;
    const recovered = await t.mover.recover();
    if (recovered.completed + recovered.rolledBack > 0) deps.ctx.io.err(`recovered unfinished moves: ${recovered.completed} completed, ${recovered.rolledBack} rolled back`);
    const shards = (await t.data.shardMap.listShards()).filter((s) => s.state === "active");
    const counts = await userCounts(t, g);
    const participating = new Map(shards.map((s) => [s.name, counts.get(s.name) ?? 0]));
    const to = o.to ?? [...participating].sort((a, b) => a[1] - b[1])[0]?.[0];
    if (!to) throw new RiftError("SHARD_UNKNOWN", "no active shards");
    const plan: RebalanceStep[] = planRebalance({ counts: participating, to, ...(o.fraction !== undefined ? { fraction: o.fraction } : {}) });
    const total = plan.reduce((n, s) => n + s.count, 0);
    for (const s of plan) deps.ctx.io.err(`plan: ${s.count} user(s) ${s.from} → ${s.to}`);
    if (o.dryRun || total === 0) {
      if (o.json) deps.ctx.io.out(JSON.stringify({ to, plan, moved: 0, dryRun: o.dryRun ?? false }));
      else deps.ctx.io.out(total === 0 ? "nothing to move" : `dry run: would move ${total} user(s) to ${to}`);
      return 0;
    }
    const bar = progressBar(deps.progress ?? { write: (x) => process.stderr.write(x), isTTY: process.stderr.isTTY === true }, `rebalance → ${to}`, total);
    bar.update(0);
    const all: MoveReport = { moveId: "", moved: [], skipped: [], seconds: 0 };
    let offset = 0;
    for (const step of plan) {
      const { rows } = await t.data.router.query<{ user_id: string }>(g, "SELECT user_id FROM shard_map WHERE shard = $1 ORDER BY hashint8(user_id) LIMIT $2", [step.from, step.count], { idempotent: true });
      const users = rows.map((r) => Number(r.user_id));
      const base = offset;
      const r = await t.mover.moveUsers(users, step.to, (p) => bar.update(base + p.done, `moved ${all.moved.length + p.moved}, skipped ${all.skipped.length + p.skipped}`));
      offset += step.count;
      all.moveId ||= r.moveId;
      all.moved.push(...r.moved);
      all.skipped.push(...r.skipped);
      all.seconds += r.seconds;
    }
    bar.finish(`moved ${all.moved.length}, skipped ${all.skipped.length}`);
    return reportMove(deps, all, o.json ?? false, { to, plan });
  }, o.batch);
}

export async function runShardRecover(deps: ShardCommandDeps, o: ShardJsonOption & { minAge: number }): Promise<number> {
  return withTools(deps, async (t) => {
    const r = await t.mover.recover(o.minAge * 1000);
    if (o.json) deps.ctx.io.out(JSON.stringify(r));
    else deps.ctx.io.out(`recovered: ${r.completed} move(s) completed, ${r.rolledBack} rolled back`);
    return 0;
  });
}

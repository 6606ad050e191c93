/**
 * `npm run bench -- resharding [--users N] [--steps 2,3,4,8] [--seed S] [--json]`
 *
 * How many users must move when the cluster grows from one shard count to the next, under
 * modulo-N, modulo-2^N (linear hashing) and the mapping table Rift uses. The baseline,
 * computed in the same run over the same users, is the least any scheme can move and end up
 * even: 1 − old/new of the users (what `opsctl shard rebalance` moves when the operator asks
 * for an even spread; the mapping table itself forces 0 moves). Reported per transition:
 * moved fraction, ratio to that minimum, and the imbalance left (largest shard / even share).
 */
import { Command } from "commander";
import { mulberry32 } from "../../src/tools/loadbot/prng.js";
import { imbalance, mappingTable, modulo2N, moduloN, movedFraction, type ShardStrategy } from "../../src/shard/strategies.js";

export interface ReshardingRow {
  from: number;
  to: number;
  strategy: string;
  moved: number;
  minimum: number;
  ratioToMinimum: number | null;
  imbalanceAfter: number;
}

export function measureResharding(users: readonly number[], steps: readonly number[]): ReshardingRow[] {
  const names = (n: number) => Array.from({ length: n }, (_, i) => `shard${i}`);
  const rows: ReshardingRow[] = [];
  const transitions: [number, number][] = [];
  for (let i = 1; i < steps.length; i++) transitions.push([steps[i - 1]!, steps[i]!]);
  if (steps.length > 2) transitions.push([steps[0]!, steps[steps.length - 1]!]);
  for (const [from, to] of transitions) {
    const before = names(from);
    const after = names(to);
    const minimum = 1 - from / to;
    const strategies: ShardStrategy[] = [moduloN, modulo2N, mappingTable(from)];
    for (const s of strategies) {
      const moved = movedFraction(s, users, before, after);
      rows.push({ from, to, strategy: s.name, moved, minimum, ratioToMinimum: minimum > 0 ? moved / minimum : null, imbalanceAfter: imbalance(s, users, after) });
    }
  }
  return rows;
}

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

export async function resharding(argv: string[]): Promise<number> {
  const program = new Command("bench resharding")
    .exitOverride()
    .option("--users <n>", "users to place", (v) => Number.parseInt(v, 10), 100_000)
    .option("--steps <list>", "shard counts to grow through", "2,3,4,8")
    .option("--seed <s>", "random seed of the user ids", (v) => Number.parseInt(v, 10), 1)
    .option("--json", "one JSON object on stdout");
  program.parse(argv, { from: "user" });
  const o = program.opts<{ users: number; steps: string; seed: number; json?: boolean }>();
  const steps = o.steps.split(",").map((s) => Number.parseInt(s, 10));
  if (!(o.users > 0) || steps.length < 2 || steps.some((n, i) => !(n >= 1) || (i > 0 && n <= steps[i - 1]!))) {
    process.stderr.write("bench: RIFT_USAGE: --users must be > 0 and --steps an increasing list of at least two shard counts\n");
    return 2;
  }
  const rnd = mulberry32(o.seed);
  const users = Array.from({ length: o.users }, () => Math.floor(rnd() * 2 ** 31));
  const t0 = performance.now();
  const rows = measureResharding(users, steps);
  const ms = Math.round(performance.now() - t0);
  const lines = [
    `resharding: ${o.users} users (random ids, seed ${o.seed}), shard counts ${steps.join(" → ")}`,
    "from→to  strategy        moved    minimum  ×minimum  largest shard / even share after",
    ...rows.map(
      (r) =>
        `${`${r.from}→${r.to}`.padEnd(8)} ${r.strategy.padEnd(14)} ${pct(r.moved).padStart(7)} ${pct(r.minimum).padStart(9)} ${(r.ratioToMinimum === null ? "-" : r.ratioToMinimum.toFixed(2)).padStart(9)}  ${r.imbalanceAfter.toFixed(2)}`,
    ),
    "minimum = least any scheme can move and be even afterwards (1 − old/new). The mapping table moves nobody by itself;",
    "the operator rebalances exactly the users they choose (up to the minimum for an even spread), online.",
  ];
  process.stderr.write(lines.join("\n") + "\n");
  if (o.json) process.stdout.write(JSON.stringify({ bench: "resharding", users: o.users, seed: o.seed, steps, ms, rows }) + "\n");
  return 0;
}

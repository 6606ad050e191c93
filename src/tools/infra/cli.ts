/**
 * `npm run infra -- up|down|status|add-shard [options]` — local infrastructure for Rift.
 *
 *   up         [--shards N] [--zk 1|3] [--profile test|dev] [--run-dir DIR] [--json]
 *   down       [--keep] [--run-dir DIR]
 *   status     [--run-dir DIR] [--json]
 *   add-shard  [--name NAME] [--run-dir DIR] [--json]
 *              one more shard cluster (default name: the next free shard<k>) on the running
 *              infra, added to state.json once ready; register it with `npm run opsctl -- shard add`
 *
 * `up` reuses a healthy running infra with the same ZooKeeper size and profile and AT LEAST
 * --shards shard clusters (shards added at runtime are kept); fewer means a clean restart.
 *
 * Progress goes to stderr; results (summary lines or --json) to stdout. Exit status: 0 on
 * success; 1 when start-up fails, `add-shard` is refused or fails (only the new cluster is
 * removed), or `status` finds nothing running or anything unhealthy; 2 for usage errors.
 * Default run dir: <repo>/.rift/infra.
 */
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { RiftError } from "../../core/errors.js";
import { addShard, defaultLog, formatStatusLines, infraDown, infraStatus, infraUp, patroniClusterStatus, type InfraState } from "./infra.js";
import { componentStatuses } from "./status.js";
import { errorText } from "./wait.js";

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
export const DEFAULT_RUN_DIR = resolve(REPO_ROOT, ".rift/infra");

function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new InvalidArgumentError("expected an integer from 1 to 64");
  return n;
}

const runDirOption = () => new Option("--run-dir <dir>", "run directory (data, logs, state.json)").default(DEFAULT_RUN_DIR, ".rift/infra");

function printState(state: InfraState, json: boolean): Promise<void> | void {
  if (json) {
    process.stdout.write(JSON.stringify(state, null, 2) + "\n");
    return;
  }
  return componentStatuses(state).then((st) => {
    for (const l of formatStatusLines(st)) process.stdout.write(l + "\n");
  });
}

const program = new Command()
  .name("infra")
  .description("Start, stop and inspect Rift's local infrastructure (ZooKeeper, Redis, Patroni/Postgres clusters)")
  .showHelpAfterError()
  .exitOverride(); // usage errors surface as CommanderError (exit 2 below); subcommands inherit this

program
  .command("up")
  .description("start everything (or reuse a healthy running infra) and wait until it is really ready")
  .option("--shards <n>", "number of shard clusters (besides the global one)", positiveInt, 1)
  .addOption(new Option("--zk <n>", "ZooKeeper nodes").choices(["1", "3"]).default("1"))
  .addOption(new Option("--profile <p>", "Patroni timings: test (ttl 5) or dev (ttl 10)").choices(["test", "dev"]).default("dev"))
  .addOption(runDirOption())
  .option("--json", "print the state as JSON")
  .action(async (o: { shards: number; zk: "1" | "3"; profile: "test" | "dev"; runDir: string; json?: boolean }) => {
    const abort = new AbortController();
    const onSignal = () => {
      defaultLog("interrupted: stopping start-up and tearing down");
      abort.abort(new Error("interrupted"));
    };
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
    try {
      const state = await infraUp({ runDir: o.runDir, shards: o.shards, zk: o.zk === "3" ? 3 : 1, profile: o.profile, signal: abort.signal });
      await printState(state, o.json ?? false);
    } finally {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    }
  });

program
  .command("add-shard")
  .description("start one more shard cluster (primary + synchronous standby) on the running infra; add it to state.json when ready")
  .option("--name <name>", "cluster name / Patroni scope (default: the next free shard<k>)")
  .addOption(runDirOption())
  .option("--json", "print the new cluster as JSON")
  .action(async (o: { name?: string; runDir: string; json?: boolean }) => {
    const abort = new AbortController();
    const onSignal = () => {
      defaultLog("interrupted: stopping and removing the new cluster");
      abort.abort(new Error("interrupted"));
    };
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
    try {
      const { cluster } = await addShard(o.runDir, { ...(o.name !== undefined ? { name: o.name } : {}), signal: abort.signal });
      if (o.json) process.stdout.write(JSON.stringify(cluster, null, 2) + "\n");
      else for (const l of formatStatusLines([await patroniClusterStatus(cluster)])) process.stdout.write(l + "\n");
    } finally {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    }
  });

program
  .command("down")
  .description("stop everything by PID and remove the run dir")
  .option("--keep", "keep the run dir (data and logs)")
  .addOption(runDirOption())
  .action(async (o: { keep?: boolean; runDir: string }) => {
    await infraDown(o.runDir, { keep: o.keep ?? false });
  });

program
  .command("status")
  .description("one line per component; exit 1 if anything is unhealthy or nothing runs")
  .addOption(runDirOption())
  .option("--json", "machine-readable output")
  .action(async (o: { runDir: string; json?: boolean }) => {
    const st = await infraStatus(o.runDir);
    if (o.json) process.stdout.write(JSON.stringify(st, null, 2) + "\n");
    else if (st.length === 0) process.stdout.write(`nothing running in ${resolve(o.runDir)}\n`);
    else for (const l of formatStatusLines(st)) process.stdout.write(l + "\n");
    if (st.length === 0 || st.some((s) => !s.healthy)) process.exitCode = 1;
  });

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof CommanderError) {
    // Commander already printed the message (or the help / version text).
    process.exitCode = e.exitCode === 0 ? 0 : 2;
  } else {
    reportError(e);
  }
}

function reportError(e: unknown): void {
  const line = e instanceof RiftError ? e.toLine() : errorText(e);
  process.stderr.write(`[infra] error: ${line}\n`);
  process.exitCode = e instanceof RiftError && e.def.exit !== undefined ? e.def.exit : 1;
}

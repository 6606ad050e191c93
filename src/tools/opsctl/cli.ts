/**
 * `npm run opsctl -- [--config FILE] [--zk HOST:PORT] [--root /x] [--connect-timeout SEC] <command>`
 *
 *   cluster [--json]                                members, leader, summary        (cluster.ts)
 *   placement [--json]                              zone → server placement         (placement.ts)
 *   drain <id> [--timeout SEC] [--no-wait] [--json] drain one server and wait       (drain.ts)
 *
 * Options may stand before or after the command. The ZooKeeper address and root come from the
 * configuration (config/default.yaml, --config FILE, RIFT__* environment), then --zk/--root.
 * Exit status: 0 done; 1 the cluster is not in the asked-for state (no placement, drain timed
 * out) or an internal error; 2 usage/config errors, unknown member, ZooKeeper unreachable.
 * Errors print one line `opsctl: RIFT_…: …` on stderr. See docs/OPSCTL.md.
 */
import { Command, CommanderError, InvalidArgumentError } from "commander";
import { isRiftError, RiftError } from "../../core/errors.js";
import { isZkError } from "../../core/cluster/zk.js";
import { errorText, withTimeout, WaitTimeoutError } from "../infra/wait.js";
import { runCluster, type ClusterOptions } from "./cluster.js";
import { connectTarget, processOutput, resolveTarget, type GlobalOptions, type OpsContext } from "./context.js";
import { DEFAULT_DRAIN_TIMEOUT_SEC, MAX_DRAIN_TIMEOUT_SEC, runDrain, type DrainOptions } from "./drain.js";
import { runPlacement, type PlacementOptions } from "./placement.js";

/** A one-shot command must finish within this after connecting (a hung ZooKeeper read). */
const COMMAND_DEADLINE_MS = 30_000;

function seconds(max: number) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === "" || !Number.isFinite(n) || n <= 0 || n > max) throw new InvalidArgumentError(`expected a number of seconds in (0, ${max}]`);
    return n;
  };
}

/** Connect, run, close; the whole run is bounded by `deadlineMs` (after the connect). */
async function withContext(opts: GlobalOptions, deadlineMs: number, fn: (ctx: OpsContext) => Promise<number>): Promise<number> {
  const target = resolveTarget(opts);
  const zk = await connectTarget(target);
  try {
    return await withTimeout(fn({ zk, target, io: processOutput, now: Date.now }), deadlineMs, "the command to finish");
  } catch (e) {
    if (e instanceof WaitTimeoutError) throw new RiftError("DEPENDENCY_UNAVAILABLE", `ZooKeeper at ${target.connect} stopped answering (no result within ${deadlineMs / 1000}s)`);
    if (isZkError(e)) throw new RiftError("DEPENDENCY_UNAVAILABLE", `ZooKeeper at ${target.connect}: ${e.message}`);
    throw e;
  } finally {
    await zk.close();
  }
}

async function main(argv: string[]): Promise<number> {
  let code = 0;
  const program = new Command()
    .name("opsctl")
    .description("Rift operator CLI: inspect the cluster in ZooKeeper, drain servers")
    .option("--config <file>", "YAML file merged over config/default.yaml (RIFT__* environment overrides apply too)")
    .option("--zk <host:port>", "ZooKeeper connect string (default: cluster.zookeeper.connect)")
    .option("--root <path>", "cluster root znode (default: cluster.zookeeper.root)")
    .option("--connect-timeout <sec>", "deadline for reaching ZooKeeper", seconds(600), 5)
    .exitOverride()
    .configureOutput({ writeErr: () => {} });
  const globals = (cmd: Command) => cmd.optsWithGlobals<GlobalOptions>();

  program
    .command("cluster")
    .description("list the members (role, id, address, load, colour, version, uptime) and the coordinator leader")
    .option("--json", "print one JSON object")
    .action(async (o: ClusterOptions, cmd: Command) => {
      code = await withContext(globals(cmd), COMMAND_DEADLINE_MS, (ctx) => runCluster(ctx, o));
    });
  program
    .command("placement")
    .description("show which server hosts each zone (exit 1 when no coordinator has written a placement yet)")
    .option("--json", "print one JSON object")
    .action(async (o: PlacementOptions, cmd: Command) => {
      code = await withContext(globals(cmd), COMMAND_DEADLINE_MS, (ctx) => runPlacement(ctx, o));
    });
  program
    .command("drain <id>")
    .description("ask the coordinator to move everything off member <id>, then wait until it is gone")
    .option("--timeout <sec>", "how long to wait for the member to go (exit 1 after it)", seconds(MAX_DRAIN_TIMEOUT_SEC), DEFAULT_DRAIN_TIMEOUT_SEC)
    .option("--no-wait", "only create the drain request")
    .option("--json", "progress on stderr, one final JSON object on stdout")
    .action(async (id: string, o: DrainOptions, cmd: Command) => {
      code = await withContext(globals(cmd), o.timeout * 1000 + COMMAND_DEADLINE_MS, (ctx) => runDrain(ctx, id, o));
    });

  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (!(e instanceof CommanderError)) throw e;
    if (e.code === "commander.helpDisplayed" || e.code === "commander.version") return 0;
    if (e.code === "commander.help" && e.exitCode === 0) return 0; // `opsctl help [command]`
    if (e.code === "commander.help") {
      // no command given: the usage goes to stderr, as for any usage error
      process.stderr.write(program.helpInformation());
      return 2;
    }
    throw new RiftError("USAGE", e.message.replace(/^error: /, ""));
  }
  return code;
}

/** Exit status for an error: 2 for what the operator can fix (input, config, ZooKeeper address). */
function exitFor(err: RiftError): number {
  if (err.key === "DEPENDENCY_UNAVAILABLE") return 2;
  return err.def.exit ?? 1;
}

main(process.argv).then(
  (code) => {
    process.exitCode = code;
    // the ZooKeeper client is closed; nothing else may keep us alive
    setTimeout(() => process.exit(code), 500).unref();
  },
  (err: unknown) => {
    if (isRiftError(err)) {
      process.stderr.write(`opsctl: ${err.toLine()}\n`);
      process.exit(exitFor(err));
    }
    process.stderr.write(`opsctl: RIFT_INTERNAL: ${err instanceof Error ? (err.stack ?? errorText(err)) : String(err)}\n`);
    process.exit(1);
  },
);

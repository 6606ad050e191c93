/**
 * `npm run opsctl -- [--config FILE] [--zk HOST:PORT] [--root /x] [--connect-timeout SEC] <command>`
 *
 *   cluster [--json]                                members, leader, summary        (cluster.ts)
 *   placement [--json]                              zone → server placement         (placement.ts)
 *   drain <id> [--timeout SEC] [--no-wait] [--json] drain one server and wait       (drain.ts)
 *   chat announce|mute|unmute|ban|unban …          chat moderation via Redis         (chat.ts)
 *   shard list|add|weight|move-user|rebalance|recover  database shards, online user moves (shard.ts)
 *   top [--once] [--json] [--interval SEC]         live monitor of every process (Redis)  (top.ts)
 *   event shop|switch|announce|kick …              management push events               (event.ts)
 *   flag set|rm|list …                             feature flags                        (flag.ts)
 *   logs [--user ID] [--kind K] [--since 1h] [--limit N] [--json]   game log (global DB)  (logs.ts)
 *   trace user <id> [--since 24h] [--limit N] [--json]              a user's trail          (trace.ts)
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
import { chatEvent, resolveRedis, runChat } from "./chat.js";
import { runCluster, type ClusterOptions } from "./cluster.js";
import { connectTarget, processOutput, type Output, resolveConfig, resolveTarget, type GlobalOptions, type OpsContext } from "./context.js";
import { runShardAdd, runShardList, runShardMoveUser, runShardRebalance, runShardRecover, runShardWeight, type RebalanceOptions } from "./shard.js";
import { DEFAULT_DRAIN_TIMEOUT_SEC, MAX_DRAIN_TIMEOUT_SEC, runDrain, type DrainOptions } from "./drain.js";
import { runPlacement, type PlacementOptions } from "./placement.js";
import { runTop, type TopOptions } from "./top.js";
import { openOpsTools, parseEvent, runEvent, type OpsTools } from "./event.js";
import { flagRmEvent, flagSetEvent, runFlagList, runFlagRm, runFlagSet } from "./flag.js";
import { recordAdmin, runLogs, type LogsOptions } from "./logs.js";
import { runTraceUser, type TraceOptions } from "./trace.js";

/** A one-shot command must finish within this after connecting (a hung ZooKeeper read). */
const COMMAND_DEADLINE_MS = 30_000;

/** A long operator task (rebalance of many users) may run this long. */
const LONG_COMMAND_DEADLINE_MS = 6 * 3600_000;

function intIn(min: number, max: number) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === "" || !Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`expected an integer from ${min} to ${max}`);
    return n;
  };
}

function fraction(v: string): number {
  const n = Number(v);
  if (v.trim() === "" || !Number.isFinite(n) || n <= 0 || n > 1) throw new InvalidArgumentError("expected a fraction in (0, 1]");
  return n;
}

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

  const shard = program.command("shard").description("database shards: list, add, weights, online user moves (see docs/OPSCTL.md)");
  const shardRun = (cmd: Command, deadlineMs: number, fn: (deps: { ctx: OpsContext; config: ReturnType<typeof resolveConfig> }) => Promise<number>) => {
    const g = globals(cmd);
    const config = resolveConfig(g);
    return withContext(g, deadlineMs, (ctx) => fn({ ctx, config }));
  };
  shard
    .command("list")
    .description("every shard with its weight, state, number of users and current primary")
    .option("--json", "print one JSON object")
    .action(async (o: { json?: boolean }, cmd: Command) => {
      code = await shardRun(cmd, COMMAND_DEADLINE_MS, (d) => runShardList(d, o));
    });
  shard
    .command("add <name>")
    .description("register a running Patroni cluster <name> (npm run infra -- add-shard) as a shard: migrate it, give it new users")
    .option("--weight <n>", "share of new users (default: the sum of the active shards' weights, i.e. half of all new users)", intIn(0, 1_000_000))
    .option("--json", "print one JSON object")
    .action(async (name: string, o: { weight?: number; json?: boolean }, cmd: Command) => {
      code = await shardRun(cmd, 120_000, (d) => runShardAdd(d, name, o));
    });
  shard
    .command("weight <name> <weight>")
    .description("set a shard's share of new users (0 = none) and optionally its state (active | draining)")
    .option("--state <state>", "active or draining")
    .action(async (name: string, weight: string, o: { state?: string }, cmd: Command) => {
      const w = intIn(0, 1_000_000)(weight);
      if (o.state !== undefined && o.state !== "active" && o.state !== "draining") throw new RiftError("USAGE", "--state must be active or draining");
      code = await shardRun(cmd, COMMAND_DEADLINE_MS, (d) => runShardWeight(d, name, w, o));
    });
  shard
    .command("move-user <id> <shard>")
    .description("move one user (online or not) to <shard> without disconnecting it")
    .option("--json", "print one JSON object")
    .action(async (id: string, to: string, o: { json?: boolean }, cmd: Command) => {
      const userId = intIn(1, Number.MAX_SAFE_INTEGER)(id);
      code = await shardRun(cmd, 120_000, (d) => runShardMoveUser(d, userId, to, o));
    });
  shard
    .command("rebalance")
    .description("move users online to one shard (default: the emptiest) with a progress bar")
    .option("--to <shard>", "shard that receives users (default: the active shard with the fewest users)")
    .option("--fraction <f>", "fraction of every other shard's users to move (default: an even share for --to)", fraction)
    .option("--batch <n>", "users per move batch", intIn(1, 5000), 200)
    .option("--dry-run", "print the plan only")
    .option("--json", "progress on stderr, one JSON object on stdout")
    .action(async (o: RebalanceOptions, cmd: Command) => {
      code = await shardRun(cmd, LONG_COMMAND_DEADLINE_MS, (d) => runShardRebalance(d, o));
    });
  shard
    .command("recover")
    .description("finish or roll back user moves left unfinished by a mover that died")
    .option("--min-age <sec>", "only moves older than this", seconds(86_400), 60)
    .option("--json", "print one JSON object")
    .action(async (o: { minAge: number; json?: boolean }, cmd: Command) => {
      code = await shardRun(cmd, LONG_COMMAND_DEADLINE_MS, (d) => runShardRecover(d, o));
    });

  const chat = program.command("chat").description("chat moderation and announcements (Redis; see docs/CHAT.md)");
  const chatCmd = (name: "announce" | "mute" | "unmute" | "ban" | "unban", arg: string, desc: string, minutes = false) => {
    const c = chat
      .command(`${name} ${arg}`)
      .description(desc)
      .option("--redis <url>", "Redis URL (default: cluster.redis.url)")
      .option("--prefix <p>", "Redis key prefix (default: cluster.redis.keyPrefix)")
      .option("--json", "print one JSON object");
    if (minutes) c.option("--minutes <n>", "mute duration in minutes", Number, 10);
    c.action(async (a: string | string[], o: { redis?: string; prefix?: string; json?: boolean; minutes?: number }, cmd: Command) => {
      const g = globals(cmd);
      const text = Array.isArray(a) ? a.join(" ") : a;
      const io: Output = processOutput;
      code = await runChat(resolveRedis({ ...(g.config ? { config: g.config } : {}), ...(o.redis ? { redis: o.redis } : {}), ...(o.prefix !== undefined ? { prefix: o.prefix } : {}) }), chatEvent(name, text, o.minutes ?? 10, Date.now()), io, o.json === true);
    });
  };
  chatCmd("announce", "<text...>", "system notice to everyone online");
  chatCmd("mute", "<user>", "refuse the user's chat posts (RIFT_CHAT_MUTED) for --minutes", true);
  chatCmd("unmute", "<user>", "lift a mute");
  chatCmd("ban", "<user>", "ban the user from chat (no posts, no channels)");
  chatCmd("unban", "<user>", "lift a ban");

  program
    .command("top")
    .description("live table of every process (CCU, tick p99, queues, flush lag, RSS) from the Redis monitor")
    .option("--once", "print one table and exit")
    .option("--json", "print JSON (one object per refresh)")
    .option("--interval <sec>", "refresh period", seconds(3600))
    .action(async (o: TopOptions, cmd: Command) => {
      const config = resolveConfig(globals(cmd));
      const interrupted = new Promise<void>((r) => process.once("SIGINT", () => r()));
      code = await runTop({ redis: { url: config.cluster.redis.url, prefix: config.cluster.redis.keyPrefix }, io: processOutput, tty: process.stdout.isTTY === true, now: Date.now, interrupted }, o);
    });
  const withOps = async (cmd: Command, fn: (t: OpsTools) => Promise<number>): Promise<number> => {
    const tools = await openOpsTools(resolveConfig(globals(cmd)));
    try {
      return await withTimeout(fn(tools), COMMAND_DEADLINE_MS, "the command to finish");
    } finally {
      await tools.close();
    }
  };
  program
    .command("event <name> [payload...]")
    .description("push a management event to every process: shop off|on, switch <feature> off|on, announce <text…>, kick <userId> [reason]")
    .option("--json", "print one JSON object")
    .action(async (name: string, payload: string[], o: { json?: boolean }, cmd: Command) => {
      const e = parseEvent(name, payload);
      code = await withOps(cmd, (t) => runEvent(t, e, processOutput, o.json === true));
    });
  const flag = program.command("flag").description("feature flags: global, per role, percentage of users (see docs/OPSCTL.md)");
  flag
    .command("set <name> <value>")
    .description("set a flag: on, off or a percentage of users such as 10%")
    .option("--role <role>", "only for this role (default: every role)")
    .option("--json", "print one JSON object")
    .action(async (name: string, value: string, o: { role?: string; json?: boolean }, cmd: Command) => {
      flagSetEvent(name, value, o.role); // usage errors before connecting
      code = await withOps(cmd, (t) => runFlagSet(t, name, value, o, processOutput));
    });
  flag
    .command("rm <name>")
    .description("remove a flag (or only its rule for --role)")
    .option("--role <role>", "remove only this role's rule")
    .option("--json", "print one JSON object")
    .action(async (name: string, o: { role?: string; json?: boolean }, cmd: Command) => {
      flagRmEvent(name, o.role); // usage errors before connecting
      code = await withOps(cmd, (t) => runFlagRm(t, name, o, processOutput));
    });
  flag
    .command("list")
    .description("every flag and switch")
    .option("--user <id>", "also show whether this user gets each flag", intIn(1, Number.MAX_SAFE_INTEGER))
    .option("--json", "print one JSON object")
    .action(async (o: { user?: number; json?: boolean }, cmd: Command) => {
      code = await withOps(cmd, (t) => runFlagList(t, o, processOutput));
    });

  program
    .command("logs")
    .description("game log entries (logins, trades, items, errors, admin actions), newest first")
    .option("--user <id>", "only this user", intIn(1, Number.MAX_SAFE_INTEGER))
    .option("--kind <kind>", "login, logout, transfer, trade, item, error or admin")
    .option("--since <when>", "how far back: 90s, 15m, 1h, 7d or an ISO time", "1h")
    .option("--limit <n>", "at most this many entries", intIn(1, 100_000), 100)
    .option("--json", "print one JSON object")
    .action(async (o: LogsOptions, cmd: Command) => {
      const config = resolveConfig(globals(cmd));
      code = await withTimeout(runLogs(config, o, processOutput), COMMAND_DEADLINE_MS, "the command to finish");
    });
  program
    .command("trace")
    .description("trails: `trace user <id>` — where the user is and its logins, transfers, trades and errors")
    .command("user <id>")
    .description("a user's trail: current shard/zone/owner and its game-log events, oldest first")
    .option("--since <when>", "how far back: 90s, 15m, 1h, 7d or an ISO time", "24h")
    .option("--limit <n>", "at most this many events", intIn(1, 100_000), 200)
    .option("--json", "print one JSON object")
    .action(async (id: string, o: TraceOptions, cmd: Command) => {
      const config = resolveConfig(globals(cmd));
      code = await withTimeout(runTraceUser(config, intIn(1, Number.MAX_SAFE_INTEGER)(id), o, processOutput), COMMAND_DEADLINE_MS, "the command to finish");
    });
  // every successful operator action leaves an `admin` row in the game log (logs.ts)
  program.hook("postAction", async (_root: Command, action: Command) => {
    const path = [action.parent?.name(), action.name()].filter((n) => n && n !== "opsctl") as string[];
    const admin = path[0] === "event" || (path[0] === "flag" && path[1] !== "list") || (path[0] === "shard" && path[1] !== "list");
    if (!admin || code !== 0) return;
    await recordAdmin(resolveConfig(globals(action)), path.join(" "), action.args, processOutput);
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
    // one line, also when commander adds a suggestion ("(Did you mean …?)") on a line of its own
    throw new RiftError("USAGE", e.message.replace(/^error: /, "").replace(/\s*\n\s*/g, " ").trim());
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

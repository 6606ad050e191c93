/**
 * The one binary: `rift --role <gateway|field|dungeon|chat|coordinator> [--config FILE]`.
 * Parses arguments and configuration, builds the process context, starts the role.
 * User errors (unknown role, bad config, port in use) exit 2 with one line, no stack.
 */
import { Command, CommanderError } from "commander";
import { isRole, loadConfig, ROLES } from "./core/config.js";
import { isRiftError, RiftError } from "./core/errors.js";
import { createProcessContext } from "./core/runtime.js";
import { roleMains } from "./roles.js";

function fail(err: unknown): never {
  if (isRiftError(err)) {
    process.stderr.write(`rift: ${err.toLine()}\n`);
    process.exit(err.def.exit ?? 1);
  }
  process.stderr.write(`rift: RIFT_INTERNAL: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
}

async function main(argv: string[]): Promise<void> {
  const program = new Command()
    .name("rift")
    .description("Rift game-server cluster: one binary, role chosen by --role")
    .requiredOption("--role <role>", `one of ${ROLES.join(", ")}`)
    .option("--config <file>", "YAML file merged over config/default.yaml")
    .exitOverride()
    .configureOutput({ writeErr: () => {} });
  try {
    program.parse(argv);
  } catch (e) {
    if (e instanceof CommanderError && (e.code === "commander.helpDisplayed" || e.code === "commander.version")) {
      process.stdout.write(program.helpInformation());
      process.exit(0);
    }
    throw new RiftError("USAGE", e instanceof Error ? e.message.replace(/^error: /, "") : String(e));
  }
  const opts = program.opts<{ role: string; config?: string }>();
  if (!isRole(opts.role)) throw new RiftError("UNKNOWN_ROLE", `'${opts.role}' (expected one of ${ROLES.join(", ")})`);
  const config = loadConfig(opts.config ? { file: opts.config } : {});
  const start = roleMains[opts.role];
  if (!start) throw new RiftError("UNKNOWN_ROLE", `'${opts.role}' is not implemented yet in this build`);
  const ctx = await createProcessContext(opts.role, config);
  ctx.lifecycle.installSignalHandlers();
  try {
    await start(ctx);
  } catch (e) {
    await ctx.lifecycle.shutdown("start-up failed");
    throw e;
  }
  ctx.log.info({ opsPort: ctx.opsPort }, "started");
}

main(process.argv).catch(fail);

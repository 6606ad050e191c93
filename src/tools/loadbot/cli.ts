/**
 * `npm run loadbot -- --bots N --duration S [--gateway URL ...] [--json] [--workers W]
 *                     [--ramp S] [--seed X] [--accounts FILE] [--prefix P]`
 *
 * Drives N bots through the real client protocol against loopback gateways (see
 * controller.ts / bot.ts). Progress every second on stderr; at the end a summary on stderr,
 * or with --json one JSON object (stats.ts `Summary`) on stdout.
 *
 * Exit status: 0 when the bots ran (at least half of them entered the world), 1 when most
 * failed to connect/enter, 2 for usage errors (including a non-loopback gateway URL).
 * Bounded: stops by itself after --duration (a watchdog exits 1 if stopping hangs), at most
 * MAX_BOTS bots. Ctrl-C / SIGTERM stop the run early and still print the summary.
 */
import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { isRiftError, RiftError } from "../../core/errors.js";
import { runLoad } from "./controller.js";
import { MAX_BOTS, parseAccounts, resolveOptions, type LoadbotOptions } from "./options.js";
import { progressLine, summaryText } from "./stats.js";

function num(v: string): number {
  const n = Number(v);
  if (v.trim() === "" || !Number.isFinite(n)) throw new InvalidArgumentError("expected a number");
  return n;
}

function collect(v: string, prev: string[]): string[] {
  return [...prev, v];
}

interface CliOptions {
  bots: number;
  duration: number;
  gateway: string[];
  json?: boolean;
  workers?: number;
  ramp?: number;
  seed?: number;
  accounts?: string;
  prefix?: string;
  chatRate?: number;
}

function parse(argv: string[]): { opts: LoadbotOptions; json: boolean } {
  const program = new Command()
    .name("loadbot")
    .description("Load bots: N simulated players walking through the real protocol (loopback gateways only)")
    .requiredOption("--bots <n>", `number of bots (1..${MAX_BOTS})`, num)
    .requiredOption("--duration <s>", "run time in seconds, ramp included", num)
    .addOption(new Option("--gateway <url>", "gateway ws:// URL, loopback only (repeatable; bots round-robin)").argParser(collect).default([] as string[], "ws://127.0.0.1:7000"))
    .option("--json", "print the summary as one JSON object on stdout")
    .option("--workers <w>", "worker threads carrying the bots (default: 1 up to 200 bots, else 2)", num)
    .option("--ramp <s>", "spread bot start-ups over this many seconds (default: bots/200, at most duration/2)", num)
    .option("--seed <x>", "random seed (walks, start phases)", num)
    .option("--accounts <file>", "existing accounts, one `name password` per line (default: register new users)")
    .option("--prefix <p>", "name prefix of registered users (default lb)")
    .option("--chat-rate <r>", "world chat messages per second per bot (default 0; the gateway allows chat.rateLimit, 2/s)", num)
    .exitOverride()
    .configureOutput({ writeErr: () => {} });
  try {
    program.parse(argv);
  } catch (e) {
    if (e instanceof CommanderError && (e.code === "commander.helpDisplayed" || e.code === "commander.help")) {
      process.stdout.write(program.helpInformation());
      process.exit(0);
    }
    throw new RiftError("USAGE", e instanceof Error ? e.message.replace(/^error: /, "") : String(e));
  }
  const o = program.opts<CliOptions>();
  let accounts: LoadbotOptions["accounts"];
  if (o.accounts) {
    let text: string;
    try {
      text = readFileSync(o.accounts, "utf8");
    } catch (e) {
      throw new RiftError("USAGE", `--accounts ${o.accounts}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    }
    accounts = parseAccounts(text);
  }
  const partial: Parameters<typeof resolveOptions>[0] = { bots: o.bots, durationSec: o.duration, gateways: o.gateway };
  if (o.workers !== undefined) partial.workers = o.workers;
  if (o.ramp !== undefined) partial.rampSec = o.ramp;
  if (o.seed !== undefined) partial.seed = o.seed;
  if (o.prefix !== undefined) partial.namePrefix = o.prefix;
  if (o.chatRate !== undefined) partial.chatRate = o.chatRate;
  if (accounts) partial.accounts = accounts;
  return { opts: resolveOptions(partial, availableParallelism()), json: o.json === true };
}

async function main(): Promise<number> {
  const { opts, json } = parse(process.argv);
  process.stderr.write(`[loadbot] ${opts.bots} bots, ${opts.durationSec}s (ramp ${opts.rampSec.toFixed(1)}s), ${Math.max(opts.workers, 1)} thread(s), seed ${opts.seed}, gateways ${opts.gateways.join(" ")}\n`);
  let onSignal: () => void = () => {};
  const interrupted = new Promise<void>((resolve) => {
    onSignal = () => {
      process.stderr.write("[loadbot] interrupted: stopping the bots\n");
      resolve();
    };
  });
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  // watchdog: the run must end by itself, whatever happens to the sockets
  const watchdog = setTimeout(() => {
    process.stderr.write("[loadbot] RIFT_INTERNAL: the run did not stop in time; exiting\n");
    process.exit(1);
  }, (opts.durationSec + 30) * 1000);
  watchdog.unref();
  const summary = await runLoad(opts, { progress: (p) => process.stderr.write(progressLine(p) + "\n"), interrupted });
  process.stderr.write(summaryText(summary) + "\n");
  if (json) process.stdout.write(JSON.stringify(summary) + "\n");
  return summary.entered * 2 >= summary.bots ? 0 : 1;
}

main().then(
  (code) => {
    process.exitCode = code;
    // worker threads and sockets are closed; anything left must not keep us alive
    setTimeout(() => process.exit(code), 200).unref();
  },
  (err: unknown) => {
    if (isRiftError(err)) {
      process.stderr.write(`loadbot: ${err.toLine()}\n`);
      process.exit(err.def.exit ?? 1);
    }
    process.stderr.write(`loadbot: RIFT_INTERNAL: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);

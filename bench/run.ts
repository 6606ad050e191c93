/**
 * `npm run bench -- <name> [options]` runs one benchmark; without a name it lists them.
 * The table below is the whole registry (no folder scanning). Each benchmark prints a human
 * report on stderr and, with --json, one JSON object on stdout; exit 0 on success.
 */
import { CommanderError } from "commander";
import { chatFanout } from "./chat-fanout/main.js";
import { fieldLoad } from "./field-load/main.js";
import { resharding } from "./resharding/main.js";

interface Benchmark {
  summary: string;
  run(argv: string[]): Promise<number>;
}

const BENCHMARKS: Record<string, Benchmark> = {
  "field-load": {
    summary: "field server capacity through the gateway (tick p99, latency p99 per bot step), raw ws decode rate, gateway forwarding rate",
    run: fieldLoad,
  },
  "chat-fanout": {
    summary: "world chat to many connected bots: delivered msgs/s grouped vs naive per-recipient fan-out, field tick p99 with/without the chat storm",
    run: chatFanout,
  },
  resharding: {
    summary: "fraction of users moved when growing 2→3→4→8 shards: modulo-N, modulo-2^N, mapping table (vs the minimum)",
    run: resharding,
  },
};

function list(): void {
  process.stdout.write("benchmarks (npm run bench -- <name> [--json] [--help]):\n");
  for (const [name, b] of Object.entries(BENCHMARKS)) process.stdout.write(`  ${name.padEnd(12)} ${b.summary}\n`);
}

async function main(): Promise<number> {
  const [name, ...rest] = process.argv.slice(2);
  if (!name || name === "--help" || name === "-h" || name === "list") {
    list();
    return 0;
  }
  const b = BENCHMARKS[name];
  if (!b) {
    process.stderr.write(`bench: RIFT_USAGE: unknown benchmark '${name}'\n`);
    list();
    return 2;
  }
  return b.run(rest);
}

main().then(
  (code) => {
    process.exitCode = code;
    setTimeout(() => process.exit(code), 500).unref();
  },
  (err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(err instanceof CommanderError ? 2 : 1); // usage errors: 2

  },
);

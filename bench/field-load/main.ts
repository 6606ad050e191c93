/**
 * `npm run bench -- field-load [--json] [--max N] [--steps a,b,c] [--step-sec S]
 *                              [--gateways 1|2] [--infra-dir DIR] [--only raw,gateway,field,link]`
 *
 * One run measures on THIS machine (bots and servers share its cores):
 *
 * 1. raw      — a bare ws server process msgpack-decoding frames that a worker thread offers
 *               at `--flood-rate` over `--conns` connections: the receive + decode rate,
 *               per CPU-second of the receiving process.
 * 2. gateway  — the real gateway process between the same flood (SDK clients that logged
 *               in, rate limit lifted) and a fake game server that only counts the `in` ops
 *               it receives: forwarding rate per CPU-second, and its ratio to (1).
 * 3. field    — one field server (2 IO workers) + `--gateways` gateways, load bots stepped
 *               through `--steps` (each: ramp, settle, measure `--step-sec`): per step the
 *               tick duration p99 (field histogram, difference of two scrapes), the bots'
 *               input → observation latency p99, messages/s, CPU and event-loop delay per
 *               process; and the largest CCU with tick p99 ≤ 50 ms and latency p99 ≤ 100 ms
 *               (DESIGN §7).
 * 4. link     — opt-in (`--only …,link`): the field server alone, driven over the link
 *               protocol by an in-process driver (`--link-steps`): its own capacity, beyond
 *               what the machine can drive through gateways and bots.
 *
 * Infrastructure: a private `infraUp` (profile test, 1 shard) in a fresh /tmp run dir, torn
 * down at the end — or a running one reused with `--infra-dir` (left running; this run's
 * ZooKeeper root and database are removed). Every process is stopped by PID at the end,
 * also on Ctrl-C / SIGTERM. Human table on stderr, one JSON object on stdout with --json.
 */
import { availableParallelism, cpus, loadavg } from "node:os";
import { Command, CommanderError, InvalidArgumentError } from "commander";
import { AccountPool, benchInfra, runScope } from "../lib/cluster.js";
import { log, Run, WORLD, ZONE, type Args, type FieldLoadResult } from "./context.js";
import { report } from "./report.js";
import { measureField, measureLink } from "./steps.js";
import { measureThroughput } from "./throughput.js";

function int(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError("expected a positive integer");
  return n;
}
function pos(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError("expected a positive number");
  return n;
}

const PHASES = ["raw", "gateway", "field", "link"];

function phases(list: string): Set<string> {
  const out = new Set(list.split(",").map((x) => x.trim()).filter(Boolean));
  for (const p of out) if (!PHASES.includes(p)) throw new InvalidArgumentError(`--only: unknown phase '${p}' (expected ${PHASES.join(", ")})`);
  return out;
}

export function defaultSteps(max: number): number[] {
  const base = [200, 500, 1000, 1500, 2000, 2500, 3000];
  const out = base.filter((s) => s < max);
  for (let s = 3500; s < max; s += 500) out.push(s);
  out.push(max);
  return out;
}

function parseArgs(argv: string[]): Args {
  const p = new Command()
    .name("bench field-load")
    .option("--json", "one JSON object on stdout")
    .option("--infra-dir <dir>", "reuse a running infra (npm run infra -- up --profile test --run-dir DIR)")
    .option("--max <n>", "largest bot count", int, 3000)
    .option("--steps <list>", "bot counts to step through, comma-separated (default 200,500,1000,1500,2000,… up to --max)")
    .option("--step-sec <s>", "measurement window per step", pos, 8)
    .option("--settle-sec <s>", "minimum wait after a step's bots are in (then until 2 s in a row are within the latency bound, at most 10 s more)", pos, 2)
    .option("--ramp-per-sec <n>", "new bots per second when stepping up", pos, 250)
    .option("--gateways <n>", "gateways in front of the field server (1 or 2)", int, 1)
    .option("--conns <n>", "connections of the raw / gateway flood", int, 256)
    .option("--flood-rate <n>", "messages per second offered in the raw / gateway measurements", int, 40_000)
    .option("--flood-sec <s>", "one measurement window of the raw / gateway flood", pos, 3)
    .option("--flood-rounds <n>", "alternating raw / gateway windows (the best steady one of each counts)", int, 3)
    .option("--only <list>", "phases to run: raw, gateway, field, link (the field server alone; not in the default)", "raw,gateway,field")
    .option("--budget-sec <s>", "start no new step once the run would exceed this", pos, 170)
    .option("--retries <n>", "re-measure a failing step window this many times", (v) => Number(v), 1)
    .option("--link-steps <list>", "user counts of the opt-in `link` phase (--only ...,link)", "2000,4000,6000,8000")
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  try {
    p.parse(argv, { from: "user" });
  } catch (e) {
    if (e instanceof CommanderError && (e.code === "commander.helpDisplayed" || e.code === "commander.help")) process.exit(0);
    throw e;
  }
  const o = p.opts<{ json?: boolean; infraDir?: string; max: number; steps?: string; stepSec: number; settleSec: number; rampPerSec: number; gateways: number; conns: number; floodRate: number; floodSec: number; floodRounds: number; only: string; budgetSec: number; retries: number; linkSteps: string }>();
  const steps = o.steps ? o.steps.split(",").map((s) => int(s.trim())) : defaultSteps(o.max);
  if (o.gateways > 2) throw new InvalidArgumentError("--gateways must be 1 or 2");
  return {
    json: o.json === true,
    infraDir: o.infraDir,
    max: Math.max(...steps),
    steps: [...new Set(steps)].sort((a, b) => a - b),
    stepSec: o.stepSec,
    settleSec: o.settleSec,
    rampPerSec: o.rampPerSec,
    gateways: o.gateways,
    conns: o.conns,
    floodRate: o.floodRate,
    floodSec: o.floodSec,
    floodRounds: o.floodRounds,
    only: phases(o.only),
    budgetSec: o.budgetSec,
    retries: Number.isInteger(o.retries) && o.retries >= 0 ? o.retries : 1,
    linkSteps: [...new Set(o.linkSteps.split(",").map((x) => int(x.trim())))].sort((x, y) => x - y),
  };
}

export async function fieldLoad(argv: string[]): Promise<number> {
  const a = parseArgs(argv);
  const started = performance.now();
  const run = new Run();
  const onSignal = () => {
    log("interrupted: stopping everything");
    run.abort.abort();
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  const emergency = () => run.procs.killAllSync();
  process.once("exit", emergency);
  const result: FieldLoadResult = {
    bench: "field-load",
    machine: {
      cores: availableParallelism(),
      cpu: cpus()[0]?.model ?? "?",
      node: process.version,
      note: "bots, servers and databases all on this machine",
      loadAvgAtStart: loadavg().map((v) => Math.round(v * 100) / 100),
      loadAvgAtEnd: [],
    },
    durationSec: 0,
    aborted: false,
  };
  let failed: unknown;
  try {
    const needInfra = a.only.has("gateway") || a.only.has("field") || a.only.has("link");
    if (needInfra) {
      const infraOpts: Parameters<typeof benchInfra>[0] = { log, signal: run.abort.signal };
      if (a.infraDir) infraOpts.infraDir = a.infraDir;
      run.infra = await benchInfra(infraOpts);
      run.scope = await runScope(run.infra.state, "field-load");
      run.accounts = new AccountPool(run.scope, ZONE, WORLD);
    }
    if ((a.only.has("raw") || a.only.has("gateway")) && !run.abort.signal.aborted) Object.assign(result, await measureThroughput(run, a, { raw: a.only.has("raw"), gateway: a.only.has("gateway") }));
    if (a.only.has("field") && !run.abort.signal.aborted) result.field = await measureField(run, a, started);
    if (a.only.has("link") && !run.abort.signal.aborted) result.link = await measureLink(run, a, started);
  } catch (e) {
    failed = e;
  } finally {
    log("stopping bots, servers and infrastructure");
    await run.close();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    process.off("exit", emergency);
  }
  result.aborted = run.abort.signal.aborted;
  result.machine.loadAvgAtEnd = loadavg().map((v) => Math.round(v * 100) / 100);
  result.durationSec = Math.round((performance.now() - started) / 100) / 10;
  if (failed) {
    log(`failed: ${failed instanceof Error ? (failed.stack ?? failed.message) : String(failed)}`);
    return 1;
  }
  process.stderr.write(report(result) + "\n");
  if (a.json) process.stdout.write(JSON.stringify(result) + "\n");
  return result.aborted ? 130 : 0;
}

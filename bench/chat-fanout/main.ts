/**
 * `npm run bench -- chat-fanout [--json] [--bots N] [--rate R] [--posters P] [--window-sec S]
 *                               [--move-ms MS] [--infra-dir DIR]`
 *
 * World chat to many connected bots (issue #8), on THIS machine (bots, servers and databases
 * share its cores). One run, the same bots throughout:
 *
 * 1. baseline — N load bots walking in z1 (the DESIGN §7 workload), no chat: field tick p99.
 * 2. grouped  — P poster clients send R world messages/s in total through the gateway; the
 *               chat server runs `chat.fanout: grouped` (one op per channel per gateway per
 *               50 ms flush, the gateway encodes nothing and sends one frame per recipient
 *               per flush): messages delivered to clients per second (gateway counter and the
 *               bots' own count), client frames/s, field tick p99, CPU per process.
 * 3. naive    — the same storm, with the chat server restarted as `chat.fanout: naive` (one
 *               op and one client frame per message per recipient: what a server does that
 *               sends each recipient its own copy). Same measurements.
 *
 * The offered load is R × N deliveries/s. Human report on stderr, one JSON object on stdout
 * with --json. Every process is stopped by PID at the end (also on Ctrl-C).
 */
import { availableParallelism, cpus, loadavg } from "node:os";
import { Command, CommanderError, InvalidArgumentError } from "commander";
import { RiftClient } from "../../src/client/rift-client.js";
import { LoadController } from "../../src/tools/loadbot/controller.js";
import { resolveOptions } from "../../src/tools/loadbot/options.js";
import { AccountPool, benchInfra, runScope, type BenchInfra, type RunScope } from "../lib/cluster.js";
import { cpuSeconds } from "../lib/cpu.js";
import { k, ms, table } from "../lib/format.js";
import { ProcessSet, type RoleProcess } from "../lib/procs.js";
import { bucketQuantile, histogramDelta, scrape, type Scrape } from "../lib/prom.js";

const ZONE = "z1";
const WORLD = 1000;
const log = (line: string) => process.stderr.write(`[bench] ${line}\n`);
const sleep = (msec: number) => new Promise((r) => setTimeout(r, msec));

interface Args {
  json: boolean;
  infraDir: string | undefined;
  bots: number;
  rate: number;
  posters: number;
  windowSec: number;
  moveMs: number;
  /** Bots started per second. */
  ramp: number;
}

export interface PhaseResult {
  phase: "baseline" | "grouped" | "naive";
  durationSec: number;
  botsOnline: number;
  /** Chat messages handed to client send queues per second (gateway counter: messages × recipients). */
  deliveredMsgsPerSec: number;
  /** Chat messages the bots decoded per second. */
  botsReceivedMsgsPerSec: number;
  /** Chat frames handed to client send queues per second. */
  clientFramesPerSec: number;
  /** Posts the gateway forwarded to the chat server per second. */
  postsPerSec: number;
  tickP99Ms: number;
  tickMeanMs: number;
  /** Bot input → observed latency p99 (ms). */
  moveLatencyP99Ms: number;
  /** Gateway CPU seconds per million chat messages delivered (fan-out cost). */
  gatewayCpuSecPerMillionMsgs: number;
  /** CPU cores used per process during the window. */
  cpu: Record<string, number>;
  /** False when the gateway was too busy to answer /metrics (then: delivered = what the bots decoded, closes = bot errors). */
  gatewayAnsweredMetrics: boolean;
  /** Client connections closed by the gateway during the window, by catalog key. */
  closes: Record<string, number>;
  /** Bot failures during the window, by error key. */
  botErrors: Record<string, number>;
}

export interface ChatFanoutResult {
  bench: "chat-fanout";
  machine: { cores: number; cpu: string; node: string; loadAvgAtEnd: number[] };
  bots: number;
  posters: number;
  offeredMsgsPerSec: number;
  /** rate × bots: deliveries per second if every message reached every bot. */
  offeredDeliveriesPerSec: number;
  phases: PhaseResult[];
  /** delivered msgs/s grouped ÷ naive (same run, same bots). */
  groupedOverNaive: number;
  /** gateway CPU per delivered message, naive ÷ grouped. */
  gatewayCostNaiveOverGrouped: number;
  durationSec: number;
}

function int(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError("expected a positive integer");
  return n;
}

function parseArgs(argv: string[]): Args {
  const p = new Command()
    .name("bench chat-fanout")
    .option("--json", "one JSON object on stdout")
    .option("--infra-dir <dir>", "reuse a running infra (npm run infra -- up --profile test --run-dir DIR)")
    .option("--bots <n>", "connected load bots (walking, receiving world chat)", int, 1000)
    .option("--rate <n>", "world chat messages per second offered, in total", int, 100)
    .option("--posters <n>", "poster clients sending the storm", int, 10)
    .option("--window-sec <s>", "measurement window per phase", int, 8)
    .option("--move-ms <ms>", "input period of each bot (DESIGN §7: 100)", int, 100)
    .option("--ramp <n>", "bots started per second (lower it when thousands of log-ins time out on a small machine)", int, 250)
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  try {
    p.parse(argv, { from: "user" });
  } catch (e) {
    if (e instanceof CommanderError && (e.code === "commander.helpDisplayed" || e.code === "commander.help")) process.exit(0);
    throw e;
  }
  const o = p.opts<{ json?: boolean; infraDir?: string; bots: number; rate: number; posters: number; windowSec: number; moveMs: number; ramp: number }>();
  return { json: o.json === true, infraDir: o.infraDir, bots: o.bots, rate: o.rate, posters: o.posters, windowSec: o.windowSec, moveMs: o.moveMs, ramp: o.ramp };
}

const sumOf = (s: Scrape, name: string, labels: Record<string, string> = {}) => s.sum(name, labels);

function closesBetween(a: Scrape, b: Scrape): Record<string, number> {
  const out: Record<string, number> = {};
  for (const key of ["SEND_QUEUE_FULL", "RATE_LIMITED", "client", "SERVER_GONE", "INTERNAL"]) {
    const n = sumOf(b, "rift_gateway_closes_total", { key }) - sumOf(a, "rift_gateway_closes_total", { key });
    if (n > 0) out[key] = n;
  }
  return out;
}

export async function chatFanout(argv: string[]): Promise<number> {
  const a = parseArgs(argv);
  const started = performance.now();
  const procs = new ProcessSet();
  let infra: BenchInfra | undefined;
  let scope: RunScope | undefined;
  let accounts: AccountPool | undefined;
  let ctl: LoadController | undefined;
  const posters: RiftClient[] = [];
  let storm: NodeJS.Timeout | undefined;
  const emergency = () => procs.killAllSync();
  process.once("exit", emergency);
  const result: ChatFanoutResult = {
    bench: "chat-fanout",
    machine: { cores: availableParallelism(), cpu: cpus()[0]?.model ?? "?", node: process.version, loadAvgAtEnd: [] },
    bots: a.bots,
    posters: a.posters,
    offeredMsgsPerSec: a.rate,
    offeredDeliveriesPerSec: a.rate * a.bots,
    phases: [],
    groupedOverNaive: 0,
    gatewayCostNaiveOverGrouped: 0,
    durationSec: 0,
  };
  let failed: unknown;
  try {
    infra = await benchInfra({ log, ...(a.infraDir ? { infraDir: a.infraDir } : {}) });
    scope = await runScope(infra.state, "chat-fanout");
    accounts = new AccountPool(scope, ZONE, WORLD);
    log(`provisioning ${a.bots + a.posters} accounts`);
    const creds = await accounts.ensure(a.bots + a.posters);
    const env = { ...scope.env, RIFT__OPS__PORT: "0", RIFT__LOG__LEVEL: "info", RIFT__FIELD__ZONES: `[${ZONE}]` };
    await procs.startRole("bench-coord", "coordinator", { ...env, RIFT__NODE__ID: "bench-coord" }, /^coordinator listening$/);
    const field = await procs.startRole("bench-field", "field", { ...env, RIFT__NODE__ID: "bench-field", RIFT__FIELD__LINKPORT: "0", RIFT__FIELD__IOWORKERS: "2" }, /^field server listening$/);
    const startChat = (mode: "grouped" | "naive") =>
      procs.startRole(`bench-chat-${mode}`, "chat", { ...env, RIFT__NODE__ID: `bench-chat-${mode}`, RIFT__CHAT__LINKPORT: "0", RIFT__CHAT__FANOUT: mode }, /^chat server listening$/);
    let chat: RoleProcess = await startChat("grouped");
    const gw = await procs.startRole("bench-gw", "gateway", {
      ...env,
      RIFT__NODE__ID: "bench-gw",
      RIFT__GATEWAY__PORT: "0",
      RIFT__GATEWAY__HANDSHAKETIMEOUTMS: "30000",
      RIFT__CHAT__RATELIMIT__MESSAGESPERSEC: "1000",
      RIFT__CHAT__RATELIMIT__BURST: "1000",
    }, /^gateway listening$/);
    const url = `ws://127.0.0.1:${Number(gw.ready.port)}`;
    const metricsOf = (p: RoleProcess) => `http://127.0.0.1:${Number(p.ready.opsPort)}/metrics`;

    // posters first: once thousands of bots log in, a new connection's handshake can time out
    for (const c of creds.slice(a.bots)) {
      const p = await RiftClient.connect(url, { clientName: "bench-poster" });
      await p.hello();
      await p.login(c.name, c.password);
      await p.waitForEnter();
      posters.push(p);
    }
    log(`${a.bots} bots → ${url}`);
    const opts = resolveOptions({ bots: a.bots, durationSec: 3600, gateways: [url], workers: Math.min(2, availableParallelism()), accounts: creds.slice(0, a.bots), seed: 7, moveIntervalMs: a.moveMs, requestTimeoutMs: 60_000 });
    ctl = await LoadController.start(opts, (m) => log(m));
    ctl.setTarget(a.bots, a.bots / a.ramp);
    const deadline = performance.now() + 120_000 + (a.bots / a.ramp) * 1000;
    for (let i = 0; ; i++) {
      const c = await ctl.collect();
      if (i % 5 === 0) log(`bots online ${c.online}/${a.bots} (starting ${c.starting}, failures before entering ${c.failedBeforeEnter}, restarted ${c.retries})`);
      if (c.online >= a.bots * 0.98) break;
      if (performance.now() > deadline) {
        if (c.online < a.bots * 0.8) throw new Error(`only ${c.online}/${a.bots} bots online`);
        log(`going on with ${c.online}/${a.bots} bots online`);
        break;
      }
      await sleep(1000);
    }
    log(`bots and ${posters.length} posters online; settling`);
    await sleep(3000);

    let seq = 0;
    const stormOn = () => {
      // post what is owed by the clock every 20 ms (a busy process's timers drift; the rate must not)
      const t0 = performance.now();
      let posted = 0;
      storm = setInterval(() => {
        const owed = Math.floor(((performance.now() - t0) / 1000) * a.rate);
        while (posted < owed) {
          posted++;
          posters[seq % posters.length]!.chat("world", `storm message ${seq++} with some ordinary chat text`);
        }
      }, 20);
    };
    const stormOff = () => {
      clearInterval(storm);
      storm = undefined;
    };

    const measure = async (phase: PhaseResult["phase"]): Promise<PhaseResult> => {
      const roles = { field, gateway: gw, chat };
      // an overloaded gateway may not answer its /metrics in time: then the bots' own count stands
      const gwScrape = () => scrape(metricsOf(gw), 20_000).catch(() => undefined);
      const [f0, g0] = await Promise.all([scrape(metricsOf(field), 20_000), gwScrape()]);
      const cpu0 = Object.fromEntries(Object.entries(roles).map(([n, p]) => [n, cpuSeconds(p.pid)]));
      const self0 = process.cpuUsage();
      const win = ctl!.openWindow();
      const t0 = performance.now();
      while (performance.now() - t0 < a.windowSec * 1000) {
        await sleep(1000);
        await ctl!.collect();
      }
      const [w, f1, g1] = await Promise.all([win.close(), scrape(metricsOf(field), 20_000), gwScrape()]);
      const dt = (performance.now() - t0) / 1000;
      const cpu: Record<string, number> = {};
      for (const [n, p] of Object.entries(roles)) cpu[n] = Math.round(((cpuSeconds(p.pid) - cpu0[n]!) / dt) * 100) / 100;
      const su = process.cpuUsage(self0);
      cpu["bots+posters"] = Math.round(((su.user + su.system) / 1e6 / dt) * 100) / 100;
      const tick = histogramDelta(f0, f1, "rift_field_tick_duration_seconds");
      const gwOk = g0 !== undefined && g1 !== undefined;
      const rate = (name: string) => (gwOk ? Math.round((sumOf(g1, name) - sumOf(g0, name)) / dt) : -1);
      const r: PhaseResult = {
        phase,
        durationSec: Math.round(dt * 10) / 10,
        botsOnline: w.onlineMin,
        deliveredMsgsPerSec: gwOk ? rate("rift_gateway_chat_messages_out_total") : Math.round(w.chatInPerSec ?? 0),
        gatewayAnsweredMetrics: gwOk,
        botsReceivedMsgsPerSec: Math.round(w.chatInPerSec ?? 0),
        clientFramesPerSec: rate("rift_gateway_chat_client_frames_total"),
        postsPerSec: rate("rift_gateway_chat_posts_total"),
        tickP99Ms: Math.round(bucketQuantile(tick, 0.99) * 10000) / 10,
        tickMeanMs: tick.count > 0 ? Math.round((tick.sum / tick.count) * 10000) / 10 : 0,
        moveLatencyP99Ms: w.latencyMs.p99,
        gatewayCpuSecPerMillionMsgs: 0,
        cpu,
        closes: gwOk ? closesBetween(g0, g1) : { ...w.errors },
        botErrors: w.errors,
      };
      const delivered = r.deliveredMsgsPerSec;
      r.gatewayCpuSecPerMillionMsgs = delivered > 0 ? Math.round(((cpu.gateway ?? 0) / delivered) * 1e6 * 100) / 100 : 0;
      log(`${phase}: delivered ${k(r.deliveredMsgsPerSec)} msgs/s (bots decoded ${k(r.botsReceivedMsgsPerSec)}/s) in ${k(r.clientFramesPerSec)} frames/s, tick p99 ${ms(r.tickP99Ms)} ms, closes ${JSON.stringify(r.closes)}`);
      return r;
    };

    result.phases.push(await measure("baseline"));
    stormOn();
    await sleep(2000);
    result.phases.push(await measure("grouped"));
    stormOff();

    log("restarting the chat server with chat.fanout: naive");
    await chat.stop();
    chat = await startChat("naive");
    const chatMetrics = metricsOf(chat);
    const until = performance.now() + 60_000;
    const online = (await ctl.collect()).online;
    for (;;) {
      const members = (await scrape(chatMetrics, 20_000)).sum("rift_chat_members");
      if (members >= online) break;
      if (performance.now() > until) {
        const tail = (p: RoleProcess) => `--- ${p.name} (pid ${p.pid}, ${p.lines.length} lines) ---\n${p.lines.slice(-15).join("\n")}`;
        throw new Error(`the bots did not re-join on the naive chat server within 60 s (${members} memberships, ${online} bots online)\n${tail(gw)}\n${tail(chat)}`);
      }
      await sleep(500);
    }
    await sleep(2000);
    stormOn();
    await sleep(2000);
    result.phases.push(await measure("naive"));
    stormOff();
    const g = result.phases.find((p) => p.phase === "grouped")!;
    const n = result.phases.find((p) => p.phase === "naive")!;
    result.groupedOverNaive = n.deliveredMsgsPerSec > 0 ? Math.round((g.deliveredMsgsPerSec / n.deliveredMsgsPerSec) * 100) / 100 : 0;
    result.gatewayCostNaiveOverGrouped = g.gatewayCpuSecPerMillionMsgs > 0 ? Math.round((n.gatewayCpuSecPerMillionMsgs / g.gatewayCpuSecPerMillionMsgs) * 100) / 100 : 0;
  } catch (e) {
    failed = e;
  } finally {
    if (storm) clearInterval(storm);
    log("stopping bots, servers and infrastructure");
    for (const p of posters) await p.close().catch(() => undefined);
    await ctl?.stop().catch(() => undefined);
    await procs.stopAll((p) => (p.name.includes("-gw") ? 0 : 1));
    await accounts?.close().catch(() => undefined);
    await scope?.dispose().catch(() => undefined);
    await infra?.stop().catch((e: unknown) => log(`infra down: ${String(e)}`));
    process.off("exit", emergency);
  }
  result.machine.loadAvgAtEnd = loadavg().map((v) => Math.round(v * 100) / 100);
  result.durationSec = Math.round((performance.now() - started) / 100) / 10;
  if (failed) {
    log(`failed: ${failed instanceof Error ? (failed.stack ?? failed.message) : String(failed)}`);
    return 1;
  }
  process.stderr.write(
    table(
      ["phase", "delivered msg/s", "bots got msg/s", "client frames/s", "gw cpu-s/M msgs", "tick p99 ms", "move lat p99 ms", "cpu field/gw/chat/bots", "closes"],
      result.phases.map((p) => [
        p.phase,
        k(p.deliveredMsgsPerSec),
        k(p.botsReceivedMsgsPerSec),
        k(p.clientFramesPerSec),
        String(p.gatewayCpuSecPerMillionMsgs),
        ms(p.tickP99Ms),
        ms(p.moveLatencyP99Ms),
        `${p.cpu.field}/${p.cpu.gateway}/${p.cpu.chat}/${p.cpu["bots+posters"]}`,
        JSON.stringify(p.closes),
      ]),
    ) + `\noffered ${a.rate} msgs/s to ${a.bots} bots (${k(result.offeredDeliveriesPerSec)} deliveries/s); grouped/naive delivered = ${result.groupedOverNaive}; gateway cost per message naive/grouped = ${result.gatewayCostNaiveOverGrouped}\n`,
  );
  if (a.json) process.stdout.write(JSON.stringify(result) + "\n");
  return 0;
}

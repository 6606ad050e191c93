/**
 * Phases `raw` and `gateway`: the machine's ws receive + msgpack decode rate (a bare server
 * process) and the gateway's forwarding rate (the real gateway process between flooding
 * clients and a counting fake game server), at the same offered rate and connection count,
 * normalised per CPU-second of the receiving process.
 *
 * Noise control on a shared machine: both set-ups stay up and their windows alternate
 * (raw, gateway, gateway, raw, raw, gateway…: `--flood-rounds` each, one flood at a time);
 * each side keeps its best window among those that really received the offered rate
 * (within 10%) — interference only ever makes a window worse.
 */
import { cpuSeconds } from "../lib/cpu.js";
import { Flooder } from "../lib/flood.js";
import { k } from "../lib/format.js";
import { LinkSink } from "../lib/link-sink.js";
import { scrape } from "../lib/prom.js";
import { log, sleep, ZONE, type Args, type FieldLoadResult, type Run, type Throughput } from "./context.js";

interface Side {
  name: "raw" | "gateway";
  flood: Flooder;
  /** Stops this side's flood and processes. */
  stop(): Promise<void>;
  pid: number;
  count: () => Promise<number> | number;
  windows: (Throughput & { steady: boolean })[];
}

async function window(side: Side, a: Args, signal: AbortSignal): Promise<void> {
  side.flood.go();
  await sleep(1000, signal); // warm-up: JIT, socket buffers, the other side's flood drained
  const [c0, cpu0, t0] = [await side.count(), cpuSeconds(side.pid), performance.now()];
  await sleep(a.floodSec * 1000, signal);
  const [c1, cpu1, t1] = [await side.count(), cpuSeconds(side.pid), performance.now()];
  side.flood.pause();
  const dt = (t1 - t0) / 1000;
  const cpu = cpu1 - cpu0;
  const msgsPerSec = Math.round((c1 - c0) / dt);
  const w = {
    msgsPerSec,
    cpuCores: Math.round((cpu / dt) * 100) / 100,
    msgsPerCpuSec: cpu > 0 ? Math.round((c1 - c0) / cpu) : 0,
    steady: Math.abs(msgsPerSec - a.floodRate) <= 0.1 * a.floodRate,
  };
  side.windows.push(w);
  log(`  ${side.name}: ${k(w.msgsPerSec)} msgs/s using ${w.cpuCores} cores = ${k(w.msgsPerCpuSec)} msgs/s per core${w.steady ? "" : " (offered rate not reached: machine busy?)"}`);
}

function best(side: Side): Throughput & { steady: boolean } {
  const pool = side.windows.some((w) => w.steady) ? side.windows.filter((w) => w.steady) : side.windows;
  return pool.reduce((b, w) => (w.msgsPerCpuSec > b.msgsPerCpuSec ? w : b), pool[0] ?? { msgsPerSec: 0, cpuCores: 0, msgsPerCpuSec: 0, steady: false });
}

async function rawSide(run: Run, a: Args): Promise<Side> {
  const server = await run.procs.start("bench-raw", "bench/lib/raw-server-main.ts", [], {}, /^raw server listening$/);
  const base = `http://127.0.0.1:${Number(server.ready.port)}`;
  const flood = await Flooder.start({ mode: "raw", url: base.replace("http:", "ws:"), conns: a.conns, ratePerSec: a.floodRate });
  run.defer(() => flood.stop());
  const count = async () => ((await (await fetch(`${base}/count`)).json()) as { received: number }).received;
  return { name: "raw", flood, pid: server.pid, count, windows: [], stop: async () => void (await flood.stop(), await server.stop()) };
}

async function gatewaySide(run: Run, a: Args): Promise<Side & { opsPort: number }> {
  const scope = run.scope!;
  const root = `${scope.zkRoot}/gateway-flood`;
  const sink = await new LinkSink({ id: "bench-sink", zones: [ZONE], zkConnect: run.infra!.state.zookeeper.connect, root }).start();
  run.defer(() => sink.stop());
  await run.procs.startRole("bench-coord-flood", "coordinator", { ...scope.env, RIFT__CLUSTER__ZOOKEEPER__ROOT: root, RIFT__NODE__ID: "bench-coord-flood", RIFT__OPS__PORT: "0", RIFT__LOG__LEVEL: "info" }, /^coordinator listening$/);
  const gw = await run.procs.startRole("bench-gw-flood", "gateway", {
    ...scope.env,
    RIFT__CLUSTER__ZOOKEEPER__ROOT: root,
    RIFT__NODE__ID: "bench-gw-flood",
    RIFT__GATEWAY__PORT: "0",
    RIFT__OPS__PORT: "0",
    RIFT__FIELD__ZONES: `[${ZONE}]`,
    // the per-connection rate limit would cap the flood at 60 msgs/s per client
    RIFT__GATEWAY__RATELIMIT__MESSAGESPERSEC: "100000000",
    RIFT__GATEWAY__RATELIMIT__BURST: "100000000",
    RIFT__LOG__LEVEL: "info",
  }, /^gateway listening$/);
  const accounts = await run.accounts!.ensure(a.conns);
  const flood = await Flooder.start({ mode: "gateway", url: `ws://127.0.0.1:${Number(gw.ready.port)}`, conns: a.conns, ratePerSec: a.floodRate, accounts });
  run.defer(() => flood.stop());
  const stop = async () => {
    await flood.stop();
    await gw.stop();
    await sink.stop();
  };
  return { name: "gateway", flood, pid: gw.pid, count: () => sink.inOps, windows: [], opsPort: Number(gw.ready.opsPort), stop };
}

export async function measureThroughput(run: Run, a: Args, sides: { raw: boolean; gateway: boolean }): Promise<Pick<FieldLoadResult, "raw" | "gateway">> {
  const signal = run.abort.signal;
  log(`raw vs gateway: ${a.floodRate} msgs/s offered on ${a.conns} connections, ${a.floodRounds} alternating ${a.floodSec}s windows each`);
  const raw = sides.raw ? await rawSide(run, a) : undefined;
  const gw = sides.gateway ? await gatewaySide(run, a) : undefined;
  for (let r = 0; r < a.floodRounds && !signal.aborted; r++) {
    // alternate which side goes first, so neither always gets the freshest machine
    for (const side of r % 2 === 0 ? [raw, gw] : [gw, raw]) if (side && !signal.aborted) await window(side, a, signal);
  }
  const out: Pick<FieldLoadResult, "raw" | "gateway"> = {};
  const common = { conns: a.conns, seconds: a.floodSec, offeredPerSec: a.floodRate };
  if (raw) out.raw = { ...common, ...best(raw), windows: raw.windows };
  if (gw) {
    const m = await scrape(`http://127.0.0.1:${gw.opsPort}/metrics`).catch(() => undefined);
    const b = best(gw);
    const ratio = out.raw && out.raw.msgsPerCpuSec > 0 ? Math.round((b.msgsPerCpuSec / out.raw.msgsPerCpuSec) * 1000) / 1000 : null;
    out.gateway = { ...common, ...b, windows: gw.windows, ratioToRaw: ratio, inputsDropped: m?.sum("rift_gateway_inputs_dropped_total") ?? -1 };
  }
  await raw?.stop();
  await gw?.stop();
  return out;
}

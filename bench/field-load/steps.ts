/**
 * Phases `field` (bots → gateway(s) → one field server, stepped bot counts) and `link` (the
 * field server alone, driven over the link protocol): per step the tick-duration histogram
 * difference, latency, rates, CPU and event-loop delay per process, pass/fail.
 */
import { availableParallelism } from "node:os";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { LoadController, type WindowStats } from "../../src/tools/loadbot/controller.js";
import { resolveOptions } from "../../src/tools/loadbot/options.js";
import { progressLine } from "../../src/tools/loadbot/stats.js";
import { cpuSeconds, selfCpuSeconds } from "../lib/cpu.js";
import { ms } from "../lib/format.js";
import { LinkDriver } from "../lib/link-driver.js";
import type { RoleProcess } from "../lib/procs.js";
import { bucketQuantile, fractionAtOrBelow, histogramDelta, scrape, type Scrape } from "../lib/prom.js";
import { LAG, LATENCY_BOUND_MS, LINK_EXTRA_BUDGET_SEC, log, SETTLE_MAX_SEC, sleep, TICK_BOUND_MS, WORLD, ZONE, type Args, type FieldLoadResult, type Run, type StepResult } from "./context.js";

function cpuOf(procs: RoleProcess[]): Record<string, number> {
  const out: Record<string, number> = { bots: selfCpuSeconds() };
  for (const p of procs) out[p.name] = cpuSeconds(p.pid);
  return out;
}

export function evaluate(n: number, w: WindowStats, f0: Scrape, f1: Scrape, g0: Scrape[], g1: Scrape[], cpu0: Record<string, number>, cpu1: Record<string, number>): StepResult {
  const dt = (f1.at - f0.at) / 1000;
  const tick = histogramDelta(f0, f1, "rift_field_tick_duration_seconds");
  const consume = histogramDelta(f0, f1, "rift_field_packet_queue_consume_seconds");
  const flush = histogramDelta(f0, f1, "rift_field_flush_duration_seconds");
  const tickP99Ms = bucketQuantile(tick, 0.99) * 1000;
  const within = fractionAtOrBelow(tick, TICK_BOUND_MS / 1000);
  const gwSum = (name: string, s: Scrape[]) => s.reduce((acc, x) => acc + x.sum(name), 0);
  const cpu: Record<string, number> = {};
  for (const key of Object.keys(cpu1)) cpu[key] = Math.round(((cpu1[key]! - (cpu0[key] ?? 0)) / dt) * 100) / 100;
  const latency = w.latencyMs;
  const reasons: string[] = [];
  if (within < 0.99) reasons.push(`tick p99 > ${TICK_BOUND_MS} ms`);
  if (latency.samples === 0) reasons.push("no latency samples");
  else if (latency.p99 > LATENCY_BOUND_MS) reasons.push(`latency p99 > ${LATENCY_BOUND_MS} ms`);
  if (w.onlineMin < 0.95 * n) reasons.push(`only ${w.onlineMin}/${n} bots online`);
  return {
    target: n,
    ccu: w.onlineMin,
    fieldCcu: f1.sum("rift_field_ccu"),
    tickP99Ms: Math.round(tickP99Ms * 10) / 10,
    tickMeanMs: tick.count > 0 ? Math.round((tick.sum / tick.count) * 10000) / 10 : 0,
    ticksWithinBound: Math.round(within * 10000) / 10000,
    ticksPerSec: Math.round((tick.count / dt) * 10) / 10,
    ticksSkipped: f1.sum("rift_field_ticks_skipped_total") - f0.sum("rift_field_ticks_skipped_total"),
    consumeMeanMs: consume.count > 0 ? Math.round((consume.sum / consume.count) * 10000) / 10 : 0,
    flushRowsPerSec: Math.round((f1.sum("rift_field_flush_rows_total") - f0.sum("rift_field_flush_rows_total")) / dt),
    flushMeanMs: flush.count > 0 ? Math.round((flush.sum / flush.count) * 10000) / 10 : 0,
    flushP99Ms: Math.round(bucketQuantile(flush, 0.99) * 10000) / 10,
    latencyMs: latency,
    botMovesPerSec: Math.round(w.sentPerSec),
    botFramesInPerSec: Math.round(w.framesInPerSec),
    fieldMovesPerSec: Math.round((f1.sum("rift_field_inbound_messages_total", { type: "move" }) - f0.sum("rift_field_inbound_messages_total", { type: "move" })) / dt),
    gatewayFramesOutPerSec: Math.round((gwSum("rift_gateway_frames_out_total", g1) - gwSum("rift_gateway_frames_out_total", g0)) / dt),
    inputsDropped: gwSum("rift_gateway_inputs_dropped_total", g1) - gwSum("rift_gateway_inputs_dropped_total", g0) + (f1.sum("rift_field_packets_dropped_total") - f0.sum("rift_field_packets_dropped_total")),
    cpu,
    loopDelayP99Ms: {
      bots: w.botLoopDelayP99Ms,
      field: Math.round(f1.sum(LAG) * 10000) / 10,
      gateway: Math.round(Math.max(0, ...g1.map((g) => g.sum(LAG))) * 10000) / 10,
    },
    errors: w.errors,
    pass: reasons.length === 0,
    why: reasons.join("; ") || "ok",
    attempts: 1,
  };
}

export async function measureField(run: Run, a: Args, startedAt: number): Promise<NonNullable<FieldLoadResult["field"]>> {
  const scope = run.scope!;
  const signal = run.abort.signal;
  log(`field: provisioning ${a.max} bot accounts at random positions`);
  const t0 = performance.now();
  const accounts = await run.accounts!.ensure(a.max);
  log(`field: accounts ready in ${((performance.now() - t0) / 1000).toFixed(1)}s`);
  await run.procs.startRole("bench-coord", "coordinator", { ...scope.env, RIFT__NODE__ID: "bench-coord", RIFT__OPS__PORT: "0", RIFT__LOG__LEVEL: "info" }, /^coordinator listening$/);
  const field = await run.procs.startRole("bench-field", "field", {
    ...scope.env,
    RIFT__NODE__ID: "bench-field",
    RIFT__OPS__PORT: "0",
    RIFT__FIELD__LINKPORT: "0",
    RIFT__FIELD__IOWORKERS: "2",
    RIFT__FIELD__ZONES: `[${ZONE}]`,
    RIFT__LOG__LEVEL: "info",
  }, /^field server listening$/);
  const gws: RoleProcess[] = [];
  for (let g = 1; g <= a.gateways; g++) {
    gws.push(
      await run.procs.startRole(`bench-gw${g}`, "gateway", {
        ...scope.env,
        RIFT__NODE__ID: `bench-gw${g}`,
        RIFT__GATEWAY__PORT: "0",
        RIFT__OPS__PORT: "0",
        RIFT__FIELD__ZONES: `[${ZONE}]`,
        // logins queue behind each other while thousands of bots arrive on 2 cores
        RIFT__GATEWAY__HANDSHAKETIMEOUTMS: "30000",
        RIFT__LOG__LEVEL: "info",
      }, /^gateway listening$/),
    );
  }
  const fieldMetrics = `http://127.0.0.1:${Number(field.ready.opsPort)}/metrics`;
  const gwMetrics = gws.map((g) => `http://127.0.0.1:${Number(g.ready.opsPort)}/metrics`);
  const urls = gws.map((g) => `ws://127.0.0.1:${Number(g.ready.port)}`);
  log(`field: field server ${field.pid} (2 IO workers), gateways ${urls.join(" ")}`);
  const opts = resolveOptions({ bots: a.max, durationSec: 3600, gateways: urls, workers: Math.min(2, availableParallelism()), accounts, seed: 42 });
  run.controller = await LoadController.start(opts, (m) => log(m));
  const ctl = run.controller;
  const steps: StepResult[] = [];
  let prev = 0;
  for (const n of a.steps) {
    if (signal.aborted) break;
    const ramp = (n - prev) / a.rampPerSec;
    const elapsed = (performance.now() - startedAt) / 1000;
    if (steps.length > 0 && elapsed + ramp + a.settleSec + a.stepSec + 8 > a.budgetSec) {
      log(`step ${n}: skipped, the run would exceed --budget-sec ${a.budgetSec}`);
      break;
    }
    log(`step ${n}: ramping ${n - prev} bots over ${ramp.toFixed(1)}s`);
    ctl.setTarget(n, ramp);
    const deadline = performance.now() + (ramp + 60) * 1000;
    for (;;) {
      await sleep(1000, signal);
      const p = await ctl.collect();
      process.stderr.write(progressLine(p) + "\n");
      // every bot of the step has started and finished logging in (entered or failed)
      if (signal.aborted || (p.startedTotal >= n && p.starting === 0) || performance.now() > deadline) break;
    }
    // settle: at least --settle-sec, then until two seconds in a row are within the latency
    // bound (the login/attach burst of the ramp has drained), at most SETTLE_MAX_SEC more
    const settleEnd = performance.now() + (a.settleSec + SETTLE_MAX_SEC) * 1000;
    let calm = 0;
    for (let t = 0; !signal.aborted && performance.now() < settleEnd; t++) {
      await sleep(1000, signal);
      const p = await ctl.collect();
      process.stderr.write(progressLine(p) + "\n");
      calm = p.p99 <= LATENCY_BOUND_MS ? calm + 1 : 0;
      if (t + 1 >= a.settleSec && calm >= 2) break;
    }
    if (signal.aborted) break;
    const procs = [field, ...gws];
    const measure = async (): Promise<StepResult> => {
      const [f0, ...g0] = await Promise.all([scrape(fieldMetrics), ...gwMetrics.map((u) => scrape(u))]);
      const cpu0 = cpuOf(procs);
      const win = ctl.openWindow();
      const end = performance.now() + a.stepSec * 1000;
      while (performance.now() < end && !signal.aborted) {
        await sleep(Math.min(1000, end - performance.now()), signal);
        process.stderr.write(progressLine(await ctl.collect()) + "\n");
      }
      const [w, f1, ...g1] = await Promise.all([win.close(), scrape(fieldMetrics), ...gwMetrics.map((u) => scrape(u))]);
      return evaluate(n, w, f0!, f1, g0, g1, cpu0, cpuOf(procs));
    };
    let r = await measure();
    r.attempts = 1;
    // a failing window is measured again (same bots): a transient burst of other work on a
    // shared machine should not decide the capacity; the better window counts
    while (!r.pass && r.attempts <= a.retries && !signal.aborted && r.ccu >= 0.95 * n) {
      log(`step ${n}: FAIL (${r.why}); measuring again`);
      const again = await measure();
      again.attempts = r.attempts + 1;
      r = again.pass || again.latencyMs.p99 < r.latencyMs.p99 ? again : { ...r, attempts: again.attempts };
    }
    steps.push(r);
    log(`step ${n}: ccu ${r.ccu}, tick p99 ${ms(r.tickP99Ms)} ms, latency p99 ${ms(r.latencyMs.p99)} ms, ${r.botMovesPerSec} moves/s → ${r.pass ? "PASS" : `FAIL (${r.why})`}`);
    prev = n;
    if (!r.pass) break; // beyond the first failing step the numbers only get worse
  }
  // leave the machine quiet for what follows: bots, then gateways, then the field server
  await ctl.stop();
  run.controller = undefined;
  for (const g of gws) await g.stop();
  await field.stop();
  const maxCcu = Math.max(0, ...steps.filter((s) => s.pass).map((s) => s.ccu));
  return { gateways: a.gateways, ioWorkers: 2, steps, maxCcu, criteria: { tickP99Ms: TICK_BOUND_MS, latencyP99Ms: LATENCY_BOUND_MS } };
}

/**
 * Phase "link": the field server alone, driven over the link protocol by a LinkDriver in
 * this process (no gateways, no client sockets): its own capacity, beyond what this machine
 * can drive through gateways and bots.
 */
export async function measureLink(run: Run, a: Args, startedAt: number): Promise<NonNullable<FieldLoadResult["link"]>> {
  const scope = run.scope!;
  const signal = run.abort.signal;
  const root = `${scope.zkRoot}/link`;
  await run.procs.startRole("bench-coord-link", "coordinator", { ...scope.env, RIFT__CLUSTER__ZOOKEEPER__ROOT: root, RIFT__NODE__ID: "bench-coord-link", RIFT__OPS__PORT: "0", RIFT__LOG__LEVEL: "info" }, /^coordinator listening$/);
  const field = await run.procs.startRole("bench-field-link", "field", {
    ...scope.env,
    RIFT__CLUSTER__ZOOKEEPER__ROOT: root,
    RIFT__NODE__ID: "bench-field-link",
    RIFT__OPS__PORT: "0",
    RIFT__FIELD__LINKPORT: "0",
    RIFT__FIELD__IOWORKERS: "2",
    RIFT__FIELD__ZONES: `[${ZONE}]`,
    RIFT__LOG__LEVEL: "info",
  }, /^field server listening$/);
  const fieldMetrics = `http://127.0.0.1:${Number(field.ready.opsPort)}/metrics`;
  const driver = new LinkDriver({ ports: field.ready.linkPorts as number[], gatewayId: "bench-link", zone: ZONE, worldSize: WORLD, moveIntervalMs: 100, maxStep: 5, seed: 42, attachConcurrency: 128 });
  run.defer(() => driver.close());
  await driver.connect();
  const lag = monitorEventLoopDelay({ resolution: 10 });
  lag.enable();
  const steps: StepResult[] = [];
  for (const n of a.linkSteps) {
    if (signal.aborted) break;
    if (steps.length > 0 && (performance.now() - startedAt) / 1000 + a.settleSec + a.stepSec + 15 > a.budgetSec + LINK_EXTRA_BUDGET_SEC) {
      log(`link ${n}: skipped, the run would exceed its time budget`);
      break;
    }
    log(`link ${n}: provisioning player rows and attaching ${n - driver.online} users over the link`);
    const ids = await run.accounts!.ensurePlayers(n);
    await driver.attach(ids.slice(driver.online));
    const settleEnd = performance.now() + (a.settleSec + SETTLE_MAX_SEC) * 1000;
    let calm = 0;
    for (let t = 0; !signal.aborted && performance.now() < settleEnd; t++) {
      driver.latency.reset();
      await sleep(1000, signal);
      calm = driver.latency.percentile(99) <= LATENCY_BOUND_MS ? calm + 1 : 0;
      if (t + 1 >= a.settleSec && calm >= 2) break;
    }
    if (signal.aborted) break;
    const f0 = await scrape(fieldMetrics);
    const cpu0 = cpuOf([field]);
    const [sent0, ticks0] = [driver.sent, driver.ticks];
    driver.latency.reset();
    lag.reset();
    const errors0 = { ...driver.errors };
    const online0 = driver.online;
    await sleep(a.stepSec * 1000, signal);
    const f1 = await scrape(fieldMetrics);
    const cpu1 = cpuOf([field]);
    const dt = (f1.at - f0.at) / 1000;
    const errors: Record<string, number> = {};
    for (const [key, v] of Object.entries(driver.errors)) if (v - (errors0[key] ?? 0) > 0) errors[key] = v - (errors0[key] ?? 0);
    const w: WindowStats = {
      durationSec: dt,
      sentPerSec: (driver.sent - sent0) / dt,
      framesInPerSec: (driver.ticks - ticks0) / dt,
      bytesInPerSec: 0,
      latencyMs: driver.latency.summary(),
      errors,
      onlineMin: Math.min(online0, driver.online),
      onlineMax: Math.max(online0, driver.online),
      botLoopDelayP99Ms: Math.round((lag.percentile(99) / 1e6) * 10) / 10,
    };
    const r = evaluate(n, w, f0, f1, [], [], cpu0, cpu1);
    steps.push(r);
    log(`link ${n}: ccu ${r.ccu}, tick p99 ${ms(r.tickP99Ms)} ms, link latency p99 ${ms(r.latencyMs.p99)} ms, field ${r.cpu["bench-field-link"]} cores → ${r.pass ? "PASS" : `FAIL (${r.why})`}`);
    if (!r.pass) break;
  }
  lag.disable();
  await driver.close();
  await field.stop();
  const maxCcu = Math.max(0, ...steps.filter((s) => s.pass).map((s) => s.ccu));
  return { ioWorkers: 2, steps, maxCcu, criteria: { tickP99Ms: TICK_BOUND_MS, latencyP99Ms: LATENCY_BOUND_MS } };
}


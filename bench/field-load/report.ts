/** The human report of a field-load run (stderr). */
import { k, ms, table } from "../lib/format.js";
import { LATENCY_BOUND_MS, TICK_BOUND_MS, type FieldLoadResult, type StepResult } from "./context.js";

function stepTable(steps: StepResult[], what: string): string {
  return table(
    [what, "ccu", "tick p99", "tick mean", "≤50ms", "lat p50", "lat p99", "lat p999", "moves/s", "frames/s in", "cpu field", "cpu gw", "cpu bots", "lag field", "lag gw", "lag bots", "flush rows/s", "errors", "result"],
    steps.map((s) => [
      s.target,
      s.ccu,
      ms(s.tickP99Ms),
      ms(s.tickMeanMs),
      `${(s.ticksWithinBound * 100).toFixed(1)}%`,
      ms(s.latencyMs.p50),
      ms(s.latencyMs.p99),
      ms(s.latencyMs.p999),
      k(s.botMovesPerSec),
      k(s.botFramesInPerSec),
      (Object.entries(s.cpu).find(([n]) => n.startsWith("bench-field"))?.[1] ?? NaN).toFixed(2),
      Object.entries(s.cpu)
        .filter(([n]) => n.startsWith("bench-gw"))
        .reduce((acc, [, v]) => acc + v, 0)
        .toFixed(2),
      s.cpu.bots?.toFixed(2) ?? "-",
      ms(s.loopDelayP99Ms.field),
      ms(s.loopDelayP99Ms.gateway),
      ms(s.loopDelayP99Ms.bots),
      k(s.flushRowsPerSec),
      Object.values(s.errors).reduce((x, y) => x + y, 0),
      s.pass ? "ok" : s.why,
    ]),
  );
}

export function report(r: FieldLoadResult): string {
  const out: string[] = [];
  out.push(`field-load on ${r.machine.cores} cores (${r.machine.cpu}), node ${r.machine.node}; ${r.machine.note}; load average at start ${r.machine.loadAvgAtStart[0]}`);
  if ((r.machine.loadAvgAtStart[0] ?? 0) > 0.5) out.push(`WARNING: the machine was not idle when the run started (load average ${r.machine.loadAvgAtStart[0]}): other work competes for the same cores`);
  if (r.raw) out.push(`raw ws receive + msgpack decode: ${k(r.raw.msgsPerSec)} msgs/s using ${r.raw.cpuCores} cores → ${k(r.raw.msgsPerCpuSec)} msgs/s per core (${r.raw.conns} connections)`);
  if (r.gateway) {
    out.push(`gateway forwarding:             ${k(r.gateway.msgsPerSec)} msgs/s using ${r.gateway.cpuCores} cores → ${k(r.gateway.msgsPerCpuSec)} msgs/s per core; inputs dropped ${r.gateway.inputsDropped}`);
    if (r.gateway.ratioToRaw !== null) out.push(`ratio gateway/raw (per core): ${(r.gateway.ratioToRaw * 100).toFixed(0)}% (target ≥ 50%, DESIGN §7)`);
    if (!r.gateway.steady || r.raw?.steady === false) out.push("WARNING: a flood did not reach its offered rate (busy machine); the per-core figures are less reliable");
  }
  if (r.field) {
    out.push("", "through the gateway (bots → gateway → field server):");
    out.push(stepTable(r.field.steps, "bots"));
    out.push(`max CCU with tick p99 ≤ ${TICK_BOUND_MS} ms and latency p99 ≤ ${LATENCY_BOUND_MS} ms: ${r.field.maxCcu} (target ≥ 1800, DESIGN §7)`);
  }
  if (r.link) {
    out.push("", "the field server alone, driven over the link (latency = link input → tick record; 'bots' = the driver thread):");
    out.push(stepTable(r.link.steps, "users"));
    out.push(`max CCU of the field server alone with tick p99 ≤ ${TICK_BOUND_MS} ms and link latency p99 ≤ ${LATENCY_BOUND_MS} ms: ${r.link.maxCcu}`);
  }
  out.push(`(times in ms; cpu = cores used during the window; lag = event-loop delay p99; ${r.durationSec.toFixed(0)}s total${r.aborted ? ", INTERRUPTED" : ""})`);
  return out.join("\n");
}


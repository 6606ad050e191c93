/**
 * Metrics of a scene host (field or dungeon server), registered on the process registry.
 * Names are `<prefix><name>`, prefix e.g. `rift_field_`; docs/OPERATIONS.md documents each.
 */
import { Counter, Gauge, Histogram, LATENCY_BUCKETS, type Registry } from "../metrics.js";

/** Byte buckets for send-queue sizes: 0 .. 64 MiB. */
export const BYTE_BUCKETS = [0, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864];

export interface SceneMetrics {
  queueLength: Gauge<string>;
  queueConsume: Histogram<string>;
  tickDuration: Histogram<string>;
  ticksSkipped: Counter<string>;
  inbound: Counter<"type">;
  dropped: Counter<"reason">;
  handlerErrors: Counter<"type">;
  sendQueueBytes: Gauge<"gateway">;
  sendQueueHist: Histogram<string>;
  links: Gauge<string>;
  badFrames: Counter<"code">;
  badMessages: Counter<"code">;
  framesOut: Counter<string>;
  bytesOut: Counter<string>;
  ccu: Gauge<"zone">;
  attaches: Counter<"result">;
  kicks: Counter<"key">;
  handovers: Counter<"reason">;
  flushDuration: Histogram<string>;
  flushRows: Counter<string>;
  flushFailures: Counter<string>;
  flushRejected: Counter<string>;
}

export function createSceneMetrics(reg: Registry, prefix: string, flushLagMs: () => number, backlog: () => number): SceneMetrics {
  const r = [reg];
  const n = (s: string) => `${prefix}${s}`;
  new Gauge({
    name: n("flush_lag_seconds"),
    help: "Age of the oldest player state change not yet saved to the database",
    registers: r,
    collect() {
      this.set(flushLagMs() / 1000);
    },
  });
  new Gauge({
    name: n("flush_backlog_users"),
    help: "Users with unsaved state (dirty, final write pending, or in flight)",
    registers: r,
    collect() {
      this.set(backlog());
    },
  });
  return {
    queueLength: new Gauge({ name: n("packet_queue_length"), help: "Client packets waiting in the packet queue (sampled after each tick's drain)", registers: r }),
    queueConsume: new Histogram({ name: n("packet_queue_consume_seconds"), help: "CPU time spent consuming the packet queue in one tick", buckets: LATENCY_BUCKETS, registers: r }),
    tickDuration: new Histogram({ name: n("tick_duration_seconds"), help: "Duration of one logic tick (consume + rules + change lists + hand-off to IO)", buckets: LATENCY_BUCKETS, registers: r }),
    ticksSkipped: new Counter({ name: n("ticks_skipped_total"), help: "Tick slots skipped because the loop fell more than one period behind", registers: r }),
    inbound: new Counter({ name: n("inbound_messages_total"), help: "Client messages received from gateways, by type", labelNames: ["type"], registers: r }),
    dropped: new Counter({ name: n("packets_dropped_total"), help: "Client messages dropped, by reason (queue_full, replay, invalid, unknown_user)", labelNames: ["reason"], registers: r }),
    handlerErrors: new Counter({ name: n("handler_errors_total"), help: "Exceptions thrown by a message handler (caught; the loop continues)", labelNames: ["type"], registers: r }),
    sendQueueBytes: new Gauge({ name: n("link_send_queue_bytes"), help: "Bytes buffered on the link to each gateway (ws.bufferedAmount), sampled every tick", labelNames: ["gateway"], registers: r }),
    sendQueueHist: new Histogram({ name: n("link_send_queue_bytes_hist"), help: "Distribution of per-link send-queue sizes sampled every tick", buckets: BYTE_BUCKETS, registers: r }),
    links: new Gauge({ name: n("links"), help: "Open gateway links", registers: r }),
    badFrames: new Counter({ name: n("link_bad_frames_total"), help: "Link frames that closed their link, by error code", labelNames: ["code"], registers: r }),
    badMessages: new Counter({ name: n("link_bad_messages_total"), help: "Client messages inside link frames that failed validation (user kicked), by error code", labelNames: ["code"], registers: r }),
    framesOut: new Counter({ name: n("link_frames_out_total"), help: "Frames sent to gateways", registers: r }),
    bytesOut: new Counter({ name: n("link_bytes_out_total"), help: "Bytes sent to gateways", registers: r }),
    ccu: new Gauge({ name: n("ccu"), help: "Users currently in the world, by zone", labelNames: ["zone"], registers: r }),
    attaches: new Counter({ name: n("attaches_total"), help: "Attach requests by result (ok, transfer, rejected_<code>)", labelNames: ["result"], registers: r }),
    kicks: new Counter({ name: n("kicks_total"), help: "Users kicked by the server, by catalog key", labelNames: ["key"], registers: r }),
    handovers: new Counter({ name: n("handovers_total"), help: "Users handed back to their gateway for re-attachment elsewhere (zone-moved, shutdown, fenced)", labelNames: ["reason"], registers: r }),
    flushDuration: new Histogram({ name: n("flush_duration_seconds"), help: "Duration of one write-behind saveMany batch", buckets: LATENCY_BUCKETS, registers: r }),
    flushRows: new Counter({ name: n("flush_rows_total"), help: "Player rows written by write-behind", registers: r }),
    flushFailures: new Counter({ name: n("flush_failures_total"), help: "Write-behind batches that failed (DB error; retried)", registers: r }),
    flushRejected: new Counter({ name: n("flush_rejected_total"), help: "Player writes rejected by owner-epoch fencing (user kicked with PERSIST_REJECTED)", registers: r }),
  };
}

/**
 * Gateway metrics (docs/OPERATIONS.md). Created once per gateway on the process
 * registry; tests pass a fresh Registry.
 */
import { counter, gauge, histogram, LATENCY_BUCKETS, type Registry } from "../core/metrics.js";

/** Send-queue size buckets in bytes (1 KiB .. 4 MiB). */
export const QUEUE_BYTES_BUCKETS = [0, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304];

export function createGatewayMetrics(reg: Registry) {
  return {
    connections: gauge(reg, "rift_gateway_connections", "Open client WebSocket connections"),
    users: gauge(reg, "rift_gateway_users", "Users routed by this gateway, by route state", ["state"]),
    messagesIn: counter(reg, "rift_gateway_messages_in_total", "Client messages received and accepted by type", ["type"]),
    framesOut: counter(reg, "rift_gateway_frames_out_total", "WebSocket frames sent to clients"),
    bytesOut: counter(reg, "rift_gateway_bytes_out_total", "Bytes sent to clients (frame payloads)"),
    inputsDropped: counter(reg, "rift_gateway_inputs_dropped_total", "Client inputs dropped (before enter, or link full)", ["reason"]),
    sendQueueBytes: histogram(reg, "rift_gateway_send_queue_bytes", "Per-client send-queue size in bytes, sampled at every frame sent", QUEUE_BYTES_BUCKETS),
    closes: counter(reg, "rift_gateway_closes_total", "Client connections closed, by close code and catalog key", ["code", "key"]),
    linkFrames: counter(reg, "rift_gateway_link_frames_total", "Link frames to/from game servers", ["dir"]),
    linkBytes: counter(reg, "rift_gateway_link_bytes_total", "Link bytes to/from game servers", ["dir"]),
    linkInvalidOps: counter(reg, "rift_gateway_link_invalid_ops_total", "Malformed ops received from game servers (dropped)"),
    links: gauge(reg, "rift_gateway_links", "Open links to game-server IO workers"),
    handshakeSeconds: histogram(reg, "rift_gateway_handshake_seconds", "Connection open → session established", LATENCY_BUCKETS),
    loginSeconds: histogram(reg, "rift_gateway_login_seconds", "login/register request → reply (account store + token + zone lookup)", LATENCY_BUCKETS),
    inputLatency: histogram(
      reg,
      "rift_gateway_input_latency_seconds",
      "Input→observed latency: move received from a client → first frame to it showing its own entity at that seq (sampled ≤ 1/s per client)",
      LATENCY_BUCKETS,
    ),
    attachSeconds: histogram(reg, "rift_gateway_attach_seconds", "attach sent → attached received", LATENCY_BUCKETS),
    dungeonReturns: counter(reg, "rift_gateway_dungeon_returns_total", "Users sent back to their home field zone because their dungeon instance was lost (server gone, link lost, not placed)", ["reason"]),
  };
}

export type GatewayMetrics = ReturnType<typeof createGatewayMetrics>;

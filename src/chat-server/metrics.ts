/** Chat-server metrics (docs/CHAT.md §Metrics). */
import { counter, gauge, histogram, LATENCY_BUCKETS, type Registry } from "../core/metrics.js";

export function createChatMetrics(reg: Registry) {
  return {
    links: gauge(reg, "rift_chat_links", "Open gateway links"),
    channels: gauge(reg, "rift_chat_channels", "Channels held in memory (with members or history)"),
    members: gauge(reg, "rift_chat_members", "Channel memberships (user × channel) on this server"),
    posted: counter(reg, "rift_chat_messages_total", "Chat messages accepted and fanned out"),
    rejected: counter(reg, "rift_chat_rejected_total", "Chat posts/joins refused, by catalog code", ["code"]),
    flushSeconds: histogram(reg, "rift_chat_flush_seconds", "Time to build and send one flush (all gateways)", LATENCY_BUCKETS),
    framesOut: counter(reg, "rift_chat_link_frames_out_total", "Frames sent to gateways"),
    bytesOut: counter(reg, "rift_chat_link_bytes_out_total", "Bytes sent to gateways"),
    invalidOps: counter(reg, "rift_chat_link_invalid_ops_total", "Malformed ops from gateways (dropped)"),
  };
}

export type ChatMetrics = ReturnType<typeof createChatMetrics>;

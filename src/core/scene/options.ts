/**
 * Scene-host settings shared by field and dungeon servers, from the `field` config section
 * (tick, packet queue, write-behind, fault isolation, links, movement rules); each role adds
 * its own world set, handlers and ports.
 */
import type { Config } from "../config.js";
import type { IoHostOptions } from "../transport/io-workers.js";
import { checkRules, type FieldRules } from "../../game/rules.js";
import type { SceneHostOptions } from "./scene-host.js";

/** Max ops in one gateway → server frame (gateways batch at most 512). */
const MAX_OPS_PER_FRAME = 4096;
const LINK_HEARTBEAT_MS = 5000;

export function fieldRules(f: Config["field"]): FieldRules {
  return checkRules({ worldSize: f.worldSize, cellSize: f.aoiCellSize, maxSpeed: f.maxSpeed, movesPerSec: f.movesPerSec, burstMoves: f.moveBurst });
}

/** Link settings of a game server's IO units. */
export function sceneLinkUnit(config: Config, nodeId: string, role: "field" | "dungeon"): IoHostOptions["unit"] {
  return {
    host: config.node.host,
    maxFrameBytes: config.field.linkMaxFrameBytes,
    sendQueueMaxBytes: config.field.linkSendQueueMaxBytes,
    maxOpsPerFrame: MAX_OPS_PER_FRAME,
    heartbeatMs: LINK_HEARTBEAT_MS,
    logLevel: config.log.level,
    role,
    nodeId,
  };
}

/** Scene runtime settings shared by field and dungeon servers (the `field` section). */
export function sceneRuntimeOptions(f: Config["field"]): Pick<
  SceneHostOptions,
  "tickHz" | "packetQueueCap" | "flushIntervalMs" | "flushBatchMax" | "maxFlushLagMs" | "maxAttachesInFlight" | "overflow" | "faults"
> {
  return {
    tickHz: f.tickHz,
    packetQueueCap: f.packetQueueCap,
    flushIntervalMs: f.flushIntervalMs,
    flushBatchMax: f.flushBatchMax,
    maxFlushLagMs: f.maxFlushLagMs,
    maxAttachesInFlight: f.maxAttachesInFlight,
    overflow: { maxDrops: f.overflowKickDrops, windowMs: f.overflowWindowMs },
    faults: { maxFaults: f.maxFaults, windowMs: f.faultWindowMs },
  };
}

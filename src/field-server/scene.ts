/**
 * Builds the field server's scene host from the `field` config section (kept out of main.ts
 * so tests can build the same thing in-process with doubles).
 */
import type { Config } from "../core/config.js";
import type { Logger } from "../core/log.js";
import type { Registry } from "../core/metrics.js";
import { SceneHost } from "../core/scene/scene-host.js";
import { createIoHost } from "../core/transport/io-workers.js";
import { DEFAULT_HP, checkRules, type FieldRules } from "../game/rules.js";
import type { PlayerRepository } from "../shard/types.js";
import type { GameLogSink } from "../core/ops/game-log.js";
import { fieldHandlers } from "./handlers.js";

/** Max ops in one gateway → server frame (gateways batch at most 512). */
const MAX_OPS_PER_FRAME = 4096;
const LINK_HEARTBEAT_MS = 5000;

export function fieldRules(f: Config["field"]): FieldRules {
  return checkRules({ worldSize: f.worldSize, cellSize: f.aoiCellSize, maxSpeed: f.maxSpeed, movesPerSec: f.movesPerSec, burstMoves: f.moveBurst });
}

export interface FieldSceneDeps {
  config: Config;
  nodeId: string;
  repo: PlayerRepository;
  registry: Registry;
  log: Logger;
  /** Whether another server hosts a zone (travel target check). */
  zoneExists?: (zone: string) => boolean;
  /** Whether a zone is placed on this server now (coordinator placement). */
  placedHere?: (zone: string) => boolean;
  /** Game log (error traces, transfers). */
  gameLog?: GameLogSink;
}

export function createFieldScene(deps: FieldSceneDeps): SceneHost {
  const { config, log } = deps;
  const f = config.field;
  const io = createIoHost({
    workers: f.ioWorkers,
    basePort: f.linkPort,
    log,
    unit: {
      host: config.node.host,
      maxFrameBytes: f.linkMaxFrameBytes,
      sendQueueMaxBytes: f.linkSendQueueMaxBytes,
      maxOpsPerFrame: MAX_OPS_PER_FRAME,
      heartbeatMs: LINK_HEARTBEAT_MS,
      logLevel: config.log.level,
      role: "field",
      nodeId: deps.nodeId,
    },
  });
  return new SceneHost({
    nodeId: deps.nodeId,
    zones: f.zones,
    rules: fieldRules(f),
    tickHz: f.tickHz,
    packetQueueCap: f.packetQueueCap,
    flushIntervalMs: f.flushIntervalMs,
    flushBatchMax: f.flushBatchMax,
    maxFlushLagMs: f.maxFlushLagMs,
    maxAttachesInFlight: f.maxAttachesInFlight,
    overflow: { maxDrops: f.overflowKickDrops, windowMs: f.overflowWindowMs },
    initialHp: DEFAULT_HP,
    repo: deps.repo,
    io,
    handlers: fieldHandlers,
    registry: deps.registry,
    metricPrefix: "rift_field_",
    log,
    ...(deps.zoneExists ? { zoneExists: deps.zoneExists } : {}),
    ...(deps.placedHere ? { placedHere: deps.placedHere } : {}),
    ...(deps.gameLog ? { gameLog: deps.gameLog } : {}),
    faults: { maxFaults: f.maxFaults, windowMs: f.faultWindowMs },
  });
}

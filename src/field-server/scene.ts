/**
 * Builds the field server's scene host from the `field` config section (kept out of main.ts
 * so tests can build the same thing in-process with doubles). `sceneRuntimeOptions` and
 * `sceneLinkUnit` are the parts dungeon servers share.
 */
import type { Config } from "../core/config.js";
import type { Logger } from "../core/log.js";
import type { Registry } from "../core/metrics.js";
import { SceneHost, type SceneHostOptions } from "../core/scene/scene-host.js";
import type { SceneHandlers, SceneHooks } from "../core/scene/handlers.js";
import { createIoHost, type IoHostOptions } from "../core/transport/io-workers.js";
import { DEFAULT_HP, checkRules, spawnPoint, type FieldRules } from "../game/rules.js";
import type { PlayerRepository } from "../shard/types.js";
import type { GameLogSink } from "../core/ops/game-log.js";
import { parseInstance } from "../core/cluster/instances.js";
import { baseZone } from "../core/cluster/channels.js";
import { fieldHandlers } from "./handlers.js";

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
  /** More handlers (inventory, dungeon entry) and hooks. */
  handlers?: SceneHandlers;
  hooks?: SceneHooks;
}

export function createFieldScene(deps: FieldSceneDeps): SceneHost {
  const { config, log } = deps;
  const f = config.field;
  const rules = fieldRules(f);
  const io = createIoHost({ workers: f.ioWorkers, basePort: f.linkPort, log, unit: sceneLinkUnit(config, deps.nodeId, "field") });
  return new SceneHost({
    ...sceneRuntimeOptions(f),
    nodeId: deps.nodeId,
    zones: f.zones,
    rules,
    initialHp: DEFAULT_HP,
    repo: deps.repo,
    io,
    handlers: { ...fieldHandlers, ...deps.handlers },
    ...(deps.hooks ? { hooks: deps.hooks } : {}),
    // the row of a user whose dungeon went away (crash): take it back at this zone's safe spot
    adopt: (state, channel) => (parseInstance(state.zone)?.home === baseZone(channel) ? { ...state, zone: baseZone(channel), ...spawnPoint(baseZone(channel), rules) } : undefined),
    registry: deps.registry,
    metricPrefix: "rift_field_",
    log,
    ...(deps.zoneExists ? { zoneExists: deps.zoneExists } : {}),
    ...(deps.placedHere ? { placedHere: deps.placedHere } : {}),
    ...(deps.gameLog ? { gameLog: deps.gameLog } : {}),
  });
}

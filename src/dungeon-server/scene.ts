/**
 * Builds the dungeon server's scene host: the same runtime as the field server (IO workers,
 * packet queue, tick loop, write-behind, exception isolation; scene settings from `field`),
 * with the `dungeon` section's map and link settings, instance keys as its worlds, and the
 * dungeon game (runs.ts) as handlers and hooks.
 */
import type { Config } from "../core/config.js";
import type { Logger } from "../core/log.js";
import type { Registry } from "../core/metrics.js";
import { isInstanceKey } from "../core/cluster/instances.js";
import { SceneHost } from "../core/scene/scene-host.js";
import { inventoryHandlers, movementHandlers } from "../core/scene/common-handlers.js";
import { createIoHost } from "../core/transport/io-workers.js";
import type { GameLogSink } from "../core/ops/game-log.js";
import { DEFAULT_HP, spawnPoint } from "../game/rules.js";
import type { SceneHandlers, SceneHooks } from "../core/scene/handlers.js";
import { mergeHooks } from "../core/scene/handlers.js";
import type { ItemRepository } from "../shard/items.js";
import type { PlayerRepository } from "../shard/types.js";
import { fieldRules, sceneLinkUnit, sceneRuntimeOptions } from "../core/scene/options.js";
import { DungeonRuns, type InstanceSource } from "./runs.js";

export interface DungeonSceneDeps {
  config: Config;
  nodeId: string;
  repo: PlayerRepository;
  items: Pick<ItemRepository, "grantReward" | "inventory" | "balance">;
  instances: InstanceSource;
  registry: Registry;
  log: Logger;
  /** Whether an instance key is placed on this server now (coordinator placement). */
  placedHere: (key: string) => boolean;
  gameLog?: GameLogSink;
  /** More handlers (e.g. trades) and hooks, beside the dungeon game's. */
  handlers?: SceneHandlers;
  hooks?: SceneHooks;
}

export function createDungeonScene(deps: DungeonSceneDeps): { scene: SceneHost; runs: DungeonRuns } {
  const { config, log } = deps;
  const d = config.dungeon;
  const field = fieldRules(config.field);
  const rules = { ...field, worldSize: d.worldSize, cellSize: d.aoiCellSize };
  const runs = new DungeonRuns({
    instances: deps.instances,
    items: deps.items,
    safeSpot: (zone) => spawnPoint(zone, field),
    entryTimeoutMs: d.entryTimeoutMs,
    idleMs: d.idleMs,
    log,
    registry: deps.registry,
    ...(deps.gameLog ? { gameLog: deps.gameLog } : {}),
  });
  const io = createIoHost({ workers: d.ioWorkers, basePort: d.linkPort, log, unit: sceneLinkUnit(config, deps.nodeId, "dungeon") });
  const scene = new SceneHost({
    ...sceneRuntimeOptions(config.field),
    nodeId: deps.nodeId,
    zones: [],
    rules,
    initialHp: DEFAULT_HP,
    repo: deps.repo,
    io,
    handlers: { ...movementHandlers, ...inventoryHandlers(deps.items, log), ...deps.handlers, ...runs.handlers }, // runs' move wraps the shared one
    hooks: deps.hooks ? mergeHooks(runs.hooks, deps.hooks) : runs.hooks,
    canHost: isInstanceKey,
    placedHere: deps.placedHere,
    handOverTo: (s) => runs.homeOf(s),
    registry: deps.registry,
    metricPrefix: "rift_dungeon_",
    log,
    ...(deps.gameLog ? { gameLog: deps.gameLog } : {}),
  });
  return { scene, runs };
}

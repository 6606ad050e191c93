/**
 * Builds the field server's scene host from the `field` config section (kept out of main.ts
 * so tests can build the same thing in-process with doubles). The settings dungeon servers
 * share come from core/scene/options.ts.
 */
import type { Config } from "../core/config.js";
import type { Logger } from "../core/log.js";
import type { Registry } from "../core/metrics.js";
import { SceneHost } from "../core/scene/scene-host.js";
import type { SceneHandlers, SceneHooks } from "../core/scene/handlers.js";
import { createIoHost } from "../core/transport/io-workers.js";
import { fieldRules, sceneLinkUnit, sceneRuntimeOptions } from "../core/scene/options.js";
import { DEFAULT_HP, spawnPoint } from "../game/rules.js";
import type { PlayerRepository } from "../shard/types.js";
import type { GameLogSink } from "../core/ops/game-log.js";
import { parseInstance } from "../core/cluster/instances.js";
import { baseZone } from "../core/cluster/channels.js";
import { fieldHandlers } from "./handlers.js";

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

/**
 * What the `shard …` commands work with: the data layer (router over every Patroni scope,
 * shard map) publishing on the cluster's mapping bus, and a UserMover that reaches game
 * servers through their ops API, found in cluster membership. Also used by tests, which
 * drive the same mover in-process.
 */
import type { Config } from "../../core/config.js";
import type { Zk } from "../../core/cluster/zk.js";
import type { Logger } from "../../core/log.js";
import { createDataLayer, type PgDataLayer } from "../../shard/data-layer.js";
import { RedisMappingBus } from "../../shard/mapping-bus.js";
import { UserMover } from "../../shard/mover.js";
import { HttpOwnerControl } from "../../shard/owner-control.js";
import { readMembers } from "./state.js";

export interface ShardTools {
  data: PgDataLayer;
  mover: UserMover;
  close(): Promise<void>;
}

export function openShardTools(opts: { config: Config; zk: Zk; log: Logger; database?: string; batchSize?: number }): ShardTools {
  const { config, zk, log } = opts;
  const bus = new RedisMappingBus({ url: config.cluster.redis.url, keyPrefix: config.cluster.redis.keyPrefix, log });
  const data = createDataLayer({ config, log, bus, client: "opsctl", ...(opts.database ? { database: opts.database } : {}) });
  const owners = new HttpOwnerControl({
    resolve: async (owner) => {
      const m = (await readMembers(zk, config.cluster.zookeeper.root)).members.find((e) => e.info.id === owner);
      return m ? { host: m.info.host, opsPort: m.info.opsPort } : undefined;
    },
  });
  const mover = new UserMover({ router: data.router, shardMap: data.shardMap, globalScope: config.db.globalScope, owners, bus, log, ...(opts.batchSize ? { batchSize: opts.batchSize } : {}) });
  return { data, mover, close: () => data.close() };
}

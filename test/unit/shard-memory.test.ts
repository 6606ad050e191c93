/** The data-layer contract suite against the in-memory double. */
import { createMemoryDataLayer } from "../../src/shard/memory.js";
import { describeShardContract } from "../contract/shard-contract.js";

describeShardContract("in-memory double", async (clock) => {
  const layer = createMemoryDataLayer({ shards: ["shard0", "shard1"], now: () => clock.ms, tokenTtlSec: 3600 });
  return {
    layer,
    shardNames: ["shard0", "shard1"],
    setMapping: async (userId, shard) => layer.shardMap.setMapping(userId, shard),
    close: () => layer.close(),
  };
});

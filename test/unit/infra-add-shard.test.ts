/**
 * Pure rules behind `npm run infra -- add-shard` and `up`'s reuse of a grown infra
 * (src/tools/infra/shards.ts): default name, name checks, state update, reuse decision.
 */
import { describe, expect, test } from "vitest";
import { nextShardName, reuseDecision, shapeOf, shardClusters, shardNameProblem, withAddedCluster } from "../../src/tools/infra/shards.js";
import { InfraStateSchema, type InfraState, type PatroniClusterState } from "../../src/tools/infra/state.js";

const RUN = "/tmp/rift-unit-run";

function cluster(scope: string, base = 25000): PatroniClusterState {
  return {
    scope,
    members: [0, 1].map((i) => ({
      name: `pg${i}`,
      pgPort: base + 2 * i,
      restPort: base + 2 * i + 1,
      pid: 1000 + i,
      dir: `${RUN}/${scope}/pg${i}`,
      dataDir: `${RUN}/${scope}/pg${i}/data`,
      logFile: `${RUN}/${scope}/pg${i}/patroni.log`,
      configFile: `${RUN}/${scope}/pg${i}/patroni.yml`,
    })),
  };
}

function state(scopes: string[], opts: { zk?: number; profile?: "test" | "dev" } = {}): InfraState {
  return {
    runDir: RUN,
    profile: opts.profile ?? "test",
    startedAt: "2026-01-01T00:00:00.000Z",
    zookeeper: {
      connect: "127.0.0.1:21000",
      nodes: Array.from({ length: opts.zk ?? 1 }, (_, i) => ({ id: i + 1, clientPort: 21000 + i, pid: 900 + i, dir: `${RUN}/zookeeper/zk${i + 1}`, logFile: "l", configFile: "c" })),
    },
    redis: { url: "redis://127.0.0.1:22000", port: 22000, pid: 950, dir: `${RUN}/redis`, logFile: "r" },
    patroni: { namespace: "/service", clusters: ["global", ...scopes].map((s, i) => cluster(s, 25000 + 10 * i)) },
  };
}

describe("nextShardName", () => {
  test("shard<k> with k = number of shard clusters", () => {
    expect(nextShardName(state(["shard0"]))).toBe("shard1");
    expect(nextShardName(state(["shard0", "shard1"]))).toBe("shard2");
  });

  test("skips names already used by a cluster or by an entry of the run dir", () => {
    // Two shards, one of them custom-named shard2: k = 2 is taken, so shard3.
    expect(nextShardName(state(["shard0", "shard2"]))).toBe("shard3");
    expect(nextShardName(state(["shard0"]), ["global", "redis", "zookeeper", "shard0", "shard1", "state.json"])).toBe("shard2");
    // A gap (a shard added with a custom name) does not make it reuse a lower number that is free.
    expect(nextShardName(state(["eu", "us"]))).toBe("shard2");
  });

  test("the default name always passes the name check", () => {
    const s = state(["shard0", "shard2"]);
    const taken = ["shard3"];
    const name = nextShardName(s, taken);
    expect(name).toBe("shard4");
    expect(shardNameProblem(name, s, taken)).toBeNull();
  });
});

describe("shardNameProblem", () => {
  const s = state(["shard0"]);

  test("accepts a fresh, well-formed name", () => {
    expect(shardNameProblem("shard1", s)).toBeNull();
    expect(shardNameProblem("eu-west_2", s)).toBeNull();
  });

  test("an existing cluster or run-dir entry: 'exists'", () => {
    expect(shardNameProblem("shard0", s)?.kind).toBe("exists");
    expect(shardNameProblem("shard0", s)?.message).toMatch(/already part of this infra/);
    expect(shardNameProblem("leftover", s, ["leftover"])?.kind).toBe("exists");
  });

  test("reserved or malformed names: 'invalid'", () => {
    for (const bad of ["global", "redis", "zookeeper", "", "Shard1", "1shard", "a/b", "../x", "a b", "x".repeat(33)]) {
      expect(shardNameProblem(bad, s)?.kind, bad).toBe("invalid");
    }
  });
});

describe("withAddedCluster", () => {
  test("appends the cluster as the last shard without changing the input; the result is a valid state", () => {
    const before = state(["shard0"]);
    const copy = structuredClone(before);
    const after = withAddedCluster(before, cluster("shard1", 26000));
    expect(before).toEqual(copy);
    expect(after.patroni.clusters.map((c) => c.scope)).toEqual(["global", "shard0", "shard1"]);
    expect(shardClusters(after).map((c) => c.scope)).toEqual(["shard0", "shard1"]);
    expect(after.zookeeper).toBe(before.zookeeper);
    expect(InfraStateSchema.parse(after)).toEqual(after);
  });

  test("refuses a scope that is already there", () => {
    expect(() => withAddedCluster(state(["shard0"]), cluster("shard0"))).toThrow(/already in the state/);
  });
});

describe("reuseDecision (up on a running infra)", () => {
  const want = (shards: number, zk = 1, profile = "dev") => ({ zk, shards, profile });

  test("same shape: reuse", () => {
    expect(reuseDecision(shapeOf(state(["shard0", "shard1"], { profile: "dev" })), want(2)).reuse).toBe(true);
  });

  test("more shards than requested (added at runtime): reuse, so `npm start` after add-shard keeps the infra", () => {
    const grown = withAddedCluster(state(["shard0", "shard1"], { profile: "dev" }), cluster("shard2"));
    const d = reuseDecision(shapeOf(grown), want(2));
    expect(d.reuse).toBe(true);
    expect(d.reason).toMatch(/3 shards/);
  });

  test("fewer shards, other ZooKeeper size or profile: restart", () => {
    expect(reuseDecision(shapeOf(state(["shard0"], { profile: "dev" })), want(2))).toMatchObject({ reuse: false, reason: expect.stringMatching(/too few shards/) });
    expect(reuseDecision(shapeOf(state(["shard0", "shard1"], { profile: "dev" })), want(2, 3)).reuse).toBe(false);
    expect(reuseDecision(shapeOf(state(["shard0", "shard1"], { profile: "test" })), want(2)).reuse).toBe(false);
  });
});

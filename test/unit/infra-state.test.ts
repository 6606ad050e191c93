import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, test } from "vitest";
import { readState, stateFile, writeState, type InfraState } from "../../src/tools/infra/state.js";

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), "rift-state-test-"));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function sample(runDir: string): InfraState {
  const member = (scope: string, i: number) => ({
    name: `pg${i}`,
    pgPort: 25000 + i,
    restPort: 26000 + i,
    pid: 1000 + i,
    dir: `${runDir}/${scope}/pg${i}`,
    dataDir: `${runDir}/${scope}/pg${i}/data`,
    logFile: `${runDir}/${scope}/pg${i}/patroni.log`,
    configFile: `${runDir}/${scope}/pg${i}/patroni.yml`,
  });
  return {
    runDir,
    profile: "test",
    startedAt: "2026-01-01T00:00:00.000Z",
    zookeeper: {
      connect: "127.0.0.1:21000",
      nodes: [{ id: 1, clientPort: 21000, pid: 900, dir: `${runDir}/zookeeper/zk1`, logFile: "l", configFile: "c" }],
    },
    redis: { url: "redis://127.0.0.1:22000", port: 22000, pid: 950, dir: `${runDir}/redis`, logFile: "r" },
    patroni: {
      namespace: "/service",
      clusters: ["global", "shard0"].map((scope) => ({ scope, members: [member(scope, 0), member(scope, 1)] })),
    },
  };
}

describe("state file", () => {
  test("round trip", () => {
    const dir = tmp();
    const s = sample(dir);
    writeState(dir, s);
    expect(readState(dir)).toEqual(s);
  });

  test("no file: null", () => {
    expect(readState(tmp())).toBeNull();
  });

  test("invalid JSON or shape: an error naming the file and the problem", () => {
    const dir = tmp();
    writeFileSync(stateFile(dir), "{ truncated");
    expect(() => readState(dir)).toThrow(/state\.json: not valid JSON/);
    const bad = sample(dir) as unknown as { redis: { port: unknown } };
    bad.redis.port = "6379";
    writeFileSync(stateFile(dir), JSON.stringify(bad));
    expect(() => readState(dir)).toThrow(/invalid state \(redis\.port: /);
  });
});

describe("opsctl's default target: the local cluster of npm start", () => {
  test("uses state.json's ZooKeeper unless --zk, --config or the env override says otherwise", async () => {
    const { resolveTarget } = await import("../../src/tools/opsctl/context.js");
    const dir = tmp();
    writeState(dir, sample(dir));
    const base = { connectTimeout: 1 };
    expect(resolveTarget(base, {}, dir).connect).toBe("127.0.0.1:21000");
    expect(resolveTarget({ ...base, zk: "10.0.0.1:2181" }, {}, dir).connect).toBe("10.0.0.1:2181");
    expect(resolveTarget(base, { RIFT__CLUSTER__ZOOKEEPER__CONNECT: "10.0.0.2:2181" }, dir).connect).toBe("10.0.0.2:2181");
    expect(resolveTarget(base, {}, tmp()).connect).toBe("127.0.0.1:2181"); // no state: the config
    writeFileSync(stateFile(dir), "{ broken");
    expect(resolveTarget(base, {}, dir).connect).toBe("127.0.0.1:2181"); // unreadable: the config
  });
});

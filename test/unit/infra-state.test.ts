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

/**
 * Vitest globalSetup of the `infra` project: one shared infrastructure per test run.
 *
 * - Default: starts ZooKeeper (1 node), Redis, the `global` cluster and 2 shard clusters with
 *   profile `test` in its own run dir `<tmp>/rift-test-<vitest pid>`, and tears it all down
 *   at the end (also when tests fail). A failed start tears down what it started and fails
 *   the run with the component's log tail (printed by the launcher).
 * - RIFT_TEST_INFRA_DIR=<run dir of a running `npm run infra -- up --profile test`>: reuses
 *   that infra (must be healthy) and leaves it running.
 * Tests read the state with `inject('infra')` (typed in ./provided.ts) — see ./infra.ts.
 *
 * Leak guards: run dirs of earlier runs whose vitest process is gone (killed before its
 * teardown) are torn down first; an exit handler SIGKILLs this run's infra if the teardown
 * never ran.
 */
import { existsSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { formatStatusLines, infraDown, infraKillSync, infraStatus, infraUp, readState } from "../../src/tools/infra/infra.js";
import { isAlive } from "../../src/tools/infra/proc.js";
import { MARKER_FILE } from "../../src/tools/infra/state.js";
import "./provided.js";

const log = (line: string) => process.stderr.write(`[infra] ${line}\n`);

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | void> {
  const external = process.env.RIFT_TEST_INFRA_DIR;
  if (external) {
    const state = readState(external);
    if (!state) throw new Error(`RIFT_TEST_INFRA_DIR=${external}: no state.json (start it with: npm run infra -- up --profile test --run-dir ${external})`);
    const st = await infraStatus(external);
    if (st.some((s) => !s.healthy)) throw new Error(`RIFT_TEST_INFRA_DIR=${external} is unhealthy:\n${formatStatusLines(st).join("\n")}`);
    log(`reusing running infra in ${external} (started ${state.startedAt})`);
    project.provide("infra", state);
    return;
  }

  await reapOrphanedRuns();
  const runDir = join(tmpdir(), `rift-test-${process.pid}`);
  const t0 = Date.now();
  const state = await infraUp({ runDir, shards: 2, zk: 1, profile: "test", log });
  log(`test infra ready in ${((Date.now() - t0) / 1000).toFixed(1)}s (${runDir})`);
  const emergency = () => {
    infraKillSync(runDir);
  };
  process.once("exit", emergency);
  project.provide("infra", state);
  return async () => {
    process.off("exit", emergency);
    await infraDown(runDir, { log });
  };
}

/** Tears down `<tmp>/rift-test-<pid>` dirs whose vitest process no longer exists. */
async function reapOrphanedRuns(): Promise<void> {
  const tmp = tmpdir();
  for (const name of readdirSync(tmp)) {
    const m = /^rift-test-(\d+)$/.exec(name);
    if (!m || isAlive(Number(m[1]))) continue;
    const dir = join(tmp, name);
    if (!existsSync(join(dir, MARKER_FILE))) continue;
    log(`tearing down orphaned test infra ${dir}`);
    await infraDown(dir, { log }).catch((e: unknown) => log(`could not tear down ${dir}: ${String(e)}`));
  }
}

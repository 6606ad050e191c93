/**
 * Two projects share one set of defaults:
 * - `unit`  — test/unit/**: pure code, no infrastructure, starts in about a second.
 * - `infra` — every other test (contract, integration, fault, e2e). Its globalSetup
 *   (test/helpers/global-setup.ts) starts ZooKeeper, Redis and the Patroni clusters once per
 *   run (or reuses RIFT_TEST_INFRA_DIR) and hands the state to tests via inject('infra').
 * Vitest initialises a project's globalSetup only when that project has files to run, so
 * `vitest run test/unit` never starts infrastructure.
 */
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    pool: "forks",
    // Two test files at a time (vitest's default is cores − 1 = 1 here): most files spend their
    // time waiting on real processes (Patroni failovers, ZooKeeper timeouts, tsx start-up), so
    // two overlap well on 2 cores (measured: 7.7 min instead of 12). Tests wait on conditions
    // with deadlines, never on wall-clock speed, so an overlap only slows them down.
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    teardownTimeout: 60_000,
    projects: [
      { extends: true, test: { name: "unit", include: ["test/unit/**/*.test.ts"] } },
      {
        extends: true,
        test: {
          name: "infra",
          include: ["test/**/*.test.ts"],
          exclude: ["test/unit/**", "**/node_modules/**"],
          globalSetup: ["test/helpers/global-setup.ts"],
        },
      },
    ],
  },
});

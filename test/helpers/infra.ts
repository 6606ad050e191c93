/**
 * Access to the shared test infrastructure from inside tests (worker processes).
 *
 *   const infra = getInfra();           // InfraState: endpoints, PIDs, dirs
 *   infra.zookeeper.connect             // "127.0.0.1:p"
 *   infra.redis.url                     // "redis://127.0.0.1:p"
 *   infra.patroni.clusters[0]           // scope "global"; then shard0, shard1
 *
 * The shared infra must never be broken by a test (other tests run against it in parallel);
 * fault tests start private instances with the building blocks in src/tools/infra/infra.ts.
 */
import { inject } from "vitest";
import { loadConfig, type Config } from "../../src/core/config.js";
import type { InfraState } from "./provided.js";

export function getInfra(): InfraState {
  const infra = inject("infra");
  if (!infra) throw new Error("no shared infra: this test must run in the vitest 'infra' project (see vitest.config.ts)");
  return infra;
}

export type { InfraState };

/** A configuration pointing the data layer at the shared infra (global + shard scopes) with its own database. */
export function infraTestConfig(infra: InfraState, database: string, poolSize: number): Config {
  const scopes = infra.patroni.clusters.map((c) => c.scope);
  return loadConfig({
    env: {},
    overrides: {
      cluster: { zookeeper: { connect: infra.zookeeper.connect } },
      db: { patroniNamespace: infra.patroni.namespace, globalScope: scopes[0], shardScopes: scopes.slice(1), database, poolSize },
      auth: { tokenSecret: "infra-test-secret-0123456789abcdef", tokenTtlSec: 3600 },
    },
  });
}

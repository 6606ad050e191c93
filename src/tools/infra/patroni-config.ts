/**
 * Patroni member configuration (pure): profiles and the rendering of one member's
 * patroni.yml. The recipe and the reasons behind each setting: /work/shared/PATRONI.md.
 */
import { join } from "node:path";
import { stringify } from "yaml";

export const PG_BIN_DIR = "/usr/lib/postgresql/15/bin";

export type Profile = "test" | "dev";

/** DCS timings per profile: failover after ~ttl seconds. ttl must stay ≤ 20 × ZooKeeper tickTime. */
export const PROFILES: Record<Profile, { ttl: number; loop_wait: number; retry_timeout: number }> = {
  test: { ttl: 5, loop_wait: 1, retry_timeout: 2 },
  dev: { ttl: 10, loop_wait: 1, retry_timeout: 4 },
};

export interface PatroniConfigInput {
  scope: string;
  name: string;
  /** e.g. "/service" */
  namespace: string;
  zkHosts: string[];
  restPort: number;
  pgPort: number;
  memberDir: string;
  profile: Profile;
}

/** Renders one member's patroni.yml (pure). */
export function renderPatroniConfig(i: PatroniConfigInput): string {
  const p = PROFILES[i.profile];
  const doc = {
    scope: i.scope,
    namespace: `${i.namespace.replace(/\/+$/, "")}/`,
    name: i.name,
    restapi: { listen: `127.0.0.1:${i.restPort}`, connect_address: `127.0.0.1:${i.restPort}` },
    zookeeper: { hosts: i.zkHosts },
    bootstrap: {
      // Read only when the cluster is first bootstrapped; later changes: patronictl edit-config.
      dcs: {
        ttl: p.ttl,
        loop_wait: p.loop_wait,
        retry_timeout: p.retry_timeout,
        maximum_lag_on_failover: 1048576,
        synchronous_mode: true,
        postgresql: {
          use_pg_rewind: true,
          use_slots: true,
          // Cluster-wide parameters must live here, not under postgresql.parameters.
          parameters: { max_prepared_transactions: 64, max_connections: 100 },
        },
      },
      initdb: [{ encoding: "UTF8" }, { locale: "C.UTF-8" }, { auth: "trust" }],
      pg_hba: ["local all all trust", "host all all 127.0.0.1/32 trust", "host replication all 127.0.0.1/32 trust"],
    },
    postgresql: {
      listen: `127.0.0.1:${i.pgPort}`,
      connect_address: `127.0.0.1:${i.pgPort}`,
      use_unix_socket: true,
      data_dir: join(i.memberDir, "data"),
      bin_dir: PG_BIN_DIR,
      pgpass: join(i.memberDir, "pgpass"),
      authentication: { superuser: { username: "postgres" }, replication: { username: "replicator" } },
      // Without an immediate checkpoint pg_basebackup waits ~5 s for a spread one on an idle primary.
      basebackup: [{ checkpoint: "fast" }],
      parameters: {
        unix_socket_directories: join(i.memberDir, "sock"),
        // A new standby's first stream attempt fails until the leader has created its
        // replication slot (next Patroni loop); retry after 0.5 s instead of the default 5 s.
        wal_retrieve_retry_interval: "500ms",
      },
    },
  };
  return stringify(doc);
}


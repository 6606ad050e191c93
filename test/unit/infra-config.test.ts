import { describe, expect, test } from "vitest";
import { parse } from "yaml";
import { PROFILES, renderPatroniConfig } from "../../src/tools/infra/patroni-config.js";
import { redisArgs } from "../../src/tools/infra/redis.js";
import { parseMode, renderZooCfg } from "../../src/tools/infra/zookeeper.js";

describe("zoo.cfg", () => {
  test("standalone: tickTime 500, loopback only, no admin server, srvr allowed, no server lines", () => {
    const cfg = renderZooCfg({ dataDir: "/run/zk1/data", clientPort: 21000 });
    const kv = Object.fromEntries(cfg.trim().split("\n").map((l) => l.split("=", 2) as [string, string]));
    expect(kv).toMatchObject({
      tickTime: "500",
      dataDir: "/run/zk1/data",
      clientPort: "21000",
      clientPortAddress: "127.0.0.1",
      "admin.enableServer": "false",
    });
    expect(kv["4lw.commands.whitelist"]?.split(",")).toContain("srvr");
    expect(cfg).not.toMatch(/^server\./m);
  });

  test("ensemble: one server line per member with its quorum ports", () => {
    const servers = [
      { id: 1, peerPort: 22001, electionPort: 23001 },
      { id: 2, peerPort: 22002, electionPort: 23002 },
      { id: 3, peerPort: 22003, electionPort: 23003 },
    ];
    const cfg = renderZooCfg({ dataDir: "/d", clientPort: 21002, servers });
    expect(cfg.match(/^server\.\d+=.*$/gm)).toEqual([
      "server.1=127.0.0.1:22001:23001",
      "server.2=127.0.0.1:22002:23002",
      "server.3=127.0.0.1:22003:23003",
    ]);
  });

  test("srvr reply parsing", () => {
    expect(parseMode("Zookeeper version: 3.8.0\nLatency min/avg/max: 0/0.0/0\nMode: follower\nNode count: 5\n")).toBe("follower");
    expect(parseMode("This ZooKeeper instance is not currently serving requests\n")).toBeNull();
  });
});

describe("patroni.yml", () => {
  const input = {
    scope: "shard1",
    name: "pg0",
    namespace: "/service",
    zkHosts: ["127.0.0.1:21001", "127.0.0.1:21002"],
    restPort: 28008,
    pgPort: 25432,
    memberDir: "/run/shard1/pg0",
    profile: "test" as const,
  };

  test("identity, endpoints and DCS", () => {
    const doc = parse(renderPatroniConfig(input));
    expect(doc).toMatchObject({
      scope: "shard1",
      name: "pg0",
      namespace: "/service/",
      restapi: { listen: "127.0.0.1:28008", connect_address: "127.0.0.1:28008" },
      zookeeper: { hosts: ["127.0.0.1:21001", "127.0.0.1:21002"] },
      postgresql: {
        listen: "127.0.0.1:25432",
        connect_address: "127.0.0.1:25432",
        data_dir: "/run/shard1/pg0/data",
        bin_dir: "/usr/lib/postgresql/15/bin",
        pgpass: "/run/shard1/pg0/pgpass",
        use_unix_socket: true,
        authentication: { superuser: { username: "postgres" }, replication: { username: "replicator" } },
        parameters: { unix_socket_directories: "/run/shard1/pg0/sock" },
      },
    });
  });

  test("cluster-wide settings live in bootstrap.dcs: synchronous mode, 2PC, profile timings", () => {
    const dcs = parse(renderPatroniConfig(input)).bootstrap.dcs;
    expect(dcs).toMatchObject({ ttl: 5, loop_wait: 1, retry_timeout: 2, synchronous_mode: true });
    expect(dcs.postgresql.parameters.max_prepared_transactions).toBe(64);
    expect(dcs.postgresql.use_pg_rewind).toBe(true);
    const dev = parse(renderPatroniConfig({ ...input, profile: "dev" })).bootstrap.dcs;
    expect(dev).toMatchObject({ ttl: 10, loop_wait: 1, retry_timeout: 4 });
  });

  test("every profile keeps ttl within ZooKeeper's session cap (20 × tickTime 500 ms = 10 s)", () => {
    for (const p of Object.values(PROFILES)) expect(p.ttl).toBeLessThanOrEqual(10);
  });

  test("standbys bootstrap without waiting: fast base-backup checkpoint, quick WAL stream retry", () => {
    const pg = parse(renderPatroniConfig(input)).postgresql;
    expect(pg.basebackup).toContainEqual({ checkpoint: "fast" });
    expect(pg.parameters.wal_retrieve_retry_interval).toBe("500ms");
  });

  test("trust authentication on loopback only, including replication", () => {
    const b = parse(renderPatroniConfig(input)).bootstrap;
    expect(b.pg_hba).toEqual(["local all all trust", "host all all 127.0.0.1/32 trust", "host replication all 127.0.0.1/32 trust"]);
    expect(b.initdb).toContainEqual({ auth: "trust" });
  });
});

describe("redis-server arguments", () => {
  test("loopback, given port and dir, no persistence", () => {
    const a = redisArgs(24000, "/run/redis");
    const opt = (k: string) => a[a.indexOf(k) + 1];
    expect(opt("--port")).toBe("24000");
    expect(opt("--bind")).toBe("127.0.0.1");
    expect(opt("--save")).toBe("");
    expect(opt("--appendonly")).toBe("no");
    expect(opt("--dir")).toBe("/run/redis");
  });
});

/** ShardRouter with fake pools and a scripted locator: routing, pool switching, retry rules. */
import { EventEmitter } from "node:events";
import type pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import { isRiftError } from "../../src/core/errors.js";
import { silentLogger } from "../../src/core/log.js";
import { createRegistry } from "../../src/core/metrics.js";
import { classifyPgError } from "../../src/shard/pg-errors.js";
import { connectionConfig, ShardRouter } from "../../src/shard/router.js";
import type { PrimaryLocator } from "../../src/shard/types.js";

class ScriptedLocator implements PrimaryLocator {
  private readonly urls = new Map<string, string>();
  private readonly fns = new Set<(scope: string, url: string) => void>();
  set(scope: string, port: number): void {
    const url = `postgres://127.0.0.1:${port}/postgres`;
    this.urls.set(scope, url);
    for (const fn of this.fns) fn(scope, url);
  }
  async primaryUrl(scope: string): Promise<string> {
    const u = this.urls.get(scope);
    if (!u) throw new Error(`no primary for ${scope}`);
    return u;
  }
  onChange(fn: (scope: string, url: string) => void): () => void {
    this.fns.add(fn);
    return () => this.fns.delete(fn);
  }
  async close(): Promise<void> {}
}

function pgError(code: string, message = code): Error {
  return Object.assign(new Error(message), { code });
}

/** A fake "server" per port: what connecting and querying does there. */
interface FakeServer {
  connectError?: () => Error | undefined;
  queryError?: (sql: string) => Error | undefined;
  statements: string[];
  releasedWithError: number;
}

class FakePool extends EventEmitter {
  ended = false;
  constructor(
    readonly config: pg.PoolConfig,
    private readonly server: FakeServer,
  ) {
    super();
  }
  async connect(): Promise<unknown> {
    const err = this.server.connectError?.();
    if (err) throw err;
    const server = this.server;
    const client = new EventEmitter() as EventEmitter & { query: unknown; release: unknown };
    client.query = async (sql: string) => {
      server.statements.push(sql);
      const e = server.queryError?.(sql);
      if (e) throw e;
      return { rows: [{ ok: 1 }], rowCount: 1 };
    };
    client.release = (e?: Error) => {
      if (e) server.releasedWithError++;
    };
    return client;
  }
  async end(): Promise<void> {
    this.ended = true;
  }
}

describe("ShardRouter", () => {
  const routers: ShardRouter[] = [];
  afterEach(async () => {
    for (const r of routers.splice(0)) await r.close();
  });

  function setup(servers: Record<number, Partial<FakeServer>>, retryDeadlineMs = 5000) {
    const locator = new ScriptedLocator();
    const full = new Map<number, FakeServer>();
    for (const [port, s] of Object.entries(servers)) full.set(Number(port), { statements: [], releasedWithError: 0, ...s });
    const pools: FakePool[] = [];
    const metrics = createRegistry({ test: "router" });
    const router = new ShardRouter({
      locator,
      database: "rift_test_db",
      user: "postgres",
      poolSize: 4,
      log: silentLogger(),
      retryDeadlineMs,
      metrics,
      poolFactory: (config) => {
        const p = new FakePool(config, full.get(config.port!)!);
        pools.push(p);
        return p as unknown as pg.Pool;
      },
    });
    routers.push(router);
    return { locator, router, pools, server: (port: number) => full.get(port)!, metrics };
  }

  it("builds connection settings from the Patroni conn_url with our database and user", () => {
    expect(connectionConfig("postgres://127.0.0.1:25432/postgres", "rift", "postgres")).toEqual({ host: "127.0.0.1", port: 25432, database: "rift", user: "postgres" });
    expect(connectionConfig("postgresql://u:p%40ss@db.local/x", "rift", "app")).toEqual({ host: "db.local", port: 5432, database: "rift", user: "app", password: "p@ss" });
  });

  it("routes each scope to a pool on its current primary, with an error listener", async () => {
    const { locator, router, pools, server } = setup({ 1000: {}, 2000: {} });
    locator.set("global", 1000);
    locator.set("shard0", 2000);
    await router.query("global", "SELECT 'g'");
    await router.query("shard0", "SELECT 's'");
    await router.query("shard0", "SELECT 's2'");
    expect(server(1000).statements).toEqual(["SELECT 'g'"]);
    expect(server(2000).statements).toEqual(["SELECT 's'", "SELECT 's2'"]);
    expect(pools).toHaveLength(2);
    expect(pools[0]!.config).toMatchObject({ database: "rift_test_db", user: "postgres", max: 4 });
    for (const p of pools) expect(p.listenerCount("error")).toBeGreaterThan(0);
  });

  it("switches pools when the primary changes and ends the old pool", async () => {
    const { locator, router, pools, server } = setup({ 1000: {}, 1001: {} });
    locator.set("shard0", 1000);
    await router.query("shard0", "SELECT 1");
    locator.set("shard0", 1001);
    await router.query("shard0", "SELECT 2");
    expect(server(1001).statements).toEqual(["SELECT 2"]);
    expect(pools[0]!.ended).toBe(true);
    expect(pools[1]!.ended).toBe(false);
  });

  it("retries a call that could not connect until the new primary is announced", async () => {
    let attempts = 0;
    const { locator, router, server, metrics } = setup({
      1000: {
        connectError: () => {
          attempts++;
          if (attempts === 2) locator.set("shard0", 1001); // failover completes meanwhile
          return pgError("ECONNREFUSED", "connect ECONNREFUSED");
        },
      },
      1001: {},
    });
    locator.set("shard0", 1000);
    await router.query("shard0", "UPDATE t SET a = 1"); // not idempotent: nothing was sent, so safe
    expect(server(1001).statements).toEqual(["UPDATE t SET a = 1"]);
    expect(await metrics.getSingleMetricAsString("rift_db_retries_total")).toMatch(/rift_db_retries_total\{scope="shard0"[^}]*\} 2$/m);
  });

  it("retries a statement a standby refused (read-only), even when not idempotent", async () => {
    let n = 0;
    const { locator, router, server } = setup({ 1000: { queryError: () => (n++ === 0 ? pgError("25006", "cannot execute UPDATE in a read-only transaction") : undefined) } });
    locator.set("shard0", 1000);
    await router.query("shard0", "UPDATE t SET a = 1");
    expect(server(1000).statements).toHaveLength(2);
  });

  it("re-runs an idempotent call whose connection died mid-statement, but not a non-idempotent one", async () => {
    let die = true;
    const { locator, router, server } = setup({
      1000: {
        queryError: () => {
          if (!die) return undefined;
          die = false;
          return new Error("Connection terminated unexpectedly");
        },
      },
    });
    locator.set("shard0", 1000);
    const err = await router.query("shard0", "INSERT INTO t VALUES (1)").catch((e: unknown) => e);
    expect(isRiftError(err, "DEPENDENCY_UNAVAILABLE")).toBe(true);
    expect(server(1000).statements).toHaveLength(1);
    expect(server(1000).releasedWithError).toBe(1); // the broken connection is destroyed
    die = true;
    await router.query("shard0", "UPDATE t SET a = 1 WHERE epoch = 3", [], { idempotent: true });
    expect(server(1000).statements).toHaveLength(3);
  });

  it("passes SQL errors through untouched and never retries them", async () => {
    const { locator, router, server } = setup({ 1000: { queryError: () => pgError("23505", "duplicate key") } });
    locator.set("global", 1000);
    const err = await router.query("global", "INSERT", [], { idempotent: true }).catch((e: unknown) => e);
    expect((err as { code?: string }).code).toBe("23505");
    expect(server(1000).statements).toHaveLength(1);
  });

  it("gives up with DEPENDENCY_UNAVAILABLE after the retry deadline", async () => {
    const { locator, router } = setup({ 1000: { connectError: () => pgError("ECONNREFUSED") } }, 50);
    locator.set("shard0", 1000);
    const err = await router.query("shard0", "SELECT 1").catch((e: unknown) => e);
    expect(isRiftError(err, "DEPENDENCY_UNAVAILABLE")).toBe(true);
  });

  it("wraps transactions in BEGIN/COMMIT and rolls back on error", async () => {
    const { locator, router, server } = setup({ 1000: {} });
    locator.set("global", 1000);
    expect(await router.transaction("global", async (c) => (await c.query("SELECT 1")).rowCount)).toBe(1);
    await expect(
      router.transaction("global", async (c) => {
        await c.query("SELECT 2");
        throw new Error("boom");
      }),
    ).rejects.toThrow("boom");
    expect(server(1000).statements).toEqual(["BEGIN", "SELECT 1", "COMMIT", "BEGIN", "SELECT 2", "ROLLBACK"]);
  });

  it("ends its pools on close and refuses later calls", async () => {
    const { locator, router, pools } = setup({ 1000: {} });
    locator.set("global", 1000);
    await router.query("global", "SELECT 1");
    await router.close();
    expect(pools[0]!.ended).toBe(true);
    const err = await router.query("global", "SELECT 1").catch((e: unknown) => e);
    expect(isRiftError(err, "DEPENDENCY_UNAVAILABLE")).toBe(true);
  });
});

describe("classifyPgError", () => {
  it("separates unsent, ambiguous and fatal failures", () => {
    expect(classifyPgError(pgError("ECONNREFUSED"), "connect")).toBe("unsent");
    expect(classifyPgError(new Error("timeout exceeded when trying to connect"), "connect")).toBe("unsent");
    expect(classifyPgError(pgError("57P03"), "connect")).toBe("unsent");
    expect(classifyPgError(pgError("3D000"), "connect")).toBe("fatal");
    expect(classifyPgError(pgError("25006"), "query")).toBe("unsent");
    expect(classifyPgError(pgError("57P01"), "query")).toBe("ambiguous");
    expect(classifyPgError(new Error("Connection terminated unexpectedly"), "query")).toBe("ambiguous");
    expect(classifyPgError(pgError("ECONNRESET"), "query")).toBe("ambiguous");
    expect(classifyPgError(pgError("23505"), "query")).toBe("fatal");
    expect(classifyPgError("weird", "query")).toBe("fatal");
  });
});

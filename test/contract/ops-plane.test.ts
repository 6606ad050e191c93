/**
 * The operations plane on the real shared infra: monitor snapshots in Redis (appear, vanish on
 * a graceful stop at once and after the TTL when the writer just stops), the switch/flag
 * store in a fresh global Postgres database (migration 3), and OpsState following the Redis
 * event bus — applying events at once and reloading from Postgres after its connection was
 * cut (pub/sub is at-most-once).
 */
import { Redis } from "ioredis";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../src/core/log.js";
import { PgOpsStore, RedisOpsBus, type OpsDelivery } from "../../src/core/ops/events.js";
import { MonitorPublisher, readMonitor } from "../../src/core/ops/monitor.js";
import { OpsState } from "../../src/core/ops/state.js";
import { opsTestEnv, type OpsTestEnv } from "../helpers/ops-env.js";
import type { FreshDatabases, RedisPrefix } from "../helpers/isolation.js";
import { waitFor } from "../helpers/processes.js";

describe("operations plane (Redis + Postgres)", () => {
  let ns: RedisPrefix;
  let dbs: FreshDatabases;
  let db: pg.Pool;
  let admin: Redis;
  const closers: (() => Promise<unknown>)[] = [];

  let env: OpsTestEnv | undefined;

  beforeAll(async () => {
    env = await opsTestEnv(3);
    ({ ns, dbs, db, admin } = env);
  });
  afterAll(async () => {
    for (const c of closers.reverse()) await c().catch(() => undefined);
    await env?.dispose();
  });

  const publisher = (node: string, ccu: number) =>
    new MonitorPublisher({
      url: ns.url,
      keyPrefix: ns.prefix,
      role: "gateway",
      node,
      version: "9.9.9",
      colour: "green",
      host: "127.0.0.1",
      opsPort: 1234,
      intervalMs: 200,
      ttlMs: 1000,
      source: { snapshot: () => ({ ccu, sendQueueP99Bytes: 0 }) },
      log: silentLogger(),
    });

  it("monitor: snapshots appear, a graceful stop removes its key at once, a stopped writer vanishes after the TTL", async () => {
    const a = publisher("gw-a", 3);
    const b = publisher("gw-b", 5);
    a.start();
    b.start();
    await waitFor(async () => (await readMonitor(admin, ns.prefix)).length === 2, { timeoutMs: 10_000, intervalMs: 50, what: "two snapshots" });
    const snaps = await readMonitor(admin, ns.prefix);
    expect(snaps.map((s) => [s.node, s.ccu, s.version, s.colour])).toEqual([
      ["gw-a", 3, "9.9.9", "green"],
      ["gw-b", 5, "9.9.9", "green"],
    ]);
    expect(snaps[0]!.rssBytes).toBeGreaterThan(0);
    expect(await admin.pttl(a.key)).toBeGreaterThan(0);

    await a.close(); // graceful: gone at once
    expect((await readMonitor(admin, ns.prefix)).map((s) => s.node)).toEqual(["gw-b"]);

    const t0 = Date.now();
    await b.close(false); // like a crash: the key stays until its TTL
    expect((await readMonitor(admin, ns.prefix)).map((s) => s.node)).toEqual(["gw-b"]);
    await waitFor(async () => (await readMonitor(admin, ns.prefix)).length === 0, { timeoutMs: 10_000, intervalMs: 50, what: "the TTL to remove gw-b" });
    console.log(`RESULT monitor-ttl-vanish ms=${Date.now() - t0} ttlMs=1000`);
  });

  it("store + bus + OpsState: events apply at once; after a cut connection the state is reloaded from Postgres", async () => {
    const log = silentLogger();
    const run = (sql: string, p: unknown[]) => db.query(sql, p);
    const store = new PgOpsStore(run);
    const bus = new RedisOpsBus({ url: ns.url, keyPrefix: ns.prefix, log, connectionName: "rift-ops-test-sub" });
    const state = new OpsState({ store, bus, role: "gateway", log, reconcileMs: 0 });
    closers.push(() => state.close());
    const writerBus = new RedisOpsBus({ url: ns.url, keyPrefix: ns.prefix, log, connectionName: "rift-ops-test-pub" });
    closers.push(() => writerBus.close());
    const got: OpsDelivery[] = [];
    bus.subscribe((d) => got.push(d));
    await state.start();
    await bus.ready();

    // durable write + publish, as opsctl does
    const off = { kind: "switch", name: "shop", enabled: false } as const;
    await store.apply(off);
    const t0 = performance.now();
    expect(await writerBus.publish(off)).toBeGreaterThanOrEqual(1);
    await waitFor(() => !state.enabled("shop", ["shop"], 1), { timeoutMs: 5000, intervalMs: 2, what: "shop off applied" });
    console.log(`RESULT ops-event-apply ms=${(performance.now() - t0).toFixed(1)}`);
    await store.apply({ kind: "flag", name: "beta", scope: "*", value: "10%" });
    await store.apply({ kind: "flag", name: "beta", scope: "field", value: "on" });
    expect(await store.load()).toEqual({ switches: { shop: false }, flags: { beta: { "*": "10%", field: "on" } } });

    // malformed messages are dropped
    await admin.publish(bus.channel, JSON.stringify({ kind: "kick", userId: "x" }));

    // a change made while the subscriber is cut off (no publish reaches it) …
    // cut only our subscriber's connection (found by its client name); ioredis reconnects
    const list = (await admin.client("LIST")) as string;
    const ids = list.split("\n").filter((l) => / name=rift-ops-test-sub /.test(l) && / sub=1 /.test(l)).map((l) => /\bid=(\d+)/.exec(l)![1]!);
    expect(ids.length).toBeGreaterThanOrEqual(1);
    for (const id of ids) await admin.client("KILL", "ID", id);
    await store.apply({ kind: "switch", name: "shop", enabled: true });
    // … is picked up by the resync reload
    await waitFor(() => got.some((d) => d.kind === "resync"), { timeoutMs: 15_000, intervalMs: 20, what: "resync after reconnect" });
    await waitFor(() => state.enabled("shop", ["shop"], 1) && state.snapshot.flags.beta?.["*"] === "10%", { timeoutMs: 10_000, intervalMs: 20, what: "state reloaded from Postgres" });
    expect(got.filter((d) => d.kind === "kick")).toEqual([]);

    // and the bus still delivers afterwards
    await writerBus.publish({ kind: "announce", text: "hello" });
    await waitFor(() => got.some((d) => d.kind === "announce"), { timeoutMs: 5000, intervalMs: 10, what: "announce after reconnect" });
  });
});

/**
 * Circuit breaker (src/core/ops/breaker.ts) and the gateway's HTTP shop catalogue
 * (src/gateway/shop-catalog.ts) against the fake catalogue service (test/helpers/fake-catalog.ts).
 * Short real timeouts; every wait is a condition with a deadline.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Registry } from "../../src/core/metrics.js";
import { Breaker, breakerMetrics } from "../../src/core/ops/breaker.js";
import { HttpShopCatalog, shopCatalogFromConfig, BuiltinShopCatalog, SHOP_BREAKER_NAME } from "../../src/gateway/shop-catalog.js";
import { SHOP_CATALOGUE } from "../../src/gateway/shop.js";
import { metricValue } from "../helpers/cluster.js";
import { FAKE_ITEMS, FakeCatalog } from "../helpers/fake-catalog.js";
import { waitFor } from "../helpers/processes.js";

type Behaviour = "ok" | "fail" | "hang";

function fakeService() {
  const svc = { mode: "ok" as Behaviour, calls: 0, aborted: 0 };
  const action = (signal: AbortSignal, x: number): Promise<number> => {
    svc.calls++;
    if (svc.mode === "ok") return Promise.resolve(x * 2);
    if (svc.mode === "fail") return Promise.reject(new Error("service error"));
    return new Promise((_, reject) => signal.addEventListener("abort", () => (svc.aborted++, reject(new Error("aborted")))));
  };
  return { svc, action };
}

const OPTS = { timeoutMs: 60, errorThresholdPercentage: 50, volumeThreshold: 3, resetTimeoutMs: 300 };

describe("Breaker", () => {
  const breakers: Breaker<[number], number>[] = [];
  afterEach(() => {
    for (const b of breakers.splice(0)) b.shutdown();
  });

  function make(reg = new Registry()) {
    const { svc, action } = fakeService();
    const b = new Breaker<[number], number>("svc", action, OPTS, { fallback: () => -1, metrics: breakerMetrics(reg) });
    breakers.push(b);
    return { svc, b, reg };
  }

  it("passes calls through while closed and exports state 0 and success counts", async () => {
    const { b, reg } = make();
    expect(await b.call(2)).toBe(4);
    expect(await b.call(5)).toBe(10);
    expect(b.state).toBe("closed");
    const text = await reg.metrics();
    expect(metricValue(text, "rift_breaker_state", { name: "svc" })).toBe(0);
    expect(metricValue(text, "rift_breaker_calls_total", { name: "svc", result: "success" })).toBe(2);
    expect(metricValue(text, "rift_breaker_calls_total", { name: "svc", result: "fallback" })).toBe(0);
  });

  it("failures → fallback, opens above the threshold, rejects without calling while open", async () => {
    const { b, svc, reg } = make();
    svc.mode = "fail";
    expect(await b.call(1)).toBe(-1);
    expect(await b.call(1)).toBe(-1);
    expect(b.state).toBe("closed"); // below volumeThreshold
    expect(await b.call(1)).toBe(-1);
    expect(b.state).toBe("open");
    const calls = svc.calls;
    expect(await b.call(1)).toBe(-1);
    expect(svc.calls).toBe(calls); // rejected, the service was not called
    const text = await reg.metrics();
    expect(metricValue(text, "rift_breaker_state", { name: "svc" })).toBe(2);
    expect(metricValue(text, "rift_breaker_calls_total", { name: "svc", result: "failure" })).toBe(3);
    expect(metricValue(text, "rift_breaker_calls_total", { name: "svc", result: "reject" })).toBe(1);
    expect(metricValue(text, "rift_breaker_calls_total", { name: "svc", result: "fallback" })).toBe(4);
    expect(metricValue(text, "rift_breaker_calls_total", { name: "svc", result: "timeout" })).toBe(0);
  });

  it("a hanging service times out (signal aborted), counts `timeout` once, and the fallback comes at the timeout", async () => {
    const { b, svc, reg } = make();
    svc.mode = "hang";
    const t0 = performance.now();
    expect(await b.call(1)).toBe(-1);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(OPTS.timeoutMs - 5);
    await waitFor(() => svc.aborted === 1, { timeoutMs: 2000, what: "abort signal" });
    await b.call(1);
    await b.call(1);
    expect(b.state).toBe("open");
    const text = await reg.metrics();
    expect(metricValue(text, "rift_breaker_calls_total", { name: "svc", result: "timeout" })).toBe(3);
    expect(metricValue(text, "rift_breaker_calls_total", { name: "svc", result: "failure" })).toBe(0);
  });

  it("half-open after resetTimeout: a failed trial re-opens, a successful trial closes", async () => {
    const { b, svc, reg } = make();
    svc.mode = "fail";
    for (let i = 0; i < 3; i++) await b.call(1);
    expect(b.state).toBe("open");
    await waitFor(() => b.state === "halfOpen", { timeoutMs: 5000, intervalMs: 10, what: "half-open" });
    expect(metricValue(await reg.metrics(), "rift_breaker_state", { name: "svc" })).toBe(1);
    const before = svc.calls;
    expect(await b.call(1)).toBe(-1); // the trial fails
    expect(svc.calls).toBe(before + 1);
    expect(b.state).toBe("open");
    await waitFor(() => b.state === "halfOpen", { timeoutMs: 5000, intervalMs: 10, what: "half-open again" });
    svc.mode = "ok";
    expect(await b.call(21)).toBe(42);
    expect(b.state).toBe("closed");
    expect(metricValue(await reg.metrics(), "rift_breaker_state", { name: "svc" })).toBe(0);
  });

  it("half-open admits one trial: concurrent calls are rejected while it is in flight", async () => {
    const { b, svc } = make();
    svc.mode = "fail";
    for (let i = 0; i < 3; i++) await b.call(1);
    await waitFor(() => b.state === "halfOpen", { timeoutMs: 5000, intervalMs: 10, what: "half-open" });
    svc.mode = "hang";
    const trial = b.call(1);
    const before = svc.calls;
    expect(await b.call(1)).toBe(-1);
    expect(svc.calls).toBe(before); // rejected without a call
    expect(await trial).toBe(-1); // the trial timed out → open again
    expect(b.state).toBe("open");
    expect(b.results.reject).toBeGreaterThanOrEqual(1);
  });

  it("several breakers share the registry's metrics, by name", async () => {
    const reg = new Registry();
    const a = make(reg);
    const { action } = fakeService();
    const other = new Breaker<[number], number>("other", action, OPTS, { fallback: () => 0, metrics: breakerMetrics(reg) });
    breakers.push(other);
    await a.b.call(1);
    await other.call(1);
    await other.call(1);
    const text = await reg.metrics();
    expect(metricValue(text, "rift_breaker_calls_total", { name: "svc", result: "success" })).toBe(1);
    expect(metricValue(text, "rift_breaker_calls_total", { name: "other", result: "success" })).toBe(2);
  });
});

describe("HttpShopCatalog against the fake catalogue service", () => {
  let fake: FakeCatalog;
  const catalogs: HttpShopCatalog[] = [];
  beforeAll(async () => {
    fake = await FakeCatalog.start();
  });
  afterEach(() => {
    for (const c of catalogs.splice(0)) c.close();
    fake.mode = "ok";
  });
  afterAll(async () => {
    await fake?.close();
  });

  function catalog(cacheMs = 0, reg = new Registry()) {
    // a real HTTP round trip on a loaded 2-core machine can take far more than 60 ms: only a hang may time out
    const c = new HttpShopCatalog({ url: fake.url, cacheMs, breaker: { ...OPTS, timeoutMs: 1500 }, registry: reg });
    catalogs.push(c);
    return c;
  }

  it("serves the service's catalogue; built-in before the first success", async () => {
    const c = catalog();
    fake.mode = "error";
    expect(await c.list()).toEqual(SHOP_CATALOGUE);
    fake.mode = "ok";
    expect(await c.list()).toEqual(FAKE_ITEMS);
  });

  it("hang → last good catalogue after the timeout, breaker opens, then answers at once without a request", async () => {
    const reg = new Registry();
    const c = catalog(0, reg);
    expect(await c.list()).toEqual(FAKE_ITEMS);
    fake.mode = "hang";
    for (let i = 0; i < 3; i++) expect(await c.list()).toEqual(FAKE_ITEMS);
    expect(c.breaker.state).toBe("open");
    const n = fake.total;
    const rejects = c.breaker.results.reject;
    expect(await c.list()).toEqual(FAKE_ITEMS);
    expect(c.breaker.results.reject).toBe(rejects + 1); // rejected at once, no timeout wait
    expect(fake.total).toBe(n);
    expect(metricValue(await reg.metrics(), "rift_breaker_state", { name: SHOP_BREAKER_NAME })).toBe(2);
    // recovery: half-open trial succeeds → closed, new items served
    fake.mode = "ok";
    fake.items = [{ id: "new", name: "New item", price: 1 }];
    await waitFor(() => c.breaker.state === "halfOpen", { timeoutMs: 5000, intervalMs: 10, what: "half-open" });
    expect(await c.list()).toEqual([{ id: "new", name: "New item", price: 1 }]);
    expect(c.breaker.state).toBe("closed");
    fake.items = FAKE_ITEMS.map((i) => ({ ...i }));
  });

  it("malformed answers are failures", async () => {
    const c = catalog();
    fake.items = [{ id: "", name: "bad", price: -1 }];
    expect(await c.list()).toEqual(SHOP_CATALOGUE);
    expect(c.breaker.results.failure).toBe(1);
    fake.items = FAKE_ITEMS.map((i) => ({ ...i }));
  });

  it("concurrent requests share one call; cacheMs reuses a success", async () => {
    const c = catalog(60_000);
    const n = fake.total;
    const all = await Promise.all(Array.from({ length: 20 }, () => c.list()));
    expect(all.every((x) => x.length === FAKE_ITEMS.length)).toBe(true);
    expect(fake.total).toBe(n + 1);
    await c.list();
    expect(fake.total).toBe(n + 1);
  });

  it("empty url → built-in catalogue", async () => {
    const c = shopCatalogFromConfig({ url: "", timeoutMs: 1, cacheMs: 0, errorThresholdPercentage: 50, volumeThreshold: 1, resetTimeoutMs: 1 });
    expect(c).toBeInstanceOf(BuiltinShopCatalog);
    expect(await c.list()).toEqual(SHOP_CATALOGUE);
  });
});

/**
 * Circuit breaker end to end (issue #9 item 7) with real processes: 1 coordinator, 1 field
 * server (z1), 1 gateway whose shop catalogue comes from the fake catalogue service
 * (test/helpers/fake-catalog.ts) through the `shop-catalog` breaker; 16 players walk
 * (move every 100 ms) and ask for the shop every 250 ms throughout.
 *
 *  1. service ok: players get the service's catalogue; breaker closed (state 0).
 *  2. service hangs: calls time out, the breaker opens (state 2); players get the last good
 *     catalogue (fallback) — while open without waiting for the timeout (reject count rises).
 *  3. service recovers: the breaker goes half-open (log line), the trial succeeds, it closes
 *     (state 0) and the service's (new) catalogue is served again.
 *
 * The field server's tick p99 is measured from its `rift_field_tick_duration_seconds`
 * histogram over the ok phase and over the hang phase (same players, same load) and printed
 * as `RESULT breaker …`; only behaviour is asserted, not speed.
 */
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RiftClient } from "../../src/client/rift-client.js";
import { metricValue, TestCluster } from "../helpers/cluster.js";
import { FAKE_ITEMS, FakeCatalog } from "../helpers/fake-catalog.js";
import { waitFor } from "../helpers/processes.js";

interface ShopReply {
  items: { id: string }[];
  ms: number;
}

/** Bucket counts of a histogram (cumulative, by `le`) from Prometheus text. */
function buckets(text: string, name: string): Map<number, number> {
  const out = new Map<number, number>();
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}_bucket{`)) continue;
    const m = /le="([^"]+)"[^}]*\}\s+(\S+)/.exec(line);
    if (m) out.set(m[1] === "+Inf" ? Infinity : Number(m[1]), Number(m[2]));
  }
  return out;
}

/** Quantile (ms) of the observations between two scrapes, interpolated like PromQL histogram_quantile. */
function quantileMs(before: Map<number, number>, after: Map<number, number>, q: number): { ms: number; n: number } {
  const les = [...after.keys()].sort((a, b) => a - b);
  const cum = les.map((le) => (after.get(le) ?? 0) - (before.get(le) ?? 0));
  const n = cum.at(-1) ?? 0;
  if (n === 0) return { ms: NaN, n };
  const rank = q * n;
  for (let i = 0; i < les.length; i++) {
    if (cum[i]! >= rank) {
      const hi = les[i]!;
      const lo = i === 0 ? 0 : les[i - 1]!;
      if (hi === Infinity) return { ms: lo * 1000, n };
      const below = i === 0 ? 0 : cum[i - 1]!;
      const inBucket = cum[i]! - below;
      return { ms: (lo + (hi - lo) * (inBucket === 0 ? 1 : (rank - below) / inBucket)) * 1000, n };
    }
  }
  return { ms: NaN, n };
}

const TICK = "rift_field_tick_duration_seconds";
const PHASE_MS = 5000;

describe("circuit breaker: external shop catalogue", { timeout: 240_000 }, () => {
  let fake: FakeCatalog;
  let cluster: TestCluster;
  const players: RiftClient[] = [];
  const names = Array.from({ length: 16 }, (_, i) => `brk_p${i}`);
  let load: NodeJS.Timeout | undefined;
  let replies: ShopReply[] = [];
  const pending = new Map<RiftClient, number>();

  beforeAll(async () => {
    fake = await FakeCatalog.start();
    cluster = await TestCluster.start({
      gateways: 1,
      fields: [{ zones: ["z1"] }],
      chats: 1,
      gatewayEnv: {
        RIFT__GATEWAY__SHOPCATALOG__URL: fake.url,
        RIFT__GATEWAY__SHOPCATALOG__TIMEOUTMS: "1000", // generous: a healthy local call must never time out on a loaded machine
        RIFT__GATEWAY__SHOPCATALOG__CACHEMS: "0",
        RIFT__GATEWAY__SHOPCATALOG__VOLUMETHRESHOLD: "3",
        RIFT__GATEWAY__SHOPCATALOG__ERRORTHRESHOLDPERCENTAGE: "50",
        RIFT__GATEWAY__SHOPCATALOG__RESETTIMEOUTMS: "2000",
      },
    });
    await cluster.seedAccounts(names);
    for (const n of names) players.push(await cluster.player(n));
    for (const c of players) {
      c.on("message", (m) => {
        if (m.t !== "shop") return;
        const t0 = pending.get(c);
        pending.delete(c);
        if (t0 !== undefined) replies.push({ items: m.b.items, ms: performance.now() - t0 });
      });
    }
    // the load: every player walks (a step every 100 ms) and asks for the shop every 250 ms
    let k = 0;
    load = setInterval(() => {
      k++;
      players.forEach((c, i) => {
        if (c.closed || !c.self) return;
        const a = ((k + i * 7) % 16) * (Math.PI / 8);
        c.move(Math.round(Math.min(990, Math.max(10, c.self.x + 4 * Math.cos(a)))), Math.round(Math.min(990, Math.max(10, c.self.y + 4 * Math.sin(a)))));
        if (k % 3 === i % 3 && !pending.has(c)) {
          pending.set(c, performance.now());
          c.shopList();
        }
      });
    }, 100);
  });

  afterAll(async () => {
    if (load) clearInterval(load);
    await cluster?.stop();
    await fake?.close();
  });

  const gw = () => cluster.gateways[0]!;
  const field = () => cluster.fields[0]!;
  const breakerState = async () => metricValue(await cluster.metrics(gw()), "rift_breaker_state", { name: "shop-catalog" });
  const calls = async (result: string) => metricValue(await cluster.metrics(gw()), "rift_breaker_calls_total", { name: "shop-catalog", result });

  /** Run one measurement phase under load; the field's tick p99 over it. */
  async function phase(): Promise<{ ms: number; n: number; replies: ShopReply[] }> {
    replies = [];
    const before = buckets(await cluster.metrics(field()), TICK);
    await new Promise((r) => setTimeout(r, PHASE_MS)); // a measurement window, not a wait for a condition
    const after = buckets(await cluster.metrics(field()), TICK);
    return { ...quantileMs(before, after, 0.99), replies: replies.splice(0) };
  }

  let normal = { ms: NaN, n: 0 };

  it("service ok: the service's catalogue is served, breaker closed", async () => {
    await waitFor(() => replies.length >= 5, { timeoutMs: 15_000, what: "first shop replies" });
    const p = await phase();
    normal = p;
    expect(p.replies.length).toBeGreaterThan(20);
    expect(p.replies.every((r) => r.items.map((i) => i.id).join() === FAKE_ITEMS.map((i) => i.id).join())).toBe(true);
    expect(await breakerState()).toBe(0);
    expect(await calls("success")).toBeGreaterThan(0);
  });

  it("service hangs: breaker opens, clients get the fallback (last good catalogue), the tick is unaffected", async () => {
    fake.mode = "hang";
    await waitFor(async () => (await breakerState()) === 2, { timeoutMs: 15_000, what: "breaker open" });
    const rejectsBefore = await calls("reject");
    const p = await phase();
    expect(p.replies.length).toBeGreaterThan(20);
    expect(p.replies.every((r) => r.items.map((i) => i.id).join() === FAKE_ITEMS.map((i) => i.id).join())).toBe(true);
    expect(await calls("reject")).toBeGreaterThan(rejectsBefore);
    expect(await calls("timeout")).toBeGreaterThanOrEqual(3);
    expect(await calls("fallback")).toBeGreaterThan(0);
    expect(fake.requests.hang).toBeGreaterThan(0);
    const lat = p.replies.map((r) => r.ms).sort((a, b) => a - b);
    const med = lat[Math.floor(lat.length / 2)]!;
    const p99 = lat[Math.min(lat.length - 1, Math.floor(lat.length * 0.99))]!;
    console.log(
      `RESULT breaker tick_p99_ms_normal=${normal.ms.toFixed(2)} (ticks=${normal.n}) tick_p99_ms_hang=${p.ms.toFixed(2)} (ticks=${p.n}) ` +
        `players=${players.length} shop_reply_ms_hang_median=${med.toFixed(1)} shop_reply_ms_hang_p99=${p99.toFixed(1)} (timeout 1000 ms, resetTimeout 2000 ms) n=${lat.length}`,
    );
    expect(p.n).toBeGreaterThan(0);
    expect(Number.isFinite(p.ms)).toBe(true);
  });

  it("service recovers: half-open trial, breaker closes, the service's catalogue is served again", async () => {
    fake.items = [{ id: "fresh", name: "Fresh item", price: 7 }];
    fake.mode = "ok";
    await waitFor(async () => (await breakerState()) === 0, { timeoutMs: 20_000, what: "breaker closed again" });
    await gw().proc.waitForLine((l) => l.includes("breaker shop-catalog: halfOpen"), 1000);
    await gw().proc.waitForLine((l) => l.includes("breaker shop-catalog: closed"), 1000);
    replies = [];
    await waitFor(() => replies.some((r) => r.items.length === 1 && r.items[0]!.id === "fresh"), { timeoutMs: 10_000, what: "fresh catalogue served" });
    expect(players.every((c) => !c.closed)).toBe(true);
  });

  it("every rift_* metric served on /metrics by the gateway, field, coordinator and chat server is documented", async () => {
    const doc = readFileSync(new URL("../../docs/OPERATIONS.md", import.meta.url), "utf8");
    const nodes = [gw(), field(), cluster.coordinators[0]!, cluster.chats[0]!];
    const served = new Map<string, string>();
    for (const n of nodes) {
      const text = await cluster.metrics(n);
      for (const m of text.matchAll(/^# TYPE (rift_[a-z0-9_]+) (\w+)$/gm)) served.set(m[1]!, n.id);
      expect(text).toContain("rift_process_process_resident_memory_bytes");
    }
    expect(served.has("rift_breaker_state")).toBe(true);
    expect(served.has("rift_chat_links")).toBe(true);
    // process metrics: documented by name, or as `…_{min,max,…}_seconds` / `(+ \`_total\`)` families
    const documented = (name: string) =>
      doc.includes(`\`${name}\``) ||
      /^rift_process_nodejs_eventloop_lag_(min|max|mean|stddev|p50|p90|p99)_seconds$/.test(name) ||
      /^rift_process_nodejs_heap_space_size_(total|used|available)_bytes$/.test(name) ||
      (name.endsWith("_total") && name.startsWith("rift_process_nodejs_active_") && doc.includes(`\`${name.slice(0, -"_total".length)}\``));
    expect([...served].filter(([name]) => !documented(name))).toEqual([]);
    console.log(`RESULT metrics-documented served=${served.size} nodes=${nodes.map((n) => n.id).join(",")}`);
  });
});

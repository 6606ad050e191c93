/// <reference lib="dom" />
/**
 * The web dashboard end to end in headless Chromium (playwright-core, Debian chromium — the
 * test installs the package when it is missing): a real cluster (coordinator, field server,
 * gateway, 3 players), the page served by the coordinator shows the real members, CCU from
 * the live monitor, the placement, the shards with their primaries, charts, and answers a
 * user lookup. Saves a screenshot to test-results/dashboard.png.
 */
import { mkdirSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { chromium, type Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RiftClient } from "../../src/client/rift-client.js";
import { BROWSER_REQUIREMENTS, ensurePackages } from "../../src/tools/infra/install.js";
import { TestCluster } from "../helpers/cluster.js";

const SCREENSHOT = resolve("test-results/dashboard.png");

describe("web dashboard in headless Chromium", { timeout: 240_000 }, () => {
  let cluster: TestCluster | undefined;
  let browser: Browser | undefined;
  let players: RiftClient[] = [];

  beforeAll(async () => {
    await ensurePackages((l) => process.stderr.write(`[dashboard test] ${l}\n`), BROWSER_REQUIREMENTS);
    cluster = await TestCluster.start({ fields: [{ zones: ["z1"] }], env: { RIFT__OPS__MONITORINTERVALMS: "500" } });
    const names = ["dash_a", "dash_b", "dash_c"].map((n) => `${n}_${cluster!.uid}`);
    await cluster.seedAccounts(names);
    players = await Promise.all(names.map((n) => cluster!.player(n)));
    browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"] });
  }, 240_000);

  afterAll(async () => {
    await browser?.close();
    await cluster?.stop();
  });

  it("shows live members, CCU, placement and shards, and looks users up", async () => {
    const c = cluster!;
    const page = await browser!.newPage({ viewport: { width: 1500, height: 1100 } });
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(`http://127.0.0.1:${c.coordinators[0]!.opsPort}/dashboard`);

    await page.waitForFunction(() => document.getElementById("status")?.textContent === "live", undefined, { timeout: 30_000 });
    const ids = [c.coordinators[0]!.id, c.gateways[0]!.id, c.fields[0]!.id];
    await page.waitForFunction((want) => want.every((id) => document.querySelector("#members")?.textContent?.includes(id)), ids, { timeout: 30_000 });
    // 3 players connected through the gateway: the gateway's monitor snapshot says so
    await page.waitForFunction(() => document.getElementById("ccu")?.textContent === "3", undefined, { timeout: 30_000 });
    await page.waitForFunction((field) => document.querySelector("#placement")?.textContent?.includes(field), c.fields[0]!.id, { timeout: 30_000 });
    await page.waitForFunction(() => /shard0.*127\.0\.0\.1:\d+/.test(document.querySelector("#shards")?.textContent ?? ""), undefined, { timeout: 30_000 });
    expect(await page.locator("#leader").textContent()).toBe(c.coordinators[0]!.id);
    // the field server's row carries numbers from its live snapshot (RSS)
    const fieldRow = await page.locator("#members tr", { hasText: c.fields[0]!.id }).textContent();
    expect(fieldRow).toMatch(/\d+M/);
    // charts were drawn, from several live refreshes
    await page.waitForFunction(
      () => ((window as unknown as { riftSamples?: number }).riftSamples ?? 0) >= 4 && document.querySelectorAll("#chart-ccu canvas").length > 0 && document.querySelectorAll("#chart-tick canvas").length > 0,
      undefined,
      { timeout: 30_000 },
    );

    // user lookup through the page
    const me = players[0]!;
    const userId = me.session!.userId;
    await page.fill("#user-id", String(userId));
    await page.click("#user-form button");
    await page.waitForFunction(() => document.getElementById("user-result")?.textContent?.includes('"shard"'), undefined, { timeout: 15_000 });
    const result = JSON.parse((await page.locator("#user-result").textContent())!) as { shard: string; player: { zone: string; owner: string } };
    expect(result.player.zone).toBe("z1");
    expect(result.player.owner).toBe(c.fields[0]!.id);
    expect(await c.data.shardMap.shardOf(userId)).toBe(result.shard);

    mkdirSync(resolve("test-results"), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    expect(statSync(SCREENSHOT).size).toBeGreaterThan(10_000);
    process.stderr.write(`RESULT dashboard screenshot=${SCREENSHOT}\n`);
    expect(errors).toEqual([]);
  });
});

/** Every metric a role registers is documented in docs/OPERATIONS.md. */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { Registry } from "../../src/core/metrics.js";
import { createSceneMetrics } from "../../src/core/scene/metrics.js";
import { createCoordinatorMetrics } from "../../src/coordinator/metrics.js";
import { createGatewayMetrics } from "../../src/gateway/metrics.js";
import { createGatewayChatMetrics } from "../../src/gateway/chat.js";
import { createChatMetrics } from "../../src/chat-server/metrics.js";
import { breakerMetrics } from "../../src/core/ops/breaker.js";
import { codeMetricNames } from "../helpers/metric-names.js";

const doc = readFileSync(new URL("../../docs/OPERATIONS.md", import.meta.url), "utf8");

function names(reg: Registry): string[] {
  return reg.getMetricsAsArray().map((m) => m.name);
}

describe("docs/OPERATIONS.md", () => {
  it("documents every gateway metric", () => {
    const reg = new Registry();
    createGatewayMetrics(reg);
    const all = names(reg);
    expect(all.length).toBeGreaterThan(10);
    expect(all.filter((n) => !doc.includes(`\`${n}\``))).toEqual([]);
  });

  it("documents every coordinator metric", () => {
    const reg = new Registry();
    createCoordinatorMetrics(reg);
    const all = names(reg);
    expect(all.length).toBeGreaterThanOrEqual(6);
    expect(all.filter((n) => !doc.includes(`\`${n}\``))).toEqual([]);
  });

  it("documents every field-server (scene host) metric", () => {
    const reg = new Registry();
    createSceneMetrics(reg, "rift_field_", () => 0, () => 0);
    const all = names(reg);
    expect(all.length).toBeGreaterThan(10);
    expect(all.filter((n) => !doc.includes(`\`${n}\``))).toEqual([]);
  });

  it("documents every chat-server, gateway-chat and circuit-breaker metric", () => {
    const reg = new Registry();
    createChatMetrics(reg);
    createGatewayChatMetrics(reg);
    breakerMetrics(reg);
    const all = names(reg);
    expect(all.length).toBeGreaterThanOrEqual(18);
    expect(all.filter((n) => !doc.includes(`\`${n}\``))).toEqual([]);
  });

  it("documents every rift_* metric registered anywhere in src/ (all roles), and documents no metric that does not exist", () => {
    const code = codeMetricNames();
    expect(code.size).toBeGreaterThan(60);
    const undocumented = [...code].filter(([n]) => !doc.includes(`\`${n}\``)).map(([n, files]) => `${n} (${files.join(", ")})`);
    expect(undocumented).toEqual([]);
    // every metric row of a table (| `rift_…` | type | …) names a metric the code registers
    const rows = [...doc.matchAll(/^\| `(rift_[a-z0-9_]+)` \| (counter|gauge|histogram) \|/gm)].map((m) => m[1]!);
    expect(rows.length).toBeGreaterThan(60);
    expect(rows.filter((n) => !code.has(n) && !n.startsWith("rift_process_"))).toEqual([]); // rift_process_*: prom-client defaults
  });
});

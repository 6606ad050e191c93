/** Every metric a role registers is documented in docs/OPERATIONS.md. */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { Registry } from "../../src/core/metrics.js";
import { createSceneMetrics } from "../../src/core/scene/metrics.js";
import { createCoordinatorMetrics } from "../../src/coordinator/metrics.js";
import { createGatewayMetrics } from "../../src/gateway/metrics.js";

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
});

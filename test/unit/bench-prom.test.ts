/** The benchmark's Prometheus reading: parsing, histogram differences, bucket quantiles. */
import { describe, expect, test } from "vitest";
import { bucketQuantile, fractionAtOrBelow, histogramDelta, parseMetrics, Scrape } from "../../bench/lib/prom.js";
import { defaultSteps } from "../../bench/field-load/main.js";

const text = (counts: number[], sum: number) => `# HELP rift_field_tick_duration_seconds x
# TYPE rift_field_tick_duration_seconds histogram
rift_field_tick_duration_seconds_bucket{le="0.01",role="field",node="n"} ${counts[0]}
rift_field_tick_duration_seconds_bucket{le="0.05",role="field",node="n"} ${counts[1]}
rift_field_tick_duration_seconds_bucket{le="0.1",role="field",node="n"} ${counts[2]}
rift_field_tick_duration_seconds_bucket{le="+Inf",role="field",node="n"} ${counts[3]}
rift_field_tick_duration_seconds_sum{role="field",node="n"} ${sum}
rift_field_tick_duration_seconds_count{role="field",node="n"} ${counts[3]}
rift_field_inbound_messages_total{type="move",role="field",node="n"} 7
rift_field_inbound_messages_total{type="ping",role="field",node="n"} 2
rift_gateway_closes_total{code="4011",key="SEND_QUEUE_FULL",role="gateway",node="g \\"1\\""} 3
`;

describe("bench prom reading", () => {
  test("parses samples with labels (escaped quotes too)", () => {
    const s = parseMetrics(text([1, 2, 3, 4], 0.5));
    expect(s.find((x) => x.name === "rift_gateway_closes_total")).toEqual({
      name: "rift_gateway_closes_total",
      labels: { code: "4011", key: "SEND_QUEUE_FULL", role: "gateway", node: 'g "1"' },
      value: 3,
    });
    const sc = new Scrape(s, 0);
    expect(sc.sum("rift_field_inbound_messages_total")).toBe(9);
    expect(sc.sum("rift_field_inbound_messages_total", { type: "move" })).toBe(7);
  });

  test("quantiles of what happened between two scrapes", () => {
    const a = new Scrape(parseMetrics(text([100, 100, 100, 100], 0.3)), 0);
    // 100 more ticks: 90 under 10 ms, 9 in (10, 50], 1 in (50, 100]
    const b = new Scrape(parseMetrics(text([190, 199, 200, 200], 0.9)), 1000);
    const d = histogramDelta(a, b, "rift_field_tick_duration_seconds");
    expect(d.count).toBe(100);
    expect(d.sum).toBeCloseTo(0.6);
    expect(fractionAtOrBelow(d, 0.05)).toBeCloseTo(0.99);
    expect(bucketQuantile(d, 0.5)).toBeCloseTo(0.01 * (50 / 90));
    expect(bucketQuantile(d, 0.99)).toBeCloseTo(0.05); // exactly at the 99th observation
    expect(bucketQuantile(d, 0.995)).toBeCloseTo(0.075);
    expect(bucketQuantile(histogramDelta(a, a, "rift_field_tick_duration_seconds"), 0.99)).toBe(0);
  });

  test("default steps end at --max", () => {
    expect(defaultSteps(3000)).toEqual([200, 500, 1000, 1500, 2000, 2500, 3000]);
    expect(defaultSteps(800)).toEqual([200, 500, 800]);
    expect(defaultSteps(4200)).toEqual([200, 500, 1000, 1500, 2000, 2500, 3000, 3500, 4000, 4200]);
  });
});

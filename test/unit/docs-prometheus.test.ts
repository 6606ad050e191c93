/**
 * docs/prometheus/*: the scrape configs target the ops ports `npm start` uses
 * (src/tools/start.ts), and every metric an alert rule uses exists in the code and is
 * documented in docs/OPERATIONS.md.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { baseMetricName, codeMetricNames } from "../helpers/metric-names.js";

const read = (p: string) => readFileSync(new URL(`../../${p}`, import.meta.url), "utf8");
const doc = read("docs/OPERATIONS.md");
const code = codeMetricNames();
const known = new Set(code.keys());

/** Ops ports of the roles `npm start` launches (`{ name, role, opsPort: N, … }` in start.ts). */
function startOpsPorts(): Map<string, string> {
  const out = new Map<string, string>(); // "127.0.0.1:port" → role
  for (const m of read("src/tools/start.ts").matchAll(/role: "(\w+)", opsPort: (\d+)/g)) out.set(`127.0.0.1:${m[2]}`, m[1]!);
  return out;
}

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

describe("docs/prometheus", () => {
  it("prometheus.yml scrapes every npm start process on /metrics and loads alerts.yml", () => {
    const cfg = parse(read("docs/prometheus/prometheus.yml")) as {
      rule_files: string[];
      scrape_configs: { job_name: string; metrics_path?: string; static_configs: { targets: string[] }[] }[];
    };
    expect(cfg.rule_files).toContain("alerts.yml");
    const jobs = cfg.scrape_configs.map((j) => j.job_name);
    expect(new Set(jobs).size).toBe(jobs.length);
    for (const j of cfg.scrape_configs) expect(j.metrics_path ?? "/metrics").toBe("/metrics");
    const targets = cfg.scrape_configs.flatMap((j) => j.static_configs.flatMap((s) => s.targets));
    const want = [...startOpsPorts().keys()];
    expect(want.length).toBeGreaterThanOrEqual(8); // 2 each: coordinator, field, chat, gateway
    expect([...targets].sort()).toEqual([...want].sort());
    for (const j of cfg.scrape_configs) for (const t of j.static_configs.flatMap((c) => c.targets)) expect(j.job_name).toBe(`rift-${startOpsPorts().get(t)}`);
  });

  it("prometheus-file-sd.yml uses file_sd and the example target file lists the same processes", () => {
    const cfg = parse(read("docs/prometheus/prometheus-file-sd.yml")) as {
      rule_files: string[];
      scrape_configs: { job_name: string; file_sd_configs: { files: string[] }[] }[];
    };
    expect(cfg.rule_files).toContain("alerts.yml");
    expect(cfg.scrape_configs[0]!.file_sd_configs[0]!.files).toContain("targets/*.json");
    const groups = JSON.parse(read("docs/prometheus/targets/rift.json")) as { targets: string[]; labels: Record<string, string> }[];
    expect(groups.flatMap((g) => g.targets).sort()).toEqual([...startOpsPorts().keys()].sort());
  });

  it("alerts.yml: well-formed rules whose metrics exist and are documented; covers the required cases", () => {
    const rules = (parse(read("docs/prometheus/alerts.yml")) as { groups: { name: string; rules: Rule[] }[] }).groups.flatMap((g) => g.rules);
    expect(rules.length).toBeGreaterThanOrEqual(8);
    const names = rules.map((r) => r.alert);
    expect(new Set(names).size).toBe(names.length);
    const used = new Set<string>();
    for (const r of rules) {
      expect(r.alert, JSON.stringify(r)).toMatch(/^Rift[A-Za-z0-9]+$/);
      expect(typeof r.expr).toBe("string");
      expect(r.labels?.severity).toMatch(/^(info|warning|critical)$/);
      expect(r.annotations?.summary).toBeTruthy();
      if (r.for !== undefined) expect(r.for).toMatch(/^\d+[smh]$/);
      // balanced brackets: a cheap syntax sanity check (no promtool here)
      for (const [o, c] of ["()", "[]", "{}"]) expect(r.expr.split(o!).length, `${r.alert} ${o}${c}`).toBe(r.expr.split(c!).length);
      for (const m of r.expr.matchAll(/\brift_[a-z0-9_]+/g)) used.add(baseMetricName(m[0], known));
    }
    const unknown = [...used].filter((n) => !known.has(n));
    expect(unknown).toEqual([]);
    expect([...used].filter((n) => !doc.includes(`\`${n}\``))).toEqual([]);
    for (const required of [
      "rift_field_tick_duration_seconds", // tick p99
      "rift_field_packet_queue_length", // queue growth
      "rift_field_flush_failures_total",
      "rift_field_flush_lag_seconds",
      "rift_db_primary_switches_total", // shard primary changes
      "rift_breaker_state",
    ])
      expect(used.has(required), required).toBe(true);
    // every alert is listed in the docs
    expect(names.filter((n) => !doc.includes(`\`${n}\``))).toEqual([]);
  });
});

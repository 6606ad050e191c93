/**
 * Every `rift_*` metric name the code registers, found by scanning src/ for the ways metrics
 * are created: `counter|gauge|histogram(reg, "rift_…")`, `new Gauge|Counter|Histogram({ name:
 * "rift_…" })`, exported `…_METRIC = "rift_…"` constants, and the scene host's `n("…")`
 * (prefix `rift_field_`, the only scene role so far). Used by the docs tests so a metric added
 * anywhere must be documented in docs/OPERATIONS.md.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const SRC = fileURLToPath(new URL("../../src", import.meta.url));

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...tsFiles(p));
    else if (e.name.endsWith(".ts")) out.push(p);
  }
  return out;
}

const PATTERNS = [
  /\b(?:counter|gauge|histogram)\(\s*[\w.]+,\s*"(rift_[a-z0-9_]+)"/g,
  /\bname:\s*"(rift_[a-z0-9_]+)"/g,
  /_METRIC\s*=\s*"(rift_[a-z0-9_]+)"/g,
];

/** Metric name → the source files (relative to src/) registering it. */
export function codeMetricNames(): Map<string, string[]> {
  const names = new Map<string, string[]>();
  const add = (n: string, file: string) => names.set(n, [...(names.get(n) ?? []), file]);
  for (const file of tsFiles(SRC)) {
    const text = readFileSync(file, "utf8");
    const rel = file.slice(SRC.length + 1);
    for (const re of PATTERNS) for (const m of text.matchAll(re)) add(m[1]!, rel);
    if (rel === join("core", "scene", "metrics.ts")) for (const m of text.matchAll(/\bn\("([a-z0-9_]+)"\)/g)) add(`rift_field_${m[1]}`, rel);
  }
  return names;
}

/** A PromQL series name without its histogram suffix (`_bucket`, `_sum`, `_count`) when the base is a known histogram. */
export function baseMetricName(series: string, known: ReadonlySet<string>): string {
  if (known.has(series)) return series;
  const m = /^(.*)_(bucket|sum|count)$/.exec(series);
  return m && known.has(m[1]!) ? m[1]! : series;
}

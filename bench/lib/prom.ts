/**
 * Reading a process's Prometheus `/metrics` (pure parsing + a fetch helper): samples by
 * name and labels, histogram buckets, and quantiles of the DIFFERENCE of two scrapes
 * (the distribution of what happened between them).
 */

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

export function parseMetrics(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const m = LINE.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    if (m[2]) for (const l of m[2].matchAll(LABEL)) labels[l[1]!] = l[2]!.replace(/\\(.)/g, "$1");
    const value = m[3] === "+Inf" ? Infinity : Number(m[3]);
    if (!Number.isNaN(value)) out.push({ name: m[1]!, labels, value });
  }
  return out;
}

export class Scrape {
  constructor(
    readonly samples: Sample[],
    readonly at: number,
  ) {}

  /** Sum of every series of `name` whose labels include `match`. */
  sum(name: string, match: Record<string, string> = {}): number {
    let s = 0;
    for (const x of this.samples) if (x.name === name && Object.entries(match).every(([k, v]) => x.labels[k] === v)) s += x.value;
    return s;
  }

  /** Cumulative bucket counts of histogram `name` by upper bound (sorted, +Inf last). */
  buckets(name: string): { le: number; count: number }[] {
    const by = new Map<number, number>();
    for (const x of this.samples) {
      if (x.name !== `${name}_bucket`) continue;
      const le = x.labels.le === "+Inf" ? Infinity : Number(x.labels.le);
      by.set(le, (by.get(le) ?? 0) + x.value);
    }
    return [...by.entries()].map(([le, count]) => ({ le, count })).sort((a, b) => a.le - b.le);
  }
}

export async function scrape(url: string, timeoutMs = 5000): Promise<Scrape> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return new Scrape(parseMetrics(await res.text()), performance.now());
}

export interface HistogramDelta {
  count: number;
  sum: number;
  /** Cumulative counts by upper bound (seconds), for what happened between the scrapes. */
  buckets: { le: number; count: number }[];
}

export function histogramDelta(a: Scrape, b: Scrape, name: string): HistogramDelta {
  const ab = new Map(a.buckets(name).map((x) => [x.le, x.count]));
  const buckets = b.buckets(name).map((x) => ({ le: x.le, count: x.count - (ab.get(x.le) ?? 0) }));
  return { count: b.sum(`${name}_count`) - a.sum(`${name}_count`), sum: b.sum(`${name}_sum`) - a.sum(`${name}_sum`), buckets };
}

/**
 * Quantile q (0..1) of a bucketed histogram, linearly interpolated inside its bucket (as
 * Prometheus' histogram_quantile does). Returns the lower bound of the +Inf bucket when the
 * quantile falls there, 0 when empty.
 */
export function bucketQuantile(h: HistogramDelta, q: number): number {
  const total = h.buckets.at(-1)?.count ?? 0;
  if (total <= 0) return 0;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const b of h.buckets) {
    if (b.count >= rank) {
      if (b.le === Infinity) return prevLe;
      const inBucket = b.count - prevCount;
      return inBucket <= 0 ? b.le : prevLe + ((b.le - prevLe) * (rank - prevCount)) / inBucket;
    }
    prevLe = b.le;
    prevCount = b.count;
  }
  return prevLe;
}

/** Fraction of observations ≤ `le` (exact when `le` is a bucket bound). */
export function fractionAtOrBelow(h: HistogramDelta, le: number): number {
  const total = h.buckets.at(-1)?.count ?? 0;
  if (total <= 0) return 1;
  const b = h.buckets.find((x) => x.le === le);
  return b ? b.count / total : bucketFractionInterp(h, le, total);
}

function bucketFractionInterp(h: HistogramDelta, le: number, total: number): number {
  let prevLe = 0;
  let prevCount = 0;
  for (const b of h.buckets) {
    if (b.le >= le) return (prevCount + ((b.count - prevCount) * (le - prevLe)) / (b.le - prevLe || 1)) / total;
    prevLe = b.le;
    prevCount = b.count;
  }
  return 1;
}

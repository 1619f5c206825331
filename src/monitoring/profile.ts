/**
 * Dataset profiles: per-column summaries that are small, JSON-serializable and mergeable, so a reference profile
 * can be stored with a model version and window profiles combined (hours into a day) without the raw rows.
 *
 * Per column: type, rows, missing count and share; for numbers count / sum / mean / M2 (merged with Chan et al.'s
 * parallel formula), population std, min, max, a KLL quantile sketch (≈ 1.65 % rank error at k = 200) with
 * quantiles read from it, and a histogram on fixed bins (the reference's deciles unless given); for categories,
 * booleans and text, value counts bounded at `maxCategories` with the rest in `other`.
 */
import { invalidParameter } from '../core/errors.js';
import { categoryKey, columnsFromRows, inferColumnType, isMissing, type ColumnType, type Columns, type Schema } from './columns.js';
import { binIndex } from './stats/histogram.js';
import { KllSketch, type KllState } from './stats/quantile-sketch.js';

export const PROFILE_VERSION = 1;
export const PROFILE_QUANTILES = [0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99] as const;
const DEFAULT_MAX_CATEGORIES = 1000;
const DEFAULT_HISTOGRAM_BINS = 10;

export interface HistogramProfile {
  /** Ascending bin edges; bin i holds edges[i] ≤ v < edges[i+1], the last bin also its right edge. */
  edges: number[];
  counts: number[];
  /** Values below the first edge / above the last (a window beyond the reference's range). */
  below: number;
  above: number;
  /** True when the counts were estimated from the sketch (a streamed reference, whose bins came last). */
  approximate: boolean;
}

export interface NumericProfile {
  count: number;
  sum: number;
  mean: number | null;
  /** Σ (x − mean)², kept for merging. */
  m2: number;
  /** Population standard deviation (numpy's default, ddof 0). */
  std: number | null;
  min: number | null;
  max: number | null;
  /** Quantiles from the sketch, keyed "p01", "p05", "p25", "p50", "p75", "p95", "p99". */
  quantiles: Record<string, number | null>;
  sketch: KllState;
  histogram: HistogramProfile | null;
}

export interface CategoryProfile {
  /** Count per value (booleans as "true"/"false"), the most frequent `maxCategories` of them. */
  counts: Record<string, number>;
  /** Values counted but folded out of `counts` to keep it bounded. */
  other: number;
  /** True once any value was folded into `other` (its counts are then lower bounds). */
  truncated: boolean;
}

export interface FeatureProfile {
  type: ColumnType;
  rows: number;
  /** Missing values: null, undefined, NaN, ±Infinity, and values of another type than the column's. */
  missing: number;
  missingShare: number | null;
  /** Present values of another type than the column's (a string in a numeric column), also in `missing`. */
  typeMismatch: number;
  numeric?: NumericProfile;
  categories?: CategoryProfile;
}

export interface DatasetProfile {
  version: typeof PROFILE_VERSION;
  rows: number;
  /** The model's prediction column, profiled like the features. */
  prediction: string | null;
  features: Record<string, FeatureProfile>;
}

export interface ProfileOptions {
  schema?: Schema;
  prediction?: string;
  /** Histogram edges per numeric column; a reference profile's edges are taken from it. */
  bins?: Record<string, number[]>;
  reference?: DatasetProfile;
  maxCategories?: number;
  sketchK?: number;
  /** Bins derived from a column's own quantiles when none are given (default 10: deciles). */
  histogramBins?: number;
}

class NumericAccumulator {
  count = 0;
  sum = 0;
  mean = 0;
  m2 = 0;
  min = Infinity;
  max = -Infinity;
  sketch: KllSketch;
  counts: number[] | null;
  below = 0;
  above = 0;

  constructor(k: number, readonly edges: number[] | null) {
    this.sketch = new KllSketch(k);
    this.counts = edges ? new Array(edges.length - 1).fill(0) : null;
  }

  /** Adds finite values (Welford per value, then the sketch and the histogram). */
  addAll(values: ArrayLike<number>): void {
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      this.count++;
      this.sum += v;
      const d = v - this.mean;
      this.mean += d / this.count;
      this.m2 += d * (v - this.mean);
      if (v < this.min) this.min = v;
      if (v > this.max) this.max = v;
      if (this.edges && this.counts) {
        const b = binIndex(this.edges, v);
        if (b >= 0) this.counts[b]++;
        else if (v < this.edges[0]) this.below++;
        else this.above++;
      }
    }
    this.sketch.addAll(values);
  }
}

class FeatureAccumulator {
  rows = 0;
  missing = 0;
  typeMismatch = 0;
  numeric: NumericAccumulator | null = null;
  categories: Map<string, number> | null = null;
  other = 0;
  truncated = false;
  #pending: number[] = [];

  constructor(readonly type: ColumnType, readonly options: Required<Pick<ProfileOptions, 'maxCategories' | 'sketchK'>>, edges: number[] | null) {
    if (type === 'numeric') this.numeric = new NumericAccumulator(options.sketchK, edges);
    else this.categories = new Map();
  }

  add(v: unknown): void {
    this.rows++;
    if (isMissing(v)) {
      this.missing++;
      return;
    }
    if (this.numeric) {
      if (typeof v !== 'number') {
        this.missing++;
        this.typeMismatch++;
        return;
      }
      this.#pending.push(v);
      if (this.#pending.length >= 4096) this.flush();
      return;
    }
    const key = categoryKey(v);
    const counts = this.categories as Map<string, number>;
    counts.set(key, (counts.get(key) ?? 0) + 1);
    if (counts.size > 2 * this.options.maxCategories) this.fold();
  }

  addColumn(values: ArrayLike<unknown>): void {
    if (this.numeric && values instanceof Float64Array) {
      const present = new Float64Array(values.length);
      let k = 0;
      for (let i = 0; i < values.length; i++) if (Number.isFinite(values[i])) present[k++] = values[i];
      this.rows += values.length;
      this.missing += values.length - k;
      this.numeric.addAll(present.subarray(0, k));
      return;
    }
    for (let i = 0; i < values.length; i++) this.add(values[i]);
  }

  flush(): void {
    if (this.numeric && this.#pending.length) {
      this.numeric.addAll(this.#pending);
      this.#pending = [];
    }
  }

  fold(): void {
    if (!this.categories) return;
    const folded = foldCategories(this.categories, this.options.maxCategories);
    if (folded === null) return;
    this.other += folded;
    this.truncated = true;
  }
}

/** Builds a profile from rows or column batches, in one pass and bounded memory. */
export class ProfileBuilder {
  #features = new Map<string, FeatureAccumulator>();
  #rows = 0;
  readonly #options: ProfileOptions & { maxCategories: number; sketchK: number };

  constructor(options: ProfileOptions = {}) {
    const maxCategories = options.maxCategories ?? DEFAULT_MAX_CATEGORIES;
    const sketchK = options.sketchK ?? 200;
    if (!(Number.isInteger(maxCategories) && maxCategories >= 1)) throw invalidParameter(`maxCategories must be a positive integer, got ${maxCategories}`);
    if (!(Number.isInteger(sketchK) && sketchK >= 8)) throw invalidParameter(`sketchK must be an integer ≥ 8, got ${sketchK}`);
    this.#options = { ...options, maxCategories, sketchK };
  }

  get rows(): number {
    return this.#rows;
  }

  /** One row; columns absent from it count as missing there. */
  addRow(row: Record<string, unknown>): this {
    for (const [name, v] of Object.entries(row)) {
      if (!this.#features.has(name) && isMissing(v) && !this.#options.schema?.[name]) continue; // typed by its first value
      this.#feature(name, v).add(v);
    }
    this.#rows++;
    for (const f of this.#features.values()) if (f.rows < this.#rows) { f.missing += this.#rows - f.rows; f.rows = this.#rows; }
    return this;
  }

  /** A batch of columns of equal length. */
  addColumns(columns: Columns): this {
    let n = 0;
    for (const values of Object.values(columns)) n = Math.max(n, values.length);
    for (const [name, values] of Object.entries(columns)) {
      const f = this.#featureFor(name, () => this.#options.schema?.[name] ?? inferColumnType(values));
      f.addColumn(values);
    }
    this.#rows += n;
    for (const f of this.#features.values()) if (f.rows < this.#rows) { f.missing += this.#rows - f.rows; f.rows = this.#rows; }
    return this;
  }

  toProfile(): DatasetProfile {
    const features: Record<string, FeatureProfile> = {};
    for (const [name, f] of this.#features) {
      f.flush();
      f.fold();
      features[name] = featureProfile(f, this.#options.histogramBins ?? DEFAULT_HISTOGRAM_BINS);
    }
    return { version: PROFILE_VERSION, rows: this.#rows, prediction: this.#options.prediction ?? null, features };
  }

  #feature(name: string, first: unknown): FeatureAccumulator {
    return this.#featureFor(name, () => this.#options.schema?.[name] ?? inferColumnType([first]));
  }

  #featureFor(name: string, type: () => ColumnType): FeatureAccumulator {
    let f = this.#features.get(name);
    if (!f) {
      const t = type();
      const edges = this.#options.bins?.[name] ?? this.#options.reference?.features[name]?.numeric?.histogram?.edges ?? null;
      f = new FeatureAccumulator(t, this.#options, t === 'numeric' ? edges : null);
      // A column first seen after some rows was missing in them.
      f.rows = f.missing = this.#rows;
      this.#features.set(name, f);
    }
    return f;
  }
}

function featureProfile(f: FeatureAccumulator, histogramBins: number): FeatureProfile {
  const base = { type: f.type, rows: f.rows, missing: f.missing, missingShare: f.rows ? f.missing / f.rows : null, typeMismatch: f.typeMismatch };
  if (f.numeric) {
    const n = f.numeric;
    const histogram = n.edges && n.counts
      ? { edges: n.edges, counts: n.counts, below: n.below, above: n.above, approximate: false }
      : sketchHistogram(n.sketch, histogramBins);
    return { ...base, numeric: numericProfile(n.count, n.sum, n.mean, n.m2, n.min, n.max, n.sketch, histogram) };
  }
  return { ...base, categories: { counts: Object.fromEntries(f.categories ?? []), other: f.other, truncated: f.truncated } };
}

function numericProfile(count: number, sum: number, mean: number, m2: number, min: number, max: number, sketch: KllSketch, histogram: HistogramProfile | null): NumericProfile {
  const qs = sketch.quantiles(PROFILE_QUANTILES);
  return {
    count,
    sum,
    mean: count ? mean : null,
    m2,
    std: count ? Math.sqrt(m2 / count) : null,
    min: count ? min : null,
    max: count ? max : null,
    quantiles: Object.fromEntries(PROFILE_QUANTILES.map((q, i) => [quantileKey(q), qs[i]])),
    sketch: sketch.toState(),
    histogram,
  };
}

const quantileKey = (q: number) => `p${String(Math.round(q * 100)).padStart(2, '0')}`;

/** Edges at the sketch's quantiles 0, 1/bins, …, 1 (duplicates dropped), counts estimated from its CDF. */
function sketchHistogram(sketch: KllSketch, bins: number): HistogramProfile | null {
  if (sketch.count === 0) return null;
  const edges = histogramEdges(sketch, bins);
  const n = sketch.count;
  const counts: number[] = [];
  let prev = 0;
  for (let i = 1; i < edges.length; i++) {
    const upTo = i === edges.length - 1 ? 1 : sketch.cdf(nextDown(edges[i]));
    counts.push(Math.round(n * upTo) - Math.round(n * prev));
    prev = upTo;
  }
  return { edges, counts, below: 0, above: 0, approximate: true };
}

function histogramEdges(sketch: KllSketch, bins: number): number[] {
  // A column with few distinct values (codes, ratings) gets one bin per value, so no two values share a bin.
  const distinct = [...new Set(sketch.distribution().values)];
  if (distinct.length <= bins) return [...distinct, nextUp(distinct[distinct.length - 1])];
  const qs = Array.from({ length: bins + 1 }, (_, i) => i / bins);
  return [...new Set(sketch.quantiles(qs) as number[])];
}

function nextUp(x: number): number {
  return -nextDown(-x);
}

/** The largest double below x: the CDF just left of an edge counts what lies in the bins before it. */
function nextDown(x: number): number {
  if (x === 0) return -Number.MIN_VALUE;
  const buf = new Float64Array([x]);
  const bits = new BigInt64Array(buf.buffer);
  bits[0] += x > 0 ? -1n : 1n;
  return buf[0];
}

/**
 * Profiles a whole data set in memory. Unlike the streaming builder it can bin after seeing the data, so its
 * histograms (on the column's own sketch deciles, unless `bins` or `reference` give edges) have exact counts.
 */
export function profileColumns(columns: Columns, options: ProfileOptions = {}): DatasetProfile {
  const first = new ProfileBuilder(options).addColumns(columns).toProfile();
  const bins: Record<string, number[]> = {};
  for (const [name, f] of Object.entries(first.features)) {
    const h = f.numeric?.histogram;
    if (h && h.approximate) bins[name] = h.edges;
  }
  if (!Object.keys(bins).length) return first;
  return new ProfileBuilder({ ...options, bins: { ...bins, ...options.bins } }).addColumns(columns).toProfile();
}

/** `profileColumns` over row objects. */
export function profileRows(rows: readonly Record<string, unknown>[], options: ProfileOptions = {}): DatasetProfile {
  return profileColumns(columnsFromRows(rows), options);
}

/**
 * Combines two profiles of disjoint row sets (two windows). Counts, sums, min, max, category counts (below the
 * cap) and same-edged histograms add exactly; mean and M2 combine by Chan, Golub & LeVeque's formula; sketches
 * merge (see quantile-sketch.ts for their error). A column in only one profile is all-missing in the other.
 * Throws INVALID_PARAMETER_VALUE when a column is numeric in one profile and not in the other.
 */
export function mergeProfiles(a: DatasetProfile, b: DatasetProfile, options: { maxCategories?: number } = {}): DatasetProfile {
  const maxCategories = options.maxCategories ?? DEFAULT_MAX_CATEGORIES;
  const names = [...new Set([...Object.keys(a.features), ...Object.keys(b.features)])];
  const features: Record<string, FeatureProfile> = {};
  for (const name of names) {
    const fa = a.features[name] ?? absent(b.features[name], a.rows);
    const fb = b.features[name] ?? absent(fa, b.rows);
    features[name] = mergeFeature(name, fa, fb, maxCategories);
  }
  return { version: PROFILE_VERSION, rows: a.rows + b.rows, prediction: a.prediction ?? b.prediction, features };
}

function absent(like: FeatureProfile, rows: number): FeatureProfile {
  const base = { type: like.type, rows, missing: rows, missingShare: rows ? 1 : null, typeMismatch: 0 };
  if (like.numeric) {
    const h = like.numeric.histogram;
    const histogram = h && !h.approximate ? { ...h, counts: h.counts.map(() => 0), below: 0, above: 0 } : null;
    return { ...base, numeric: numericProfile(0, 0, 0, 0, Infinity, -Infinity, new KllSketch(like.numeric.sketch.k), histogram) };
  }
  return { ...base, categories: { counts: {}, other: 0, truncated: false } };
}

function mergeFeature(name: string, a: FeatureProfile, b: FeatureProfile, maxCategories: number): FeatureProfile {
  if (Boolean(a.numeric) !== Boolean(b.numeric)) {
    throw invalidParameter(`column '${name}' is ${a.type} in one profile and ${b.type} in the other`);
  }
  const rows = a.rows + b.rows;
  const missing = a.missing + b.missing;
  const base = { type: a.type === b.type ? a.type : 'categorical' as ColumnType, rows, missing, missingShare: rows ? missing / rows : null, typeMismatch: a.typeMismatch + b.typeMismatch };
  if (a.numeric && b.numeric) {
    const x = a.numeric, y = b.numeric;
    const n = x.count + y.count;
    const delta = (y.mean ?? 0) - (x.mean ?? 0);
    const mean = n ? (x.mean ?? 0) + (delta * y.count) / n : 0;
    const m2 = x.m2 + y.m2 + (n ? (delta * delta * x.count * y.count) / n : 0);
    const sketch = KllSketch.fromState(x.sketch).merge(KllSketch.fromState(y.sketch));
    return {
      ...base,
      numeric: numericProfile(n, x.sum + y.sum, mean, m2, Math.min(x.min ?? Infinity, y.min ?? Infinity), Math.max(x.max ?? -Infinity, y.max ?? -Infinity), sketch, x.count === 0 ? y.histogram : y.count === 0 ? x.histogram : mergeHistograms(x.histogram, y.histogram)),
    };
  }
  const counts = new Map(Object.entries(a.categories?.counts ?? {}));
  for (const [k, c] of Object.entries(b.categories?.counts ?? {})) counts.set(k, (counts.get(k) ?? 0) + c);
  const folded = foldCategories(counts, maxCategories);
  const other = (a.categories?.other ?? 0) + (b.categories?.other ?? 0) + (folded ?? 0);
  const truncated = Boolean(a.categories?.truncated || b.categories?.truncated || folded !== null);
  return { ...base, categories: { counts: Object.fromEntries(counts), other, truncated } };
}

/**
 * Keeps the `max` most frequent values in `counts` (ties by value, so the result does not depend on insertion
 * order) and removes the rest; returns the count removed, or null when nothing had to go.
 */
function foldCategories(counts: Map<string, number>, max: number): number | null {
  if (counts.size <= max) return null;
  const sorted = [...counts].sort((p, q) => q[1] - p[1] || (p[0] < q[0] ? -1 : 1));
  let removed = 0;
  for (const [key, c] of sorted.slice(max)) {
    removed += c;
    counts.delete(key);
  }
  return removed;
}

/** Same edges: counts add. Different or estimated edges cannot be combined exactly: the merge has none. */
function mergeHistograms(a: HistogramProfile | null, b: HistogramProfile | null): HistogramProfile | null {
  if (!a || !b) return null;
  const same = a.edges.length === b.edges.length && a.edges.every((e, i) => e === b.edges[i]);
  if (!same) return null;
  return {
    edges: a.edges,
    counts: a.counts.map((c, i) => c + b.counts[i]),
    below: a.below + b.below,
    above: a.above + b.above,
    approximate: a.approximate || b.approximate,
  };
}

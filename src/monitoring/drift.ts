/**
 * Data drift of a window against a reference, feature by feature, with Evidently's size-aware defaults
 * (`evidently/legacy/calculations/stattests/registry.py`, `_get_default_stattest`):
 *
 * | reference rows | numeric, > 5 distinct values       | categorical (or numeric with ≤ 5 distinct) |
 * |----------------|------------------------------------|--------------------------------------------|
 * | ≤ 1000         | `ks`: p-value < 0.05 drifts        | `chisquare`: p-value < 0.05 drifts          |
 * | > 1000         | `wasserstein` (normed) ≥ 0.1       | `jensenshannon` ≥ 0.1                      |
 *
 * The dataset drifts when the share of drifted features is ≥ 0.5. Every choice can be overridden per feature
 * or per type, with its own threshold. Drift runs on raw columns: the reference is prepared once
 * (`prepareReference`: numbers sorted, categories counted) and each window is sorted per numeric feature.
 * Bad data never throws: empty windows, absent columns, all-missing or constant features get a status and a
 * note; only invalid options (an unknown method, a negative threshold) throw.
 */
import { invalidParameter } from '../core/errors.js';
import { categoryKey, columnsLength, inferColumnType, isMissing, type ColumnType, type Columns, type ColumnValues, type Schema } from './columns.js';
import { chiSquareAgainstReference } from './stats/chisquare.js';
import { histogramSorted, sturgesEdges } from './stats/histogram.js';
import { jensenShannonDistance } from './stats/jensen-shannon.js';
import { ksTwoSample } from './stats/ks.js';
import { psi } from './stats/psi.js';
import { sortedFinite } from './stats/sort.js';
import { populationStd, WASSERSTEIN_NORM_FLOOR, wassersteinDistance } from './stats/wasserstein.js';

export type DriftMethod = 'ks' | 'wasserstein' | 'psi' | 'chisquare' | 'jensenshannon';

/** Statistical tests drift when their p-value is below the threshold; distances when they reach it. */
export const DRIFT_METHODS: Record<DriftMethod, { score: 'p_value' | 'distance'; threshold: number; types: 'numeric' | 'any' }> = {
  ks: { score: 'p_value', threshold: 0.05, types: 'numeric' },
  chisquare: { score: 'p_value', threshold: 0.05, types: 'any' },
  wasserstein: { score: 'distance', threshold: 0.1, types: 'numeric' },
  jensenshannon: { score: 'distance', threshold: 0.1, types: 'any' },
  psi: { score: 'distance', threshold: 0.1, types: 'any' },
};

/** Evidently's defaults: small reference ≤ 1000 rows, "few values" ≤ 5, dataset drift at a 0.5 share. */
export const DRIFT_DEFAULTS = { smallReferenceRows: 1000, fewDistinctValues: 5, driftShare: 0.5, psiBinnedAboveDistinct: 20 } as const;

export interface MethodChoice {
  method?: DriftMethod;
  threshold?: number;
}

export interface DriftOptions {
  /** Features to compare (default: every reference column except the prediction). */
  features?: readonly string[];
  /** The model's prediction column, reported apart in `prediction` and not counted in the drift share. */
  prediction?: string;
  /** Per-feature method and/or threshold. */
  perFeature?: Record<string, MethodChoice>;
  /** For every numeric / categorical feature without a per-feature choice. */
  numeric?: MethodChoice;
  categorical?: MethodChoice;
  /** Dataset drift when drifted / evaluated features ≥ this (default 0.5). */
  driftShare?: number;
}

interface NumericReference {
  type: 'numeric';
  sorted: Float64Array;
  missing: number;
  std: number;
  /** Distinct values, counted up to DRIFT_DEFAULTS.psiBinnedAboveDistinct + 1. */
  distinct: number;
}

interface CategoricalReference {
  type: Exclude<ColumnType, 'numeric'>;
  counts: Map<string, number>;
  present: number;
  missing: number;
}

export type ReferenceFeature = NumericReference | CategoricalReference;

/** A reference prepared for repeated drift checks; keep it (per model version) and reuse it for every window. */
export interface DriftReference {
  rows: number;
  features: Record<string, ReferenceFeature>;
}

export type FeatureDriftStatus = 'drift' | 'no_drift' | 'no_data' | 'missing' | 'no_reference' | 'error';

export interface FeatureDrift {
  feature: string;
  type: ColumnType;
  status: FeatureDriftStatus;
  drifted: boolean;
  method: DriftMethod | null;
  /** `p_value` for tests, `distance` for distances. */
  score: 'p_value' | 'distance' | null;
  value: number | null;
  threshold: number | null;
  /** The test statistic where the method has one (KS D, chi-square χ²); null when infinite. */
  statistic: number | null;
  referenceCount: number;
  currentCount: number;
  currentMissing: number;
  currentMissingShare: number | null;
  note?: string;
}

export interface DriftReport {
  status: 'ok' | 'no_data';
  referenceRows: number;
  currentRows: number;
  features: FeatureDrift[];
  prediction?: FeatureDrift;
  evaluatedFeatures: number;
  driftedFeatures: number;
  /** drifted / evaluated; null when no feature could be evaluated. */
  driftShare: number | null;
  driftShareThreshold: number;
  datasetDrift: boolean;
  note?: string;
}

/** Sorts the numeric reference columns and counts the categorical ones, once. */
export function prepareReference(columns: Columns, options: { schema?: Schema } = {}): DriftReference {
  let rows = 0;
  const features: Record<string, ReferenceFeature> = {};
  for (const [name, values] of Object.entries(columns)) {
    rows = Math.max(rows, values.length);
    features[name] = prepareFeature(values, options.schema?.[name] ?? inferColumnType(values));
  }
  return { rows, features };
}

function prepareFeature(values: ColumnValues, type: ColumnType): ReferenceFeature {
  if (type === 'numeric') {
    const sorted = sortedFinite(values);
    return { type, sorted, missing: values.length - sorted.length, std: populationStd(sorted), distinct: countDistinct(sorted, DRIFT_DEFAULTS.psiBinnedAboveDistinct + 1) };
  }
  const { counts, present } = countCategories(values);
  return { type, counts, present, missing: values.length - present };
}

/** Compares `current` with the prepared reference; see the module comment for the defaults. */
export function detectDrift(reference: DriftReference, current: Columns, options: DriftOptions = {}): DriftReport {
  validateOptions(options);
  const driftShareThreshold = options.driftShare ?? DRIFT_DEFAULTS.driftShare;
  const names = options.features ?? Object.keys(reference.features).filter((n) => n !== options.prediction);
  const currentRows = columnsLength(current);

  const features = driftFeatures(reference, current, names, options, currentRows);
  const prediction = options.prediction !== undefined ? driftFeatures(reference, current, [options.prediction], options, currentRows)[0] : undefined;
  return summarizeDrift(features, prediction, reference.rows, currentRows, driftShareThreshold);
}

/** Per-feature results for `names` (options already validated); the worker pool runs this on its share. */
export function driftFeatures(reference: DriftReference, current: Columns, names: readonly string[], options: DriftOptions, currentRows: number): FeatureDrift[] {
  return names.map((name) => featureDrift(name, reference, current, options, currentRows));
}

/** The report around per-feature results (shared with the worker pool, which computes features apart). */
export function summarizeDrift(features: FeatureDrift[], prediction: FeatureDrift | undefined, referenceRows: number, currentRows: number, driftShareThreshold: number): DriftReport {
  const evaluated = features.filter((f) => f.status === 'drift' || f.status === 'no_drift');
  const drifted = evaluated.filter((f) => f.drifted).length;
  const driftShare = evaluated.length ? drifted / evaluated.length : null;
  const report: DriftReport = {
    status: currentRows === 0 ? 'no_data' : 'ok',
    referenceRows,
    currentRows,
    features,
    ...(prediction ? { prediction } : {}),
    evaluatedFeatures: evaluated.length,
    driftedFeatures: drifted,
    driftShare,
    driftShareThreshold,
    datasetDrift: driftShare !== null && driftShare >= driftShareThreshold,
  };
  if (currentRows === 0) report.note = 'the current window has no rows';
  else if (!evaluated.length) report.note = 'no feature could be compared (see each feature`s status)';
  return report;
}

/**
 * The method and threshold for one feature: the feature's own choice, then its type's, then the default. A
 * threshold given without a method applies to whichever method is chosen; a per-feature method drops the
 * type's threshold (it was meant for another method).
 */
export function resolveChoice(feature: MethodChoice | undefined, type: MethodChoice | undefined, fallback: DriftMethod): { method: DriftMethod; threshold: number | undefined } {
  const method = feature?.method ?? type?.method ?? fallback;
  const threshold = feature?.threshold ?? (feature?.method && feature.method !== type?.method ? undefined : type?.threshold);
  return { method, threshold };
}

export function validateOptions(options: DriftOptions): void {
  const check = (where: string, choice: MethodChoice | undefined) => {
    if (!choice) return;
    if (choice.method !== undefined && !(choice.method in DRIFT_METHODS)) {
      throw invalidParameter(`${where}: unknown drift method '${choice.method}'; choose from ${Object.keys(DRIFT_METHODS).join(', ')}`);
    }
    if (choice.threshold !== undefined && !(Number.isFinite(choice.threshold) && choice.threshold >= 0)) {
      throw invalidParameter(`${where}: threshold must be a finite number ≥ 0, got ${choice.threshold}`);
    }
  };
  check('numeric', options.numeric);
  check('categorical', options.categorical);
  for (const [name, choice] of Object.entries(options.perFeature ?? {})) check(`feature '${name}'`, choice);
  const share = options.driftShare;
  if (share !== undefined && !(share >= 0 && share <= 1)) throw invalidParameter(`driftShare must be in [0, 1], got ${share}`);
}

function featureDrift(name: string, reference: DriftReference, current: Columns, options: DriftOptions, currentRows: number): FeatureDrift {
  const ref = reference.features[name];
  const values = current[name];
  const type: ColumnType = ref?.type ?? (values ? inferColumnType(values) : 'numeric');
  const base: FeatureDrift = {
    feature: name, type, status: 'no_data', drifted: false, method: null, score: null, value: null, threshold: null,
    statistic: null, referenceCount: ref ? presentCount(ref) : 0, currentCount: 0, currentMissing: 0, currentMissingShare: null,
  };
  if (!ref) return { ...base, status: 'no_reference', note: 'the reference has no such column' };
  if (currentRows === 0) return { ...base, note: 'the current window has no rows' };
  if (!values) return { ...base, status: 'missing', note: 'the column is absent from the current window' };

  if (ref.type === 'numeric') {
    const cur = sortedFinite(values);
    const missing = values.length - cur.length;
    const counted: FeatureDrift = { ...base, currentCount: cur.length, currentMissing: missing, currentMissingShare: values.length ? missing / values.length : null };
    const notNumbers = values instanceof Float64Array ? 0 : countNotNumbers(values);
    if (notNumbers) counted.note = `${notNumbers} current values are not numbers (counted as missing)`;
    if (!ref.sorted.length) return { ...counted, status: 'no_reference', note: 'every reference value is missing' };
    if (!cur.length) return { ...counted, note: [counted.note, 'every current value is missing'].filter(Boolean).join('; ') };
    const fewValues = ref.distinct <= DRIFT_DEFAULTS.fewDistinctValues && distinctUnion(ref.sorted, cur, DRIFT_DEFAULTS.fewDistinctValues + 1) <= DRIFT_DEFAULTS.fewDistinctValues;
    const small = ref.sorted.length <= DRIFT_DEFAULTS.smallReferenceRows;
    const fallback: DriftMethod = fewValues ? (small ? 'chisquare' : 'jensenshannon') : small ? 'ks' : 'wasserstein';
    const { method, threshold } = resolveChoice(options.perFeature?.[name], options.numeric, fallback);
    return verdict(counted, method, threshold, numericScore(method, ref, cur));
  }

  const { counts, present } = countCategories(values);
  const missing = values.length - present;
  const counted: FeatureDrift = { ...base, currentCount: present, currentMissing: missing, currentMissingShare: values.length ? missing / values.length : null };
  if (!ref.present) return { ...counted, status: 'no_reference', note: 'every reference value is missing' };
  if (!present) return { ...counted, note: 'every current value is missing' };
  const fallback = ref.present <= DRIFT_DEFAULTS.smallReferenceRows ? 'chisquare' : 'jensenshannon';
  const { method, threshold } = resolveChoice(options.perFeature?.[name], options.categorical, fallback);
  if (DRIFT_METHODS[method].types === 'numeric') {
    return { ...counted, status: 'error', method, note: `${method} needs numbers; '${name}' is ${ref.type}` };
  }
  const [refCounts, curCounts] = alignCounts(ref.counts, counts);
  return verdict(counted, method, threshold, countScore(method, refCounts, curCounts));
}

/** A method's raw outcome before it is judged against a threshold (shared with profile-drift.ts). */
export interface Score {
  value: number;
  statistic?: number;
  note?: string;
}

/** Judges a score against the method's (or the given) threshold; non-finite scores become an error status. */
export function verdict(f: FeatureDrift, method: DriftMethod, threshold: number | undefined, score: Score): FeatureDrift {
  const spec = DRIFT_METHODS[method];
  const t = threshold ?? spec.threshold;
  const out: FeatureDrift = { ...f, method, score: spec.score, threshold: t };
  if (score.statistic !== undefined) out.statistic = Number.isFinite(score.statistic) ? score.statistic : null;
  const note = [f.note, score.note].filter(Boolean).join('; ');
  if (note) out.note = note;
  if (!Number.isFinite(score.value)) return { ...out, status: 'error', note: [out.note, `${method} gave no finite value`].filter(Boolean).join('; ') };
  const drifted = spec.score === 'p_value' ? score.value < t : score.value >= t;
  return { ...out, value: score.value, drifted, status: drifted ? 'drift' : 'no_drift' };
}

function numericScore(method: DriftMethod, ref: NumericReference, cur: Float64Array): Score {
  switch (method) {
    case 'ks': {
      const r = ksTwoSample(ref.sorted, cur);
      return { value: r.pValue, statistic: r.statistic, note: `${r.method} p-value` };
    }
    case 'wasserstein': {
      const distance = wassersteinDistance(ref.sorted, cur);
      const constant = ref.std < WASSERSTEIN_NORM_FLOOR;
      return {
        value: distance / Math.max(ref.std, WASSERSTEIN_NORM_FLOOR),
        statistic: distance,
        ...(constant ? { note: `reference std ${ref.std} is below ${WASSERSTEIN_NORM_FLOOR}: distance divided by ${WASSERSTEIN_NORM_FLOOR} (Evidently's floor)` } : {}),
      };
    }
    default: {
      // Evidently's get_binned_data: Sturges bins over both samples when the reference has > 20 distinct values,
      // one bucket per value otherwise.
      let refCounts: Float64Array, curCounts: Float64Array;
      if (ref.distinct > DRIFT_DEFAULTS.psiBinnedAboveDistinct) {
        const min = Math.min(ref.sorted[0], cur[0]);
        const max = Math.max(ref.sorted[ref.sorted.length - 1], cur[cur.length - 1]);
        const edges = sturgesEdges(ref.sorted.length + cur.length, min, max);
        refCounts = histogramSorted(ref.sorted, edges);
        curCounts = histogramSorted(cur, edges);
      } else {
        [refCounts, curCounts] = alignSortedValues(ref.sorted, cur);
      }
      return countScore(method, refCounts, curCounts);
    }
  }
}

/** chi-square, PSI or Jensen–Shannon over aligned reference and current counts. */
export function countScore(method: DriftMethod, refCounts: Float64Array, curCounts: Float64Array): Score {
  if (method === 'chisquare') {
    const r = chiSquareAgainstReference(refCounts, curCounts);
    const unseen = r.statistic === Infinity ? 'a category absent from the reference appears: chi-square is infinite, p-value 0' : undefined;
    return { value: r.pValue, statistic: r.statistic, ...(unseen ? { note: unseen } : {}) };
  }
  const nRef = sum(refCounts), nCur = sum(curCounts);
  const refShares = refCounts.map((c) => c / nRef);
  const curShares = curCounts.map((c) => c / nCur);
  return { value: method === 'psi' ? psi(refShares, curShares) : jensenShannonDistance(refShares, curShares) };
}

function countCategories(values: ColumnValues): { counts: Map<string, number>; present: number } {
  // One Map lookup per value into an index of few slots; counts in a typed array, turned into a Map at the end.
  const index = new Map<string, number>();
  let slots = new Float64Array(16);
  let present = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (isMissing(v)) continue;
    present++;
    const key = typeof v === 'string' ? v : categoryKey(v);
    let k = index.get(key);
    if (k === undefined) {
      k = index.size;
      index.set(key, k);
      if (k >= slots.length) {
        const grown = new Float64Array(slots.length * 2);
        grown.set(slots);
        slots = grown;
      }
    }
    slots[k]++;
  }
  const counts = new Map<string, number>();
  for (const [key, k] of index) counts.set(key, slots[k]);
  return { counts, present };
}

function alignCounts(ref: Map<string, number>, cur: Map<string, number>): [Float64Array, Float64Array] {
  const keys = [...new Set([...ref.keys(), ...cur.keys()])];
  return [Float64Array.from(keys, (k) => ref.get(k) ?? 0), Float64Array.from(keys, (k) => cur.get(k) ?? 0)];
}

/** Counts per distinct value of two sorted samples, over the union of their values. */
function alignSortedValues(a: Float64Array, b: Float64Array): [Float64Array, Float64Array] {
  const ca: number[] = [], cb: number[] = [];
  let i = 0, j = 0;
  while (i < a.length || j < b.length) {
    const v = j >= b.length || (i < a.length && a[i] <= b[j]) ? a[i] : b[j];
    let na = 0, nb = 0;
    while (i < a.length && a[i] === v) { i++; na++; }
    while (j < b.length && b[j] === v) { j++; nb++; }
    ca.push(na);
    cb.push(nb);
  }
  return [Float64Array.from(ca), Float64Array.from(cb)];
}

function countDistinct(sorted: Float64Array, stopAt: number): number {
  let n = 0;
  for (let i = 0; i < sorted.length && n < stopAt; i++) if (i === 0 || sorted[i] !== sorted[i - 1]) n++;
  return n;
}

function distinctUnion(a: Float64Array, b: Float64Array, stopAt: number): number {
  const seen = new Set<number>();
  for (const s of [a, b]) {
    for (let i = 0; i < s.length; i++) {
      if (i > 0 && s[i] === s[i - 1]) continue;
      seen.add(s[i]);
      if (seen.size >= stopAt) return seen.size;
    }
  }
  return seen.size;
}

function countNotNumbers(values: ArrayLike<unknown>): number {
  let n = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (typeof v !== 'number' && !isMissing(v)) n++;
  }
  return n;
}

function presentCount(ref: ReferenceFeature): number {
  return ref.type === 'numeric' ? ref.sorted.length : ref.present;
}

function sum(a: Float64Array): number {
  let s = 0;
  for (const v of a) s += v;
  return s;
}

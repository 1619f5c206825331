/**
 * Drift between two profiles, for when the raw rows are gone (a day merged from hourly window profiles) or too
 * many to keep. Counts in profiles are exact, so chi-square, Jensen–Shannon and PSI over category counts and
 * over the reference's histogram bins are exact for those bins (numeric PSI here bins on the reference's
 * deciles, the usual PSI binning, not on Evidently's Sturges bins over both samples, which need raw values).
 * Wasserstein and KS come from the KLL sketches: the Wasserstein distance and KS statistic between the two
 * sketched distributions, whose rank error is ≈ 1.65 % each, and the KS p-value from the asymptotic
 * distribution; both are marked approximate in the feature's note. Defaults and thresholds are those of
 * `detectDrift`.
 */
import type { ColumnType } from './columns.js';
import {
  countScore, DRIFT_DEFAULTS, DRIFT_METHODS, resolveChoice, validateOptions, verdict,
  type DriftMethod, type DriftOptions, type DriftReport, type FeatureDrift, type Score,
} from './drift.js';
import type { DatasetProfile, FeatureProfile, NumericProfile } from './profile.js';
import { kolmogorovSf } from './stats/kolmogorov.js';
import { KllSketch } from './stats/quantile-sketch.js';
import { WASSERSTEIN_NORM_FLOOR } from './stats/wasserstein.js';

const APPROXIMATE = 'approximate: computed from the profiles` quantile sketches';

/** `detectDrift` over a reference profile and a window profile (build the window with `{ reference }` for shared bins). */
export function detectDriftFromProfiles(reference: DatasetProfile, current: DatasetProfile, options: DriftOptions = {}): DriftReport {
  validateOptions(options);
  const driftShareThreshold = options.driftShare ?? DRIFT_DEFAULTS.driftShare;
  const prediction = options.prediction ?? reference.prediction ?? undefined;
  const names = options.features ?? Object.keys(reference.features).filter((n) => n !== prediction);
  const features = names.map((n) => featureDrift(n, reference, current, options));
  const predictionDrift = prediction !== undefined ? featureDrift(prediction, reference, current, options) : undefined;
  const evaluated = features.filter((f) => f.status === 'drift' || f.status === 'no_drift');
  const drifted = evaluated.filter((f) => f.drifted).length;
  const driftShare = evaluated.length ? drifted / evaluated.length : null;
  return {
    status: current.rows === 0 ? 'no_data' : 'ok',
    referenceRows: reference.rows,
    currentRows: current.rows,
    features,
    ...(predictionDrift ? { prediction: predictionDrift } : {}),
    evaluatedFeatures: evaluated.length,
    driftedFeatures: drifted,
    driftShare,
    driftShareThreshold,
    datasetDrift: driftShare !== null && driftShare >= driftShareThreshold,
    ...(current.rows === 0 ? { note: 'the current window has no rows' } : {}),
  };
}

function featureDrift(name: string, reference: DatasetProfile, current: DatasetProfile, options: DriftOptions): FeatureDrift {
  const ref = reference.features[name];
  const cur = current.features[name];
  const type: ColumnType = ref?.type ?? cur?.type ?? 'numeric';
  const base: FeatureDrift = {
    feature: name, type, status: 'no_data', drifted: false, method: null, score: null, value: null, threshold: null, statistic: null,
    referenceCount: ref ? present(ref) : 0, currentCount: cur ? present(cur) : 0, currentMissing: cur?.missing ?? 0, currentMissingShare: cur?.missingShare ?? null,
  };
  if (!ref) return { ...base, status: 'no_reference', note: 'the reference profile has no such column' };
  if (current.rows === 0) return { ...base, note: 'the current window has no rows' };
  if (!cur) return { ...base, status: 'missing', note: 'the column is absent from the current profile' };
  if (!base.referenceCount) return { ...base, status: 'no_reference', note: 'every reference value is missing' };
  if (!base.currentCount) return { ...base, note: 'every current value is missing' };
  if (Boolean(ref.numeric) !== Boolean(cur.numeric)) return { ...base, status: 'error', note: `the column is ${ref.type} in the reference but ${cur.type} in the window` };

  if (ref.numeric && cur.numeric) {
    const few = distinctAtMost(ref.numeric, DRIFT_DEFAULTS.fewDistinctValues);
    const small = ref.numeric.count <= DRIFT_DEFAULTS.smallReferenceRows;
    const fallback: DriftMethod = few ? (small ? 'chisquare' : 'jensenshannon') : small ? 'ks' : 'wasserstein';
    const { method, threshold } = resolveChoice(options.perFeature?.[name], options.numeric, fallback);
    return verdict(base, method, threshold, numericScore(method, ref.numeric, cur.numeric));
  }
  const fallback: DriftMethod = present(ref) <= DRIFT_DEFAULTS.smallReferenceRows ? 'chisquare' : 'jensenshannon';
  const { method, threshold } = resolveChoice(options.perFeature?.[name], options.categorical, fallback);
  if (DRIFT_METHODS[method].types === 'numeric') return { ...base, status: 'error', method, note: `${method} needs numbers; '${name}' is ${ref.type}` };
  const [r, c, truncated] = alignCategories(ref, cur);
  const score = countScore(method, r, c);
  return verdict(base, method, threshold, truncated ? { ...score, note: 'categories beyond the profile`s cap are pooled as "other"' } : score);
}

function numericScore(method: DriftMethod, ref: NumericProfile, cur: NumericProfile): Score {
  const r = KllSketch.fromState(ref.sketch).distribution();
  const c = KllSketch.fromState(cur.sketch).distribution();
  if (method === 'wasserstein') {
    const distance = weightedWasserstein(r.values, r.cdf, c.values, c.cdf);
    const std = ref.std ?? 0;
    return { value: distance / Math.max(std, WASSERSTEIN_NORM_FLOOR), statistic: distance, note: APPROXIMATE };
  }
  if (method === 'ks') {
    const d = weightedKs(r.values, r.cdf, c.values, c.cdf);
    const [m, n] = ref.count >= cur.count ? [ref.count, cur.count] : [cur.count, ref.count];
    return { value: kolmogorovSf(Math.round((m * n) / (m + n)), d), statistic: d, note: `${APPROXIMATE}; asymptotic p-value` };
  }
  const rh = ref.histogram, ch = cur.histogram;
  const sameBins = rh && ch && rh.edges.length === ch.edges.length && rh.edges.every((e, i) => e === ch.edges[i]);
  if (!rh || !ch || !sameBins) {
    return { value: NaN, note: 'the window profile was not binned on the reference`s histogram edges (build it with { reference })' };
  }
  // Values beyond the reference's range are bins of their own (empty in the reference).
  const refCounts = Float64Array.from([rh.below, ...rh.counts, rh.above]);
  const curCounts = Float64Array.from([ch.below, ...ch.counts, ch.above]);
  const score = countScore(method, refCounts, curCounts);
  return rh.approximate ? { ...score, note: 'reference histogram counts were estimated from its sketch' } : score;
}

/** ∫|F(x) − G(x)| dx between two step CDFs given at their ascending support points. */
function weightedWasserstein(xs: Float64Array, fx: Float64Array, ys: Float64Array, gy: Float64Array): number {
  let i = 0, j = 0, f = 0, g = 0, sum = 0;
  let prev = Math.min(xs[0], ys[0]);
  while (i < xs.length || j < ys.length) {
    const v = j >= ys.length || (i < xs.length && xs[i] <= ys[j]) ? xs[i] : ys[j];
    sum += Math.abs(f - g) * (v - prev);
    while (i < xs.length && xs[i] === v) f = fx[i++];
    while (j < ys.length && ys[j] === v) g = gy[j++];
    prev = v;
  }
  return sum;
}

/** sup |F − G| between two step CDFs. */
function weightedKs(xs: Float64Array, fx: Float64Array, ys: Float64Array, gy: Float64Array): number {
  let i = 0, j = 0, f = 0, g = 0, d = 0;
  while (i < xs.length && j < ys.length) {
    const v = xs[i] <= ys[j] ? xs[i] : ys[j];
    while (i < xs.length && xs[i] === v) f = fx[i++];
    while (j < ys.length && ys[j] === v) g = gy[j++];
    d = Math.max(d, Math.abs(f - g));
  }
  return d;
}

function distinctAtMost(n: NumericProfile, limit: number): boolean {
  return new Set(n.sketch.levels.flat()).size <= limit;
}

function alignCategories(ref: FeatureProfile, cur: FeatureProfile): [Float64Array, Float64Array, boolean] {
  const rc = ref.categories?.counts ?? {}, cc = cur.categories?.counts ?? {};
  const keys = [...new Set([...Object.keys(rc), ...Object.keys(cc)])];
  const r = keys.map((k) => rc[k] ?? 0), c = keys.map((k) => cc[k] ?? 0);
  const truncated = Boolean(ref.categories?.truncated || cur.categories?.truncated);
  if (truncated) {
    r.push(ref.categories?.other ?? 0);
    c.push(cur.categories?.other ?? 0);
  }
  return [Float64Array.from(r), Float64Array.from(c), truncated];
}

function present(f: FeatureProfile): number {
  return f.rows - f.missing;
}

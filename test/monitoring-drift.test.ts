// Drift of a window against a reference with Evidently's defaults. Expected values from scipy 1.17 (the
// `sample` generator is in monitoring-data.ts, with its Python port), e.g.:
//   stats.ks_2samp(sample(3, 300), sample(4, 200, 0.1, 1.2)).pvalue                      # 0.03996613576617748
//   stats.wasserstein_distance(a, b) / max(np.std(a), 0.001)  # a = sample(40, 2000), b = sample(41, 5000, 0.1)
//   distance.jensenshannon([1200/2000, 600/2000, 200/2000], [500/1000, 400/1000, 100/1000])
//   stats.chisquare([40, 50, 30], np.array([300, 200, 100]) * 120 / 600).pvalue
import { describe, expect, it } from 'vitest';
import { FlywheelError } from '../src/core/errors.js';
import { detectDrift, prepareReference } from '../src/monitoring/index.js';
import { sample } from './monitoring-data.js';

const repeat = (counts: Record<string, number>) => Object.entries(counts).flatMap(([v, c]) => Array<string>(c).fill(v));
const numbers = (counts: Record<number, number>) => Float64Array.from(Object.entries(counts).flatMap(([v, c]) => Array<number>(c).fill(Number(v))));

describe('default methods (Evidently: size- and type-aware)', () => {
  it('numeric, reference ≤ 1000 rows: KS p-value < 0.05', () => {
    const report = detectDrift(prepareReference({ x: sample(3, 300) }), { x: sample(4, 200, 0.1, 1.2) });
    expect(report.features[0]).toMatchObject({ feature: 'x', type: 'numeric', method: 'ks', score: 'p_value', threshold: 0.05, status: 'drift', drifted: true });
    expect(report.features[0].value).toBeCloseTo(0.03996613576617748, 12);
    expect(report.features[0].statistic).toBeCloseTo(0.12666666666666668, 12);
  });

  it('numeric, reference > 1000 rows: Wasserstein normed by the reference std ≥ 0.1', () => {
    const report = detectDrift(prepareReference({ x: sample(40, 2000) }), { x: sample(41, 5000, 0.1) });
    expect(report.features[0]).toMatchObject({ method: 'wasserstein', score: 'distance', threshold: 0.1, status: 'drift' });
    expect(report.features[0].value).toBeCloseTo(0.18474013558400026, 12);
  });

  it('categorical, reference ≤ 1000 rows: chi-square of current counts against scaled reference proportions', () => {
    const report = detectDrift(prepareReference({ c: repeat({ a: 300, b: 200, c: 100 }) }), { c: repeat({ a: 40, b: 50, c: 30 }) });
    expect(report.features[0]).toMatchObject({ type: 'categorical', method: 'chisquare', status: 'drift' });
    expect(report.features[0].value).toBeCloseTo(0.0008389719092096416, 10);
  });

  it('categorical, reference > 1000 rows: Jensen–Shannon distance (natural log) ≥ 0.1', () => {
    const report = detectDrift(prepareReference({ c: repeat({ a: 1200, b: 600, c: 200 }) }), { c: repeat({ a: 500, b: 400, c: 100 }) });
    expect(report.features[0]).toMatchObject({ method: 'jensenshannon', status: 'no_drift', drifted: false });
    expect(report.features[0].value).toBeCloseTo(0.0765476629076519, 12);
  });

  it('numbers with at most 5 distinct values are compared as categories', () => {
    const small = detectDrift(prepareReference({ k: numbers({ 1: 100, 2: 100, 3: 100 }) }), { k: numbers({ 1: 30, 2: 50, 3: 20 }) });
    expect(small.features[0]).toMatchObject({ type: 'numeric', method: 'chisquare', status: 'drift' });
    expect(small.features[0].value).toBeCloseTo(0.0009118819655545164, 10);
    const large = detectDrift(prepareReference({ k: numbers({ 1: 1000, 2: 1000, 3: 1000 }) }), { k: numbers({ 1: 10, 2: 60, 3: 30 }) });
    expect(large.features[0]).toMatchObject({ method: 'jensenshannon', status: 'drift' });
    expect(large.features[0].value).toBeCloseTo(0.22998278165663102, 12);
  });

  it('booleans are categories', () => {
    const ref = prepareReference({ b: [...Array(600).fill(true), ...Array(400).fill(false)] });
    const report = detectDrift(ref, { b: [...Array(50).fill(true), ...Array(50).fill(false)] });
    expect(report.features[0]).toMatchObject({ type: 'boolean', method: 'chisquare' });
  });
});

describe('overrides and dataset drift', () => {
  const reference = prepareReference({ a: sample(15, 2000), b: sample(50, 2000), c: sample(52, 2000), pred: sample(54, 2000) });
  const current = { a: sample(16, 1500, 0.3), b: sample(51, 1500), c: sample(53, 1500, 0.5), pred: sample(55, 1500, 1) };

  it('a per-feature method and threshold replace the default; PSI bins as Evidently does', () => {
    const report = detectDrift(reference, current, { perFeature: { a: { method: 'psi' }, b: { threshold: 0.5 } } });
    const [a, b] = report.features;
    // rp, cp = get_binned_data(sample(15, 2000), sample(16, 1500, 0.3), 'num', 30); np.sum((rp - cp) * np.log(rp / cp))
    expect(a).toMatchObject({ method: 'psi', threshold: 0.1, status: 'drift' });
    expect(a.value).toBeCloseTo(0.3955245172620784, 10);
    expect(b).toMatchObject({ method: 'wasserstein', threshold: 0.5 });
  });

  it('a per-type choice applies to every feature of that type', () => {
    const report = detectDrift(reference, current, { numeric: { method: 'ks', threshold: 0.01 } });
    expect(report.features.every((f) => f.method === 'ks' && f.threshold === 0.01)).toBe(true);
  });

  it('a per-feature threshold keeps the per-type method; a per-feature method drops the per-type threshold', () => {
    const report = detectDrift(reference, current, { numeric: { method: 'psi', threshold: 0.3 }, perFeature: { a: { threshold: 0.5 }, b: { method: 'ks' } } });
    const [a, b, c] = report.features;
    expect(a).toMatchObject({ method: 'psi', threshold: 0.5 });
    expect(b).toMatchObject({ method: 'ks', threshold: 0.05 });
    expect(c).toMatchObject({ method: 'psi', threshold: 0.3 });
  });

  it('the dataset drifts when at least half the evaluated features do; the prediction is reported apart', () => {
    const report = detectDrift(reference, current, { prediction: 'pred' });
    expect(report.features.map((f) => f.feature)).toEqual(['a', 'b', 'c']);
    expect(report.features.map((f) => f.drifted)).toEqual([true, false, true]);
    expect(report).toMatchObject({ evaluatedFeatures: 3, driftedFeatures: 2, driftShareThreshold: 0.5, datasetDrift: true });
    expect(report.driftShare).toBeCloseTo(2 / 3, 12);
    expect(report.prediction).toMatchObject({ feature: 'pred', status: 'drift' });
    expect(detectDrift(reference, current, { prediction: 'pred', driftShare: 0.7 }).datasetDrift).toBe(false);
  });

  it('invalid options fail with INVALID_PARAMETER_VALUE; a method that needs numbers on categories is an error status', () => {
    const bad = (options: object) => () => detectDrift(reference, current, options);
    expect(bad({ numeric: { method: 'ttest' } })).toThrow(FlywheelError);
    expect(bad({ perFeature: { a: { threshold: -1 } } })).toThrow(/threshold/);
    expect(bad({ driftShare: 2 })).toThrow(/driftShare/);
    const cat = detectDrift(prepareReference({ c: ['x', 'y'] }), { c: ['x', 'x'] }, { categorical: { method: 'ks' } });
    expect(cat.features[0]).toMatchObject({ status: 'error', drifted: false, value: null });
  });
});

describe('bad data is reported, never thrown or NaN', () => {
  const reference = prepareReference({ x: sample(60, 500), c: repeat({ a: 50, b: 50 }), k: new Float64Array(2000).fill(3) });

  it('an empty window is "no data"', () => {
    const report = detectDrift(reference, { x: new Float64Array(0), c: [] });
    expect(report).toMatchObject({ status: 'no_data', currentRows: 0, evaluatedFeatures: 0, driftShare: null, datasetDrift: false });
    expect(report.features.every((f) => f.status === 'no_data' && f.value === null)).toBe(true);
    expect(detectDrift(reference, {}).status).toBe('no_data');
  });

  it('a feature absent from the window is "missing" and not counted in the share', () => {
    const report = detectDrift(reference, { x: sample(61, 100) });
    expect(report.features.find((f) => f.feature === 'c')).toMatchObject({ status: 'missing', drifted: false });
    expect(report.evaluatedFeatures).toBe(1);
  });

  it('null, NaN and ±Infinity are missing values, counted and shared; all-missing is "no data"', () => {
    const x = Float64Array.from(sample(61, 100), (v, i) => (i % 4 === 0 ? NaN : i % 4 === 1 ? Infinity : v));
    const c = Array.from({ length: 10 }, (_, i) => (i < 5 ? null : i < 8 ? 'a' : 'b'));
    const report = detectDrift(reference, { x, c, k: [null, undefined, NaN] });
    const [fx, fc, fk] = report.features;
    expect(fx).toMatchObject({ currentCount: 50, currentMissing: 50, currentMissingShare: 0.5 });
    expect(fc).toMatchObject({ currentCount: 5, currentMissing: 5, currentMissingShare: 0.5, method: 'chisquare' });
    expect(fk).toMatchObject({ status: 'no_data', currentMissing: 3 });
    expect(Number.isFinite(fx.value) && Number.isFinite(fc.value)).toBe(true);
  });

  it('a constant reference: Wasserstein is normed by Evidently`s 0.001 floor, with a note', () => {
    const k = detectDrift(reference, { k: numbers({ 3: 90, 4: 10 }) }).features.find((f) => f.feature === 'k');
    // 2,000 values of 3 have one distinct value: compared as a category with Jensen–Shannon (reference > 1000).
    expect(k).toMatchObject({ method: 'jensenshannon', status: 'drift' });
    const forced = detectDrift(reference, { k: numbers({ 3: 90, 4: 10 }) }, { perFeature: { k: { method: 'wasserstein' } } }).features[2];
    expect(forced).toMatchObject({ method: 'wasserstein', status: 'drift', statistic: expect.closeTo(0.1, 12) });
    expect(forced.value).toBeCloseTo(100, 9);
    expect(forced.note).toMatch(/floor/);
    const same = detectDrift(reference, { k: new Float64Array(50).fill(3) }, { perFeature: { k: { method: 'wasserstein' } } }).features[2];
    expect(same).toMatchObject({ value: 0, status: 'no_drift' });
  });

  it('a category never seen in the reference drives chi-square to p = 0 with a note, not Infinity in the report', () => {
    const f = detectDrift(reference, { c: ['a', 'b', 'z'] }).features.find((x) => x.feature === 'c');
    expect(f).toMatchObject({ method: 'chisquare', value: 0, statistic: null, status: 'drift' });
    expect(f?.note).toMatch(/absent from the reference/);
    expect(JSON.parse(JSON.stringify(f))).toEqual(f);
  });

  it('strings in a numeric column are counted as missing, with a note', () => {
    const x = [...Array.from(sample(63, 60)), 'n/a', 'n/a'];
    const f = detectDrift(reference, { x }).features[0];
    expect(f).toMatchObject({ currentCount: 60, currentMissing: 2, method: 'ks' });
    expect(f.note).toMatch(/2 current values are not numbers/);
    expect(detectDrift(reference, { x: ['a', 'b'] }).features[0]).toMatchObject({ status: 'no_data', note: expect.stringMatching(/not numbers.*every current value is missing/) });
  });

  it('rows given as objects compare the same as columns', async () => {
    const { columnsFromRows } = await import('../src/monitoring/index.js');
    const rows = Array.from(sample(62, 200), (v, i) => ({ x: i % 10 === 0 ? null : v, c: i % 3 ? 'a' : 'b' }));
    const report = detectDrift(reference, columnsFromRows(rows));
    expect(report.features[0]).toMatchObject({ currentCount: 180, currentMissing: 20, method: 'ks' });
  });
});

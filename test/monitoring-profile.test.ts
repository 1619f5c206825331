// Profiles: one-pass, JSON-serializable, mergeable summaries. Exact fields (counts, sums, min/max, histogram and
// category counts) must merge exactly and associatively; mean/std by Chan's formula to rounding; quantiles come
// from a KLL sketch and must stay within its error bound (≈ 1.65 % of n at k = 200) whatever the merge order.
import { describe, expect, it } from 'vitest';
import { FlywheelError } from '../src/core/errors.js';
import { ProfileBuilder, mergeProfiles, profileColumns, profileRows, type DatasetProfile } from '../src/monitoring/index.js';
import { sample } from './monitoring-data.js';


/** Share of values ≤ v in sorted data: the true rank of a sketch's answer. */
function rankOf(sorted: Float64Array, v: number): number {
  let lo = 0, hi = sorted.length;
  while (lo < hi) {
    const m = (lo + hi) >> 1;
    if (sorted[m] <= v) lo = m + 1;
    else hi = m;
  }
  return lo / sorted.length;
}

const N = 30000;
const amount = Float64Array.from(sample(1, N, 50, 20), (v, i) => (i % 50 === 0 ? NaN : v));
const country = Array.from(sample(2, N), (v, i) => (i % 100 === 0 ? null : v < -0.5 ? 'de' : v < 0.4 ? 'fr' : 'us'));
const flag = Array.from(sample(3, N), (v) => v > 0);
const prediction = sample(4, N, 0.5, 0.2);
const columns = { amount, country, flag, prediction };
const present = Float64Array.from(amount.filter((v) => !Number.isNaN(v))).sort();

describe('profileColumns', () => {
  const profile = profileColumns(columns, { prediction: 'prediction' });

  it('infers types and counts missing values', () => {
    expect(profile.rows).toBe(N);
    expect(profile.prediction).toBe('prediction');
    expect(profile.features.amount).toMatchObject({ type: 'numeric', rows: N, missing: N / 50, missingShare: 0.02 });
    expect(profile.features.country).toMatchObject({ type: 'categorical', missing: N / 100 });
    expect(profile.features.flag.type).toBe('boolean');
    expect(profile.features.prediction.type).toBe('numeric');
  });

  it('numeric summaries match the data; quantiles within the sketch`s error', () => {
    const n = profile.features.amount.numeric!;
    const mean = present.reduce((s, v) => s + v, 0) / present.length;
    const std = Math.sqrt(present.reduce((s, v) => s + (v - mean) ** 2, 0) / present.length);
    expect(n.count).toBe(present.length);
    expect(n.mean).toBeCloseTo(mean, 9);
    expect(n.std).toBeCloseTo(std, 9);
    expect(n.min).toBe(present[0]);
    expect(n.max).toBe(present[present.length - 1]);
    for (const [key, q] of [['p01', 0.01], ['p25', 0.25], ['p50', 0.5], ['p95', 0.95], ['p99', 0.99]] as const) {
      expect(Math.abs(rankOf(present, n.quantiles[key]!) - q)).toBeLessThan(0.0165);
    }
  });

  it('histogram on the column`s deciles with exact counts; categories and booleans counted', () => {
    const h = profile.features.amount.numeric!.histogram!;
    expect(h.approximate).toBe(false);
    expect(h.edges).toHaveLength(11);
    expect(h.counts.reduce((s, c) => s + c, 0)).toBe(present.length);
    h.counts.forEach((c, i) => {
      const inBin = present.filter((v) => v >= h.edges[i] && (i === h.counts.length - 1 ? v <= h.edges[i + 1] : v < h.edges[i + 1])).length;
      expect(c).toBe(inBin);
      expect(Math.abs(c / present.length - 0.1)).toBeLessThan(0.02);
    });
    const counts = profile.features.country.categories!.counts;
    expect(counts.de + counts.fr + counts.us).toBe(N - N / 100);
    expect(counts.de).toBe(country.filter((c) => c === 'de').length);
    expect(profile.features.flag.categories!.counts.true).toBe(flag.filter(Boolean).length);
  });

  it('is plain JSON (no NaN, no Infinity, no class instances)', () => {
    expect(JSON.parse(JSON.stringify(profile))).toEqual(profile);
    const empty = profileColumns({ x: new Float64Array([NaN, NaN]) });
    expect(empty.features.x).toMatchObject({ missing: 2, numeric: { count: 0, mean: null, std: null, min: null, max: null, histogram: null } });
    expect(JSON.parse(JSON.stringify(empty))).toEqual(empty);
  });
});

describe('ProfileBuilder (streaming)', () => {
  it('rows one by one give the same exact fields as columns', () => {
    const rows = Array.from({ length: 2000 }, (_, i) => ({ amount: Number.isNaN(amount[i]) ? null : amount[i], country: country[i], flag: flag[i] }));
    const streamed = new ProfileBuilder();
    for (const r of rows) streamed.addRow(r);
    const s = streamed.toProfile();
    const batch = profileRows(rows);
    expect(s.rows).toBe(2000);
    for (const name of ['amount', 'country', 'flag']) {
      expect(s.features[name].missing).toBe(batch.features[name].missing);
      expect(s.features[name].categories).toEqual(batch.features[name].categories);
    }
    expect(s.features.amount.numeric!.mean).toBeCloseTo(batch.features.amount.numeric!.mean!, 12);
    // Streamed, the reference's own bins come last: counts estimated from the sketch and marked so.
    expect(s.features.amount.numeric!.histogram!.approximate).toBe(true);
  });

  it('a column first seen late, or absent from some rows, is missing there; wrong types are missing and counted', () => {
    const p = new ProfileBuilder().addRow({ a: 1 }).addRow({ a: 2, b: 'x' }).addRow({ a: 'oops', b: 'y' }).addRow({}).toProfile();
    expect(p.features.a).toMatchObject({ rows: 4, missing: 2, typeMismatch: 1, numeric: { count: 2 } });
    expect(p.features.b).toMatchObject({ rows: 4, missing: 2, categories: { counts: { x: 1, y: 1 } } });
  });

  it('a schema overrides inference (integer codes as categories); bins from a reference profile are used', () => {
    const reference = profileColumns({ amount: amount.subarray(0, 10000) });
    const p = new ProfileBuilder({ schema: { code: 'categorical' }, reference }).addColumns({ code: Float64Array.of(1, 2, 2), amount: Float64Array.of(-1000, 50, 1000) }).toProfile();
    expect(p.features.code.categories!.counts).toEqual({ 1: 1, 2: 2 });
    const h = p.features.amount.numeric!.histogram!;
    expect(h.edges).toEqual(reference.features.amount.numeric!.histogram!.edges);
    expect(h).toMatchObject({ below: 1, above: 1, approximate: false });
    expect(h.counts.reduce((s, c) => s + c, 0)).toBe(1);
  });

  it('categories stay bounded: the least frequent fold into "other"', () => {
    const values = Array.from({ length: 5000 }, (_, i) => (i % 2 ? 'common' : `rare-${i}`));
    const p = new ProfileBuilder({ maxCategories: 10 }).addColumns({ c: values }).toProfile();
    const c = p.features.c.categories!;
    expect(Object.keys(c.counts)).toHaveLength(10);
    expect(c.counts.common).toBe(2500);
    expect(c.truncated).toBe(true);
    expect(Object.values(c.counts).reduce((s, x) => s + x, 0) + c.other).toBe(5000);
  });
});

describe('mergeProfiles', () => {
  const reference = profileColumns(columns);
  const window = (from: number, to: number) =>
    new ProfileBuilder({ reference }).addColumns({ amount: amount.subarray(from, to), country: country.slice(from, to), flag: flag.slice(from, to) }).toProfile();
  const a = window(0, 7000), b = window(7000, 19000), c = window(19000, N);
  const whole = window(0, N);

  const exactFields = (p: DatasetProfile) => ({
    rows: p.rows,
    missing: Object.values(p.features).map((f) => f.missing),
    count: p.features.amount.numeric!.count,
    min: p.features.amount.numeric!.min,
    max: p.features.amount.numeric!.max,
    histogram: p.features.amount.numeric!.histogram,
    country: p.features.country.categories,
    flag: p.features.flag.categories,
  });

  it('is associative in its exact fields and equal to profiling the whole', () => {
    const left = mergeProfiles(mergeProfiles(a, b), c);
    const right = mergeProfiles(a, mergeProfiles(b, c));
    expect(exactFields(left)).toEqual(exactFields(right));
    expect(exactFields(left)).toEqual(exactFields(whole));
    for (const p of [left, right]) {
      expect(p.features.amount.numeric!.mean).toBeCloseTo(whole.features.amount.numeric!.mean!, 9);
      expect(p.features.amount.numeric!.std).toBeCloseTo(whole.features.amount.numeric!.std!, 9);
      expect(p.features.amount.numeric!.sum).toBeCloseTo(whole.features.amount.numeric!.sum, 6);
    }
  });

  it('keeps quantiles within the sketch`s error in either merge order', () => {
    for (const p of [mergeProfiles(mergeProfiles(a, b), c), mergeProfiles(a, mergeProfiles(b, c)), mergeProfiles(c, mergeProfiles(a, b))]) {
      const q = p.features.amount.numeric!.quantiles;
      for (const [key, target] of [['p05', 0.05], ['p50', 0.5], ['p95', 0.95]] as const) {
        expect(Math.abs(rankOf(present, q[key]!) - target)).toBeLessThan(0.0165);
      }
    }
  });

  it('a column in one profile only is missing in the other; numeric against categorical is refused', () => {
    const onlyA = profileColumns({ x: Float64Array.of(1, 2, 3) });
    const onlyB = profileColumns({ y: ['a', 'b'] });
    const m = mergeProfiles(onlyA, onlyB);
    expect(m.features.x).toMatchObject({ rows: 5, missing: 2, numeric: { count: 3, min: 1, max: 3 } });
    expect(m.features.y).toMatchObject({ rows: 5, missing: 3, categories: { counts: { a: 1, b: 1 } } });
    expect(() => mergeProfiles(onlyA, profileColumns({ x: ['a'] }))).toThrow(FlywheelError);
  });
});

// Drift from profiles: exact where profiles keep exact counts (categories, histogram bins), approximate (and
// marked so) where it reads the quantile sketches (Wasserstein, KS).
import { describe, expect, it } from 'vitest';
import { detectDrift, detectDriftFromProfiles, mergeProfiles, prepareReference, ProfileBuilder, profileColumns, psi } from '../src/monitoring/index.js';
import { sample } from './monitoring-data.js';

const cats = (seed: number, n: number, cut: number) => Array.from(sample(seed, n), (v) => (v < -cut ? 'x' : v < cut ? 'y' : 'z'));

const refColumns = { amount: sample(1, 20000, 10, 3), kind: cats(2, 20000, 0.5), code: Float64Array.from(sample(3, 20000), (v) => (v < 0 ? 1 : v < 0.5 ? 2 : 3)) };
const curColumns = { amount: sample(4, 30000, 10.6, 3), kind: cats(5, 30000, 0.3), code: Float64Array.from(sample(6, 30000), (v) => (v < 0 ? 1 : v < 0.5 ? 2 : 3)) };
const refProfile = profileColumns(refColumns);
const curProfile = (() => {
  // Two window profiles merged, as hourly windows combine into a day.
  const half = 15000;
  const part = (from: number, to: number) => new ProfileBuilder({ reference: refProfile }).addColumns({
    amount: curColumns.amount.subarray(from, to), kind: curColumns.kind.slice(from, to), code: curColumns.code.subarray(from, to),
  }).toProfile();
  return mergeProfiles(part(0, half), part(half, 30000));
})();

describe('detectDriftFromProfiles', () => {
  const fromRaw = detectDrift(prepareReference(refColumns), curColumns);
  const fromProfiles = detectDriftFromProfiles(refProfile, curProfile);
  const byName = (r: typeof fromRaw, n: string) => r.features.find((f) => f.feature === n)!;

  it('categories: the same Jensen–Shannon distance as on raw rows (profiles count them exactly)', () => {
    expect(byName(fromProfiles, 'kind')).toMatchObject({ method: 'jensenshannon', status: byName(fromRaw, 'kind').status });
    expect(byName(fromProfiles, 'kind').value).toBeCloseTo(byName(fromRaw, 'kind').value!, 12);
  });

  it('numbers with few values: one bin per value, the same as counting them raw', () => {
    expect(byName(fromProfiles, 'code')).toMatchObject({ method: 'jensenshannon' });
    expect(byName(fromProfiles, 'code').value).toBeCloseTo(byName(fromRaw, 'code').value!, 12);
  });

  it('Wasserstein and KS from sketches are close to the exact values and say they are approximate', () => {
    const w = byName(fromProfiles, 'amount');
    expect(w).toMatchObject({ method: 'wasserstein', status: 'drift' });
    expect(w.note).toMatch(/approximate/);
    expect(Math.abs(w.value! - byName(fromRaw, 'amount').value!)).toBeLessThan(0.02);
    const ks = detectDriftFromProfiles(refProfile, curProfile, { numeric: { method: 'ks' } }).features[0];
    const exact = detectDrift(prepareReference(refColumns), curColumns, { numeric: { method: 'ks' } }).features[0];
    expect(Math.abs(ks.statistic! - exact.statistic!)).toBeLessThan(0.03);
    expect(ks.status).toBe(exact.status);
  });

  it('PSI on the reference`s decile bins equals PSI of the raw shares in those bins, out-of-range values in bins of their own', () => {
    const f = detectDriftFromProfiles(refProfile, curProfile, { perFeature: { amount: { method: 'psi' } } }).features[0];
    const edges = refProfile.features.amount.numeric!.histogram!.edges;
    const shares = (values: Float64Array) => {
      const counts = new Array(edges.length + 1).fill(0);
      for (const v of values) {
        if (v < edges[0]) counts[0]++;
        else if (v > edges[edges.length - 1]) counts[edges.length]++;
        else {
          let b = 0;
          while (b < edges.length - 2 && v >= edges[b + 1]) b++;
          counts[b + 1]++;
        }
      }
      return counts.map((c) => c / values.length);
    };
    expect(f).toMatchObject({ method: 'psi', status: 'drift' });
    expect(f.value).toBeCloseTo(psi(shares(refColumns.amount), shares(curColumns.amount)), 12);
  });

  it('empty windows, absent columns and mismatched types are reported, not thrown', () => {
    expect(detectDriftFromProfiles(refProfile, new ProfileBuilder().toProfile())).toMatchObject({ status: 'no_data', evaluatedFeatures: 0, datasetDrift: false });
    const partial = detectDriftFromProfiles(refProfile, profileColumns({ amount: curColumns.amount }));
    expect(byName(partial, 'kind').status).toBe('missing');
    const mismatch = detectDriftFromProfiles(refProfile, profileColumns({ amount: ['a', 'b'] }));
    expect(byName(mismatch, 'amount').status).toBe('error');
  });
});

// Drift statistics against scipy 1.17. Expected numbers come from scratch scripts like this one (the generator
// is `sample` in monitoring-data.ts, ported):
//
//   import numpy as np; from scipy import stats; from scipy.spatial import distance
//   def minstd(seed, n):
//       s = seed; out = []
//       for _ in range(n): s = (s * 48271) % 2147483647; out.append(s / 2147483647)
//       return out
//   def sample(seed, n, shift=0.0, scale=1.0):
//       u = minstd(seed, 4 * n)
//       return np.array([(u[4*i] + u[4*i+1] + u[4*i+2] + u[4*i+3] - 2) * scale + shift for i in range(n)])
//   stats.ks_2samp(sample(3, 300), sample(4, 200, 0.1, 1.2), method='auto')   # and so on, case by case below
import { describe, expect, it } from 'vitest';
import { chiSquareAgainstReference, chiSquareTest } from '../src/monitoring/stats/chisquare.js';
import { histogramSorted, sturgesEdges } from '../src/monitoring/stats/histogram.js';
import { jensenShannonDistance } from '../src/monitoring/stats/jensen-shannon.js';
import { kolmogorovSf } from '../src/monitoring/stats/kolmogorov.js';
import { ksTwoSample } from '../src/monitoring/stats/ks.js';
import { fillEmptyShares, psi } from '../src/monitoring/stats/psi.js';
import { sortedFinite, sortFloat64 } from '../src/monitoring/stats/sort.js';
import { populationStd, wassersteinDistance, wassersteinNormed } from '../src/monitoring/stats/wasserstein.js';
import { sample } from './monitoring-data.js';

const sorted = (v: ArrayLike<number>) => sortedFinite(Array.from(v));
const ks = (a: ArrayLike<number>, b: ArrayLike<number>) => ksTwoSample(sorted(a), sorted(b));

const SMALL_A = [0.61, 0.29, 0.06, 0.59, -1.73, -0.74, 0.51, -0.56, 0.39, 1.64, 0.05, -0.06, 0.64, -0.82, 0.37, 1.77, 1.09, -1.28, 2.36, 1.31, 1.05, -0.52, -0.74, -1.2, 0.86];
const SMALL_B = [1.16, 0.49, 1.77, 1.26, 1.64, 0.25, 0.29, 2.45, 0.9, 1.74, 0.7, -0.74, 1.38, 1.07, 0.05, 1.9, 0.84];
const TIES_A = [1, 1, 2, 2, 3, 3, 3, 4];
const TIES_B = [2, 3, 3, 4, 4, 5, 5, 5, 6];

describe('two-sample Kolmogorov–Smirnov (scipy.stats.ks_2samp, method="auto")', () => {
  const cases: [string, () => [ArrayLike<number>, ArrayLike<number>], number, number, 'exact' | 'asymp'][] = [
    ['25 × 17 values', () => [SMALL_A, SMALL_B], 0.4258823529411765, 0.03541338122551594, 'exact'],
    ['ties', () => [TIES_A, TIES_B], 0.5416666666666666, 0.10941999177293293, 'exact'],
    ['equal sizes 400 × 400', () => [sample(1, 400), sample(2, 400, 0.15)], 0.105, 0.02424717195471133, 'exact'],
    ['300 × 200', () => [sample(3, 300), sample(4, 200, 0.1, 1.2)], 0.12666666666666668, 0.03996613576617748, 'exact'],
    ['1,000 × 10,000 (largest exact)', () => [sample(5, 1000), sample(6, 10000, 0.05)], 0.0374, 0.15397131168024833, 'exact'],
    ['identical', () => [[1, 2, 3], [1, 2, 3]], 0, 1, 'exact'],
    ['disjoint 50 × 50', () => [sample(11, 50), sample(12, 50, 3)], 1, 1.9823306042836678e-29, 'exact'],
    ['800 × 12,000 (asymptotic)', () => [sample(7, 800), sample(8, 12000, 0.08)], 0.10966666666666669, 2.6042324812966205e-8, 'asymp'],
    ['500 × 15,000 (asymptotic)', () => [sample(18, 500), sample(19, 15000, 0.04)], 0.04406666666666664, 0.2954800817522536, 'asymp'],
    ['5,000 × 20,000 (asymptotic, Pelz–Good)', () => [sample(20, 5000), sample(21, 20000, 0.02)], 0.013999999999999901, 0.4094230202722612, 'asymp'],
    ['800 × 12,000, p ≈ 1e-104', () => [sample(9, 800), sample(10, 12000, 0.6)], 0.39108333333333334, 7.633459736950766e-104, 'asymp'],
  ];
  for (const [name, data, statistic, pValue, method] of cases) {
    it(name, () => {
      const [a, b] = data();
      const r = ks(a, b);
      expect(r.method).toBe(method);
      expect(r.statistic).toBeCloseTo(statistic, 12);
      expect(Math.abs(r.pValue - pValue)).toBeLessThanOrEqual(1e-9 * pValue + 1e-12);
      // Symmetric in its arguments.
      expect(ks(b, a).pValue).toBeCloseTo(r.pValue, 12);
    });
  }

  it('kstwo.sf over its branches (Ruben–Gambino, Durbin, Pelz–Good, Smirnov)', () => {
    // stats.kstwo.sf(x, n)
    const cases: [number, number, number][] = [
      [10, 0.08, 0.9999978058034054], [10, 0.12, 0.9948566839762616], [10, 0.3, 0.27053557479999946],
      [140, 0.1, 0.11353657290090946], [141, 0.05, 0.854845693009663], [1000, 0.03, 0.3226902143914636],
      [1000, 0.06, 0.001428597887952891], [90909, 0.003, 0.3857468564468999], [200000, 0.001, 0.9881500208855729],
    ];
    for (const [n, x, sf] of cases) expect(Math.abs(kolmogorovSf(n, x) - sf)).toBeLessThanOrEqual(1e-9 * sf + 1e-13);
  });

  it('an empty sample gives NaN, not an exception', () => {
    const r = ksTwoSample(new Float64Array(0), sorted([1, 2]));
    expect(Number.isNaN(r.statistic) && Number.isNaN(r.pValue)).toBe(true);
  });
});

describe('Wasserstein distance (scipy.stats.wasserstein_distance)', () => {
  it('matches scipy on small samples, with ties, and on generated data; normed by the reference std as Evidently does', () => {
    expect(wassersteinDistance(sorted(SMALL_A), sorted(SMALL_B))).toBeCloseTo(0.7712235294117646, 12);
    expect(wassersteinDistance(sorted(TIES_A), sorted(TIES_B))).toBeCloseTo(1.7361111111111112, 12);
    const a = sorted(sample(13, 5000)), b = sorted(sample(14, 3000, 0.2, 1.5));
    expect(wassersteinDistance(a, b)).toBeCloseTo(0.28164848511334595, 12);
    // stats.wasserstein_distance(a, b) / max(np.std(a), 0.001)
    expect(wassersteinNormed(a, b)).toBeCloseTo(0.49206474256642807, 12);
  });

  it('a constant reference is normed by the 0.001 floor instead of dividing by zero', () => {
    expect(populationStd([2, 2, 2])).toBe(0);
    expect(wassersteinNormed(sorted([2, 2, 2]), sorted([2, 2, 3]))).toBeCloseTo(1 / 3 / 0.001, 9);
  });
});

describe('PSI (Evidently: Sturges bins over both samples, empty bins filled)', () => {
  it('matches Evidently`s get_binned_data + psi on numbers', () => {
    // rp, cp = get_binned_data(a, b) (numpy port in the scratch script); np.sum((rp - cp) * np.log(rp / cp))
    const check = (a: Float64Array, b: Float64Array, expected: number, bins?: number) => {
      const sa = sorted(a), sb = sorted(b);
      const edges = sturgesEdges(sa.length + sb.length, Math.min(sa[0], sb[0]), Math.max(sa[sa.length - 1], sb[sb.length - 1]));
      if (bins) expect(edges.length - 1).toBe(bins);
      const ref = Array.from(histogramSorted(sa, edges), (c) => c / sa.length);
      const cur = Array.from(histogramSorted(sb, edges), (c) => c / sb.length);
      expect(psi(ref, cur)).toBeCloseTo(expected, 10);
    };
    check(sample(15, 2000), sample(16, 1500, 0.3), 0.3955245172620784, 13);
    check(sample(15, 2000), sample(17, 2000, 0, 0.5), 1.0442280593436855);
  });

  it('fills empty shares like Evidently`s feel_zeroes', () => {
    expect(Array.from(fillEmptyShares([0.5, 0.5, 0]))).toEqual([0.5, 0.5, 0.0001]);
    expect(Array.from(fillEmptyShares([0.99995, 0.00005, 0]))).toEqual([0.99995, 0.00005, 0.00005 / 1e6]);
    expect(psi([0.5, 0.3, 0.2, 0], [0.4, 0.3, 0.2, 0.1])).toBeCloseTo(0.7123991075017365, 12);
  });
});

describe('chi-square (scipy.stats.chisquare)', () => {
  it('matches scipy`s statistic and p-value', () => {
    const cases: [number[], number[], number, number][] = [
      [[18, 22, 35, 25], [20, 25, 30, 25], 1.3933333333333335, 0.7070981764915207],
      [[50, 30, 20], [40, 40, 20], 5.0, 0.0820849986238988],
      [[12, 9, 15, 7, 11, 30, 16], [14.2, 11.1, 13.5, 9.4, 12.0, 20.8, 19.0], 6.143823304923725, 0.40727342274788925],
    ];
    for (const [obs, exp, stat, p] of cases) {
      const r = chiSquareTest(obs, exp);
      expect(r.statistic).toBeCloseTo(stat, 10);
      expect(r.pValue).toBeCloseTo(p, 9);
    }
  });

  it('scales reference counts to the current size as Evidently does', () => {
    // reference counts 400/400/200 (n = 1000), current 50/30/20: f_exp = [40, 40, 20]
    const r = chiSquareAgainstReference([400, 400, 200], [50, 30, 20]);
    expect(r.statistic).toBeCloseTo(5, 12);
    expect(r.pValue).toBeCloseTo(0.0820849986238988, 9);
  });

  it('a category new in the current window is infinitely unlikely; one category has nothing to test', () => {
    expect(chiSquareAgainstReference([10, 10, 0], [5, 5, 1])).toMatchObject({ statistic: Infinity, pValue: 0 });
    expect(chiSquareTest([5], [5])).toEqual({ statistic: 0, pValue: 1, dof: 0 });
  });
});

describe('Jensen–Shannon distance (scipy.spatial.distance.jensenshannon)', () => {
  it('matches scipy, natural log by default, normalising the inputs', () => {
    expect(jensenShannonDistance([0.1, 0.4, 0.5], [0.3, 0.3, 0.4])).toBeCloseTo(0.18035965602712561, 12);
    expect(jensenShannonDistance([1, 0, 3], [0, 2, 2])).toBeCloseTo(0.5220295860189919, 12);
    expect(jensenShannonDistance([0.1, 0.4, 0.5], [0.3, 0.3, 0.4], 2)).toBeCloseTo(0.21663402449519667, 12);
    expect(jensenShannonDistance([0, 0], [1, 1])).toBeNaN();
  });
});

describe('sorting numeric columns', () => {
  it('sorts like Float64Array.sort, dropping missing values', () => {
    for (const data of [sample(30, 50000, 0, 1e3), Float64Array.from(sample(31, 50000), (v) => Math.round(v * 3) + 0), Float64Array.from(sample(32, 50000), (v) => Math.exp(8 * v))]) {
      expect(Array.from(sortFloat64(data.slice()))).toEqual(Array.from(data.slice().sort()));
    }
    expect(Array.from(sortedFinite([3, NaN, -1, null, undefined, Infinity, 2.5, 'x']))).toEqual([-1, 2.5, 3]);
  });
});
